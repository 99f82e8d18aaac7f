"""The OpenAPI schema: valid without a warning, with every error response, field and
parameter described."""

import json
from urllib.parse import quote

import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from rest_framework.renderers import JSONRenderer

from tests.api.conftest import url


@pytest.fixture(scope="module")
def schema() -> dict:
    raw = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(JSONRenderer().render(raw))


def operations(schema: dict):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_the_schema_validates_without_warnings(tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )
    assert (tmp_path / "schema.yml").read_text().startswith("openapi: 3.0.3")


def test_every_endpoint_of_the_design_is_there(schema):
    paths = set(schema["paths"])
    for name in [
        "deals",
        "leads",
        "companies",
        "stages",
        "products",
        "lead-sources",
        "teams",
        "users",
        "targets",
        "snapshots",
    ]:
        assert f"/api/v1/{name}/" in paths
        assert f"/api/v1/{name}/{{id}}/" in paths
    assert {"/api/v1/kpis/", "/api/v1/auth/token/", "/api/v1/deals/{id}/move/"} <= paths
    assert {"/api/v1/leads/{id}/status/", "/api/v1/leads/{id}/convert/"} <= paths
    assert "/api/v1/deals/{id}/history/" in paths
    # DELETE of deals and leads is a soft delete (issue 6)
    assert "delete" in schema["paths"]["/api/v1/deals/{id}/"]
    assert "delete" in schema["paths"]["/api/v1/leads/{id}/"]
    deal = schema["components"]["schemas"]["Deal"]["properties"]
    assert deal["version"]["type"] == "integer"
    assert "409" in schema["paths"]["/api/v1/deals/{id}/"]["put"]["responses"]
    assert "409" in schema["paths"]["/api/v1/deals/{id}/move/"]["post"]["responses"]


def test_every_operation_documents_its_errors(schema):
    error = {"$ref": "#/components/schemas/Error"}
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        label = f"{method.upper()} {path}"
        assert responses["401"]["content"]["application/json"]["schema"] == error, label
        if path in ("/api/v1/kpis/", "/api/v1/trends/"):
            # A scope you may not see is a 404, like one that does not exist: never a 403.
            assert "403" not in responses and "404" in responses, label
        elif path != "/api/v1/auth/token/":
            assert "403" in responses, label
        if "{id}" in path:
            assert "404" in responses, label
        if "requestBody" in operation or any(
            p["in"] == "query" for p in operation.get("parameters", [])
        ):
            bad = responses["400"]["content"]["application/json"]["schema"]
            assert bad == {"oneOf": [{"$ref": "#/components/schemas/ValidationError"}, error]}
        if "requestBody" in operation:
            assert {"413", "415"} <= set(responses), label
        assert all(response["description"] for response in responses.values()), label
    conflicts = {
        ("delete", "/api/v1/companies/{id}/"),
        ("delete", "/api/v1/lead-sources/{id}/"),
        ("delete", "/api/v1/products/{id}/"),
        ("post", "/api/v1/targets/"),
    }
    for method, path in conflicts:
        assert "409" in schema["paths"][path][method]["responses"]


def test_the_error_shapes(schema):
    components = schema["components"]["schemas"]
    assert components["Error"]["required"] == ["detail"]
    validation = components["ValidationError"]
    messages = {"type": "array", "items": {"type": "string"}}
    assert validation["additionalProperties"] == messages
    assert validation["properties"]["non_field_errors"]["type"] == "array"


def test_write_bodies_refuse_unknown_fields(schema):
    components = schema["components"]["schemas"]
    for name in [
        "DealCreateRequest",
        "PatchedDealRequest",
        "DealMoveRequest",
        "LeadCreateRequest",
        "LeadStatusRequest",
        "LeadConvertRequest",
        "CompanyRequest",
        "ProductRequest",
        "LeadSourceRequest",
        "TargetCreateRequest",
        "TargetValueRequest",
    ]:
        assert components[name]["additionalProperties"] is False, name
    assert "created_at" in components["DealCreateRequest"]["properties"]
    assert "created_at" not in components["PatchedDealRequest"]["properties"]


def test_every_field_and_parameter_is_described(schema):
    undescribed = []
    for name, component in schema["components"]["schemas"].items():
        if name.startswith("AuthToken"):  # DRF's own: a username, a password, a token
            continue
        for field, spec in component.get("properties", {}).items():
            if field != "id" and not spec.get("description"):
                undescribed.append(f"{name}.{field}")
    for path, method, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            if not parameter.get("description"):
                undescribed.append(f"{method.upper()} {path} ?{parameter['name']}")
    assert undescribed == []


def test_money_is_a_string_with_two_decimals(schema):
    amount = schema["components"]["schemas"]["Deal"]["properties"]["amount"]
    assert (amount["type"], amount["format"]) == ("string", "decimal")
    assert amount["pattern"] == r"^-?\d{0,12}(?:\.\d{0,2})?$"


@pytest.mark.parametrize("component", ["Deal", "KPI"])
def test_amounts_come_with_their_currency(schema, component):
    currency = schema["components"]["schemas"][component]["properties"]["currency"]
    assert (currency["type"], currency["readOnly"]) == ("string", True)
    assert "ISO 4217" in currency["description"]


@pytest.mark.django_db
def test_the_served_schema_is_the_generated_one(as_user, rep, schema):
    served = as_user(rep).get(url("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert served.status_code == 200
    assert served.json()["paths"].keys() == schema["paths"].keys()


@pytest.mark.django_db
def test_an_unknown_api_url_is_a_json_404(as_user, rep):
    for path in ["/api/v1/nothing/", "/api/v1/deals/1.5/", "/api/v1/deals/a/b/"]:
        response = as_user(rep).get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json"
        assert "detail" in response.json()


@pytest.mark.django_db
def test_the_schema_is_for_signed_in_callers_only(api, rep):
    anonymous = api.get(url("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"
    assert "paths" not in anonymous.content.decode()
    token = api.post(url("api-token"), {"username": "rep", "password": "pw-for-tests-1"})
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    served = api.get(url("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert served.status_code == 200
    assert "/api/v1/deals/" in served.json()["paths"]


@pytest.mark.django_db
def test_the_docs_page_sends_an_anonymous_visitor_to_the_login_page(client, rep):
    for query in ["", "?script="]:  # the page and its start-up script
        response = client.get(url("api-docs") + query)
        assert response.status_code == 302
        assert response["Location"] == "/login/?next=" + quote(url("api-docs") + query)
    client.force_login(rep)
    page = client.get(url("api-docs"))
    assert page.status_code == 200
    assert b"swagger" in page.content.lower()
