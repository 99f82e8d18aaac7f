"""Schemathesis against /api/v1/schema/: every operation, with generated valid and invalid
input, as an admin and as a rep, must answer without a 5xx and as the schema says (a
documented status code, its content type and its body's shape).

Bounded so CI stays fast and stable: a fixed number of examples per operation and mode,
derandomized (the same cases every run), no example database. The WSGI app runs in this
thread, inside the test's transaction, on a small organisation made first. Generated ids
mostly name nothing (a 404 or a 400 is a fine answer); to reach the happy paths too, some
ids in paths and bodies are swapped for ids of real rows.
"""

import json
import time

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.renderers import JSONRenderer
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import Team, User
from metrics.models import Target
from pipeline.api import DealSerializer, DealViewSet
from pipeline.models import Company, Deal, Lead, LeadSource, Product, Stage
from salesperf.wsgi import application
from tests.factories import (
    CompanyFactory,
    DealFactory,
    KPISnapshotFactory,
    LeadFactory,
    LeadSourceFactory,
    ProductFactory,
    TargetFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 12}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Body fields and path parameters that hold ids, and the rows whose ids they may take.
ID_FIELDS = {
    "company": Company,
    "lead": Lead,
    "product": Product,
    "source": LeadSource,
    "stage": Stage,
    "owner": User,
    "user": User,
    "team": Team,
}


def _schema() -> dict:
    """The schema as /api/v1/schema/ serves it, made in-process as plain JSON."""
    raw = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(JSONRenderer().render(raw))


SCHEMA = schemathesis.openapi.from_dict(_schema())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
# Requests sent and seconds spent; tests/api/conftest.py prints them after the run.
RUN = {"operations": len(OPERATIONS), "cases": 0, "seconds": 0.0}


@pytest.fixture
def wsgi_app():
    """The project's WSGI app, kept inside the test's transaction: Django closes "old"
    connections at each request's start and end, which would end the transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield application
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def organisation(rep, other_rep, outsider_rep, manager, admin_user, team):
    """Two reps' worth of leads, deals (open and closed) and targets, plus the catalogue."""
    source, product = LeadSourceFactory(name="Web"), ProductFactory(name="Seats")
    for owner in (rep, other_rep, outsider_rep):
        company = CompanyFactory()
        lead = LeadFactory(owner=owner, company=company, source=source)
        DealFactory(owner=owner, company=company, lead=lead, product=product)
        DealFactory(owner=owner, company=company, stage=default_stage("Won"))
        DealFactory(owner=owner, company=None, stage=default_stage("Lost"), lost_reason="Price")
        TargetFactory(user=owner)
        KPISnapshotFactory(scope_kind="user", scope_id=owner.pk)
    TargetFactory(user=None, team=team)
    return {"admin": admin_user, "rep": rep}


@pytest.fixture
def tokens(organisation) -> dict[str, str]:
    return {role: Token.objects.create(user=user).key for role, user in organisation.items()}


def _real_ids(operation) -> dict[str, list[int]]:
    ids = {
        name: list(model.objects.values_list("pk", flat=True)) for name, model in ID_FIELDS.items()
    }
    path = operation.path
    for prefix, model in [
        ("/api/v1/deals/", Deal),
        ("/api/v1/leads/", Lead),
        ("/api/v1/targets/", Target),
        ("/api/v1/companies/", Company),
        ("/api/v1/products/", Product),
        ("/api/v1/lead-sources/", LeadSource),
        ("/api/v1/stages/", Stage),
    ]:
        if path.startswith(prefix):
            ids["id"] = list(model.objects.values_list("pk", flat=True))
    return ids


def _aim_at_real_rows(case, data, ids: dict[str, list[int]]) -> None:
    """Half the time, point the case's ids at rows that exist."""
    if "id" in (case.path_parameters or {}) and ids.get("id") and data.draw(st.booleans()):
        case.path_parameters["id"] = data.draw(st.sampled_from(ids["id"]))
    if isinstance(case.body, dict):
        for field, choices in ids.items():
            if field != "id" and isinstance(case.body.get(field), int) and choices:
                if data.draw(st.booleans()):
                    case.body[field] = data.draw(st.sampled_from(choices))


def _run(operation, mode, tokens: dict[str, str], app, examples: int, **fixed) -> None:
    ids = _real_ids(operation)

    @given(case=operation.as_strategy(generation_mode=mode, **fixed), data=st.data())
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case, data):
        _aim_at_real_rows(case, data, ids)
        for token in tokens.values():
            response = case.call(app=app, headers={"Authorization": f"Token {token}"})
            case.validate_response(response, checks=CHECKS)
            RUN["cases"] += 1

    check()


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda mode: mode.value)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_operation_conforms_and_never_fails(operation, mode, tokens, wsgi_app):
    started = time.monotonic()
    _run(operation, mode, tokens, wsgi_app, EXAMPLES[mode])
    RUN["seconds"] += time.monotonic() - started


def _failures(operation, tokens, app, **fixed) -> list[str]:
    """The names of the failures one generated case of `operation` finds."""
    try:
        _run(operation, GenerationMode.POSITIVE, tokens, app, examples=1, **fixed)
    except FailureGroup as group:
        return sorted({type(failure).__name__ for failure in group.exceptions})
    return []


def test_a_server_error_fails_the_run(tokens, wsgi_app, monkeypatch):
    """The checks do catch a 500: break the deal list, and its operation fails."""

    def broken(self):
        raise RuntimeError("a bug")

    monkeypatch.setattr(DealViewSet, "get_queryset", broken)
    assert "ServerError" in _failures(SCHEMA["/api/v1/deals/"]["GET"], tokens, wsgi_app)


def test_a_body_off_the_schema_fails_the_run(tokens, wsgi_app, monkeypatch):
    """The checks do catch an answer that breaks the schema: a deal's amount as a number."""
    to_representation = DealSerializer.to_representation

    def amount_as_a_number(self, deal):
        return {**to_representation(self, deal), "amount": 5}

    monkeypatch.setattr(DealSerializer, "to_representation", amount_as_a_number)
    operation = SCHEMA["/api/v1/deals/{id}/"]["GET"]
    deal = Deal.objects.filter(owner__username="rep").first()
    failures = _failures(operation, tokens, wsgi_app, path_parameters={"id": deal.pk})
    assert "JsonSchemaError" in failures
