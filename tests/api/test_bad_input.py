"""Bad input is a 4xx with a JSON body that says what is wrong, never a 500: malformed
JSON, wrong types, unknown fields, numbers out of range, oversized bodies, garbage query
parameters. Each runs on SQLite and on PostgreSQL (DATABASE_URL)."""

import json

import pytest

from pipeline.models import Deal
from tests.api.conftest import url

pytestmark = pytest.mark.django_db
HUGE = 10**30
BIGINT_PLUS_ONE = 2**63


def post(client, path, raw: str | bytes, content_type="application/json"):
    return client.generic("POST", path, raw, content_type=content_type)


def test_malformed_json_is_a_400(as_user, rep):
    response = post(as_user(rep), url("deal-list"), '{"name": "Acme",')
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


@pytest.mark.parametrize("raw", ['{"name": NaN}', '{"amount": Infinity}', "\xff\xfe"])
def test_non_standard_json_is_a_400(as_user, rep, raw):
    response = post(as_user(rep), url("deal-list"), raw.encode("latin-1"))
    assert response.status_code == 400
    assert "detail" in response.json()


@pytest.mark.parametrize("raw", ["[]", '"a deal"', "42", "null"])
def test_a_body_that_is_not_an_object_is_a_400(as_user, rep, raw):
    response = post(as_user(rep), url("deal-list"), raw)
    assert response.status_code == 400
    assert list(response.json()) in (["non_field_errors"], ["detail"])


def test_a_body_that_is_not_json_is_a_415(as_user, rep):
    response = post(
        as_user(rep), url("deal-list"), "name=Acme", "application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert "detail" in response.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ["a", "list"]}, "name"),
        ({"name": {"an": "object"}}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "nul \x00 byte"}, "name"),
        ({"name": "Ok", "amount": "lots"}, "amount"),
        ({"name": "Ok", "amount": True}, "amount"),
        ({"name": "Ok", "amount": "-1"}, "amount"),
        ({"name": "Ok", "amount": 1e20}, "amount"),
        ({"name": "Ok", "amount": "1e20"}, "amount"),
        ({"name": "Ok", "amount": "0.001"}, "amount"),
        ({"name": "Ok", "stage": "first"}, "stage"),
        ({"name": "Ok", "stage": True}, "stage"),
        ({"name": "Ok", "stage": 1.5}, "stage"),
        ({"name": "Ok", "stage": -1}, "stage"),
        ({"name": "Ok", "stage": 0}, "stage"),
        ({"name": "Ok", "stage": BIGINT_PLUS_ONE}, "stage"),
        ({"name": "Ok", "company": HUGE}, "company"),
        ({"name": "Ok", "company": str(HUGE)}, "company"),
        ({"name": "Ok", "owner": BIGINT_PLUS_ONE}, "owner"),
        ({"name": "Ok", "lead": HUGE}, "lead"),
        ({"name": "Ok", "product": [1]}, "product"),
        ({"name": "Ok", "expected_close_date": "31/02/2026"}, "expected_close_date"),
        ({"name": "Ok", "expected_close_date": "10000-01-01"}, "expected_close_date"),
        ({"name": "Ok", "closed_at": "yesterday"}, "closed_at"),
        ({"name": "Ok", "created_at": "9999-12-31T23:59:59-12:00"}, "created_at"),
    ],
)
def test_wrong_types_and_ranges_are_field_errors(as_user, rep, body, field):
    response = as_user(rep).post(url("deal-list"), body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert all(isinstance(message, str) for message in response.json()[field])
    assert not Deal.objects.exists()


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" * 5000])
def test_json_numbers_out_of_any_range_are_field_errors(as_user, rep, number):
    response = post(as_user(rep), url("deal-list"), f'{{"name": "Ok", "amount": {number}}}')
    assert response.status_code == 400
    assert list(response.json()) in (["amount"], ["detail"])


@pytest.mark.parametrize(
    ("raw_amount", "message"),
    [
        ('"1e20"', "Enter an amount of at most 999,999,999,999.99."),
        ("1e20", "Enter an amount of at most 999,999,999,999.99."),  # a JSON number
        ('"1000000000000"', "Enter an amount of at most 999,999,999,999.99."),
        ('"12.345"', "Enter an amount with at most 2 decimals."),
        ("12.345", "Enter an amount with at most 2 decimals."),
        ('"lots"', "Enter an amount such as 1234.50."),
        ('"-5"', "Enter an amount of 0 or more."),
    ],
)
def test_amounts_are_refused_in_plain_words(as_user, rep, rep_deal, raw_amount, message):
    client = as_user(rep)
    response = post(client, url("deal-list"), f'{{"name": "Ok", "amount": {raw_amount}}}')
    assert (response.status_code, response.json()) == (400, {"amount": [message]})
    edit = client.generic(
        "PATCH",
        url("deal-detail", rep_deal.pk),
        f'{{"amount": {raw_amount}}}',
        content_type="application/json",
    )
    assert (edit.status_code, edit.json()) == (400, {"amount": [message]})
    assert Deal.objects.count() == 1


def test_unknown_fields_are_named(as_user, rep):
    response = as_user(rep).post(
        url("deal-list"), {"name": "Ok", "ammount": "5", "colour": "red"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"ammount": ["Unknown field."], "colour": ["Unknown field."]}


def test_unknown_fields_are_refused_by_every_write(as_user, admin_user, rep_deal, rep_lead):
    client = as_user(admin_user)
    writes = [
        ("patch", url("deal-detail", rep_deal.pk)),
        ("post", url("deal-move", rep_deal.pk)),
        ("post", url("lead-list")),
        ("patch", url("lead-detail", rep_lead.pk)),
        ("post", url("lead-status", rep_lead.pk)),
        ("post", url("lead-convert", rep_lead.pk)),
        ("post", url("company-list")),
        ("post", url("product-list")),
        ("post", url("lead-source-list")),
        ("post", url("target-list")),
    ]
    for method, path in writes:
        response = getattr(client, method)(path, {"bogus": 1}, format="json")
        assert response.status_code == 400, path
        assert response.json()["bogus"] == ["Unknown field."], path


def test_huge_ids_in_paths_are_404(as_user, admin_user):
    client = as_user(admin_user)
    for name in ("deal", "lead", "company", "target", "stage", "user", "team", "snapshot"):
        for pk in (HUGE, BIGINT_PLUS_ONE, 0):
            response = client.get(url(f"{name}-detail", pk))
            assert response.status_code == 404, (name, pk)
            assert response.json() == {"detail": "No " + response.json()["detail"][3:]}
    response = client.post(url("deal-move", HUGE), {"stage": 1}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"page": HUGE}, 404, "detail"),
        ({"page": 0}, 404, "detail"),
        ({"page": "last-ish"}, 404, "detail"),
        ({"page_size": -1}, 400, "page_size"),
        ({"page_size": 0}, 400, "page_size"),
        ({"page_size": 501}, 400, "page_size"),
        ({"page_size": HUGE}, 400, "page_size"),
        ({"page_size": "ten"}, 400, "page_size"),
        ({"owner": HUGE}, 400, "owner"),
        ({"owner": BIGINT_PLUS_ONE}, 400, "owner"),
        ({"owner": -5}, 400, "owner"),
        ({"owner": "me"}, 400, "owner"),
        ({"team": "1.5"}, 400, "team"),
        ({"stage": HUGE}, 400, "stage"),
        ({"company": HUGE}, 400, "company"),
        ({"status": "pending"}, 400, "status"),
        ({"created_after": "2026-13-01"}, 400, "created_after"),
        ({"closed_before": "soon"}, 400, "closed_before"),
        ({"amount_min": "1e400"}, 400, "amount_min"),
        ({"amount_max": "NaN"}, 400, "amount_max"),
        ({"amount_max": "12345678901234567890"}, 400, "amount_max"),
        ({"q": "nul\x00"}, 400, "q"),
    ],
)
def test_bad_query_parameters_are_4xx(as_user, admin_user, params, status, field):
    response = as_user(admin_user).get(url("deal-list"), params)
    assert response.status_code == status, response.content
    assert field in response.json()


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("lead-list", {"converted_after": "0000-01-01"}),
        ("lead-list", {"source": HUGE}),
        ("target-list", {"period_start_after": "2026-02-30"}),
        ("target-list", {"user": HUGE}),
        ("snapshot-list", {"id": HUGE}),
        ("snapshot-list", {"date_after": "never"}),
        ("team-list", {"parent": HUGE}),
        ("user-list", {"team": HUGE}),
    ],
)
def test_bad_query_parameters_of_other_lists_are_400(as_user, admin_user, name, params):
    response = as_user(admin_user).get(url(name), params)
    assert response.status_code == 400, response.content


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_the_ends_of_the_calendar_are_no_bound(as_user, admin_user, rep_deal, day):
    client = as_user(admin_user)
    low = day == "0001-01-01"
    closed = rep_deal.closed_at is not None
    expected = {
        "created_after": low,
        "created_before": not low,
        "closed_after": low and closed,
        "closed_before": not low and closed,
    }
    for name, listed in expected.items():
        response = client.get(url("deal-list"), {name: day})
        assert response.status_code == 200
        ids = [row["id"] for row in response.json()["results"]]
        assert ids == ([rep_deal.pk] if listed else []), name


def test_a_body_over_the_limit_is_a_413(as_user, rep, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "x" * 2000})
    response = post(as_user(rep), url("deal-list"), body)
    assert response.status_code == 413
    assert "larger than 1000 bytes" in response.json()["detail"]
    assert not Deal.objects.exists()


def nested(depth: int) -> str:
    """A JSON value `depth` levels deep: depth 2 is `{"name": []}`, depth 3 `{"name": [[]]}`."""
    return '{"name": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_json_nested_too_deep_is_a_400_even_anonymous_on_the_token_endpoint(api, depth):
    # The token endpoint is the one anyone may post to; 1,000 levels was a RecursionError.
    response = post(api, url("api-token"), nested(depth))
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested more than 32 levels deep."}


@pytest.mark.parametrize("depth", [33, 1000])
def test_json_nested_too_deep_is_a_400_for_a_signed_in_rep(as_user, rep, depth):
    response = post(as_user(rep), url("deal-list"), nested(depth))
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested more than 32 levels deep."}
    assert not Deal.objects.exists()


def test_json_32_levels_deep_is_parsed_and_judged_by_the_fields(as_user, rep):
    # Depth 32 is allowed: the parser passes it on, and the serializer refuses a list name.
    response = post(as_user(rep), url("deal-list"), nested(32))
    assert response.status_code == 400
    assert "name" in response.json()


def test_an_oversized_form_post_to_the_token_endpoint_is_a_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post(api, url("api-token"), json.dumps({"username": "x" * 2000}))
    assert response.status_code == 413
    assert "larger than 1000 bytes" in response.json()["detail"]


def test_errors_are_lists_of_strings_even_from_services(as_user, rep, stage):
    response = as_user(rep).post(
        url("deal-list"),
        {
            "name": "Backwards",
            "stage": stage("Won").pk,
            "created_at": "2026-03-01T00:00:00Z",
            "closed_at": "2026-02-01T00:00:00Z",
        },
        format="json",
    )
    assert response.json() == {"closed_at": ["A deal cannot close before it was created."]}


def test_kpis_refuse_dates_at_the_ends_of_the_calendar_and_unknown_ids(as_user, admin_user):
    response = as_user(admin_user).get(
        url("api-kpis"), {"scope": "org", "start": "9999-12-31", "end": "9999-12-31"}
    )
    assert response.status_code == 400
    message = ["Dates run from 1900-01-01 to 2200-12-31."]
    assert response.json() == {"start": message, "end": message}
    response = as_user(admin_user).get(
        url("api-kpis"), {"scope": "user", "id": HUGE, "start": "2026-01-01", "end": "2026-01-31"}
    )
    assert response.status_code == 404
