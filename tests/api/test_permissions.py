"""Every endpoint and operation against every role (DESIGN.md, "Permissions").

The record of each resource belongs to `rep` (Team North, under Region). The roles:
anonymous; the owner (`rep`); a teammate (`other_rep`, same team); the manager of another
team (`south_manager`); the owner's manager (`manager`); the manager above both teams
(`region_manager`); an admin. What a role may not see is a 404, what it sees but may not
change a 403; a refused write leaves the database as it was.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.forms.models import model_to_dict

from metrics.models import Target
from pipeline.models import Company, Deal, Lead, LeadSource, Product, StageChange
from tests.api.conftest import url
from tests.factories import KPISnapshotFactory, default_stage

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "owner", "teammate", "other_manager", "manager", "region_manager", "admin"]
FIXTURES = {
    "owner": "rep",
    "teammate": "other_rep",
    "other_manager": "south_manager",
    "manager": "manager",
    "region_manager": "region_manager",
    "admin": "admin_user",
}
# Who sees the rep's record of each kind (in lists and by id).
SEES = {
    "deal": {"owner", "manager", "region_manager", "admin"},
    "lead": {"owner", "manager", "region_manager", "admin"},
    "target": {"owner", "manager", "region_manager", "admin"},
    "user": {"owner", "manager", "region_manager", "admin"},
    "team": {"owner", "teammate", "manager", "region_manager", "admin"},
    "snapshot": {"owner", "manager", "region_manager", "admin"},
    "company": set(ROLES) - {"anonymous"},
    "product": set(ROLES) - {"anonymous"},
    "lead-source": set(ROLES) - {"anonymous"},
    "stage": set(ROLES) - {"anonymous"},
}
MODELS = {
    "deal": Deal,
    "lead": Lead,
    "target": Target,
    "company": Company,
    "product": Product,
    "lead-source": LeadSource,
}


@dataclass(frozen=True)
class Operation:
    resource: str
    name: str
    method: str
    path: Callable  # (record, people) -> URL
    body: Callable | None = None  # (record, people) -> JSON body
    # Status per role, in the order of ROLES
    expected: tuple[int, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.resource}-{self.name}"


def detail(name):
    return lambda record, people: url(f"{name}-detail", record.pk)


def listing(name):
    return lambda record, people: url(f"{name}-list")


def action(name, verb):
    return lambda record, people: url(f"{name}-{verb}", record.pk)


def visible(ok: int, *, hidden: int = 404) -> tuple[int, ...]:
    """Statuses of an operation on the rep's record that whoever sees it may do."""
    return (401, ok, hidden, hidden, ok, ok, ok)


ALL_READ = (401, 200, 200, 200, 200, 200, 200)
ADMIN_ONLY = (401, 403, 403, 403, 403, 403, None)  # admin: per operation


def admin_only(ok: int) -> tuple[int, ...]:
    return (*ADMIN_ONLY[:-1], ok)


def deal_body(record, people):
    return {"name": "Renamed", "amount": "1.00", "owner": people["owner"].pk}


def new_name(record, people):
    return {"name": f"New {people['_role']}"}


def new_target(record, people):
    return {
        "user": people["owner"].pk,
        "period_kind": "month",
        "period_start": "2026-05-01",
        "value": "1",
    }


OPERATIONS = [
    # Deals: DELETE is a soft delete, for whoever may edit the deal
    Operation("deal", "list", "get", listing("deal"), expected=ALL_READ),
    Operation("deal", "retrieve", "get", detail("deal"), expected=visible(200)),
    Operation(
        "deal",
        "create",
        "post",
        listing("deal"),
        deal_body,
        # a deal for the rep: the rep, their manager and admins; others may not give it
        (401, 201, 400, 400, 201, 201, 201),
    ),
    Operation("deal", "update", "put", detail("deal"), deal_body, visible(200)),
    Operation(
        "deal",
        "partial_update",
        "patch",
        detail("deal"),
        lambda r, p: {"amount": "2.00"},
        visible(200),
    ),
    Operation("deal", "delete", "delete", detail("deal"), expected=visible(204)),
    Operation(
        "deal",
        "move",
        "post",
        action("deal", "move"),
        lambda r, p: {"stage": default_stage("Proposal").pk},
        visible(200),
    ),
    # Leads
    Operation("lead", "list", "get", listing("lead"), expected=ALL_READ),
    Operation("lead", "retrieve", "get", detail("lead"), expected=visible(200)),
    Operation(
        "lead",
        "create",
        "post",
        listing("lead"),
        lambda r, p: {"company": r.company_id, "owner": p["owner"].pk},
        (401, 201, 400, 400, 201, 201, 201),
    ),
    Operation(
        "lead",
        "update",
        "put",
        detail("lead"),
        lambda r, p: {"company": r.company_id, "contact_name": "Changed"},
        visible(200),
    ),
    Operation(
        "lead",
        "partial_update",
        "patch",
        detail("lead"),
        lambda r, p: {"contact_name": "X"},
        visible(200),
    ),
    Operation("lead", "delete", "delete", detail("lead"), expected=visible(204)),
    Operation(
        "lead",
        "status",
        "post",
        action("lead", "status"),
        lambda r, p: {"status": "working"},
        visible(200),
    ),
    Operation("lead", "convert", "post", action("lead", "convert"), lambda r, p: {}, visible(201)),
    # Targets: everyone reads what they see; managers (their tree) and admins write
    Operation("target", "list", "get", listing("target"), expected=ALL_READ),
    Operation("target", "retrieve", "get", detail("target"), expected=visible(200)),
    Operation(
        "target",
        "create",
        "post",
        listing("target"),
        new_target,
        (401, 403, 403, 400, 201, 201, 201),
    ),
    Operation(
        "target",
        "update",
        "put",
        detail("target"),
        lambda r, p: {"value": "5"},
        (401, 403, 403, 404, 200, 200, 200),
    ),
    Operation(
        "target",
        "partial_update",
        "patch",
        detail("target"),
        lambda r, p: {"value": "6"},
        (401, 403, 403, 404, 200, 200, 200),
    ),
    Operation(
        "target", "delete", "delete", detail("target"), expected=(401, 403, 403, 404, 204, 204, 204)
    ),
    # Companies: everyone reads and adds; admins change and delete
    Operation("company", "list", "get", listing("company"), expected=ALL_READ),
    Operation("company", "retrieve", "get", detail("company"), expected=ALL_READ),
    Operation("company", "create", "post", listing("company"), new_name, (401, *[201] * 6)),
    Operation("company", "update", "put", detail("company"), new_name, admin_only(200)),
    Operation("company", "partial_update", "patch", detail("company"), new_name, admin_only(200)),
    Operation("company", "delete", "delete", detail("company"), expected=admin_only(204)),
    # Products and lead sources: everyone reads; admins write
    *[
        op
        for name in ("product", "lead-source")
        for op in (
            Operation(name, "list", "get", listing(name), expected=ALL_READ),
            Operation(name, "retrieve", "get", detail(name), expected=ALL_READ),
            Operation(name, "create", "post", listing(name), new_name, admin_only(201)),
            Operation(name, "update", "put", detail(name), new_name, admin_only(200)),
            Operation(name, "partial_update", "patch", detail(name), new_name, admin_only(200)),
            Operation(name, "delete", "delete", detail(name), expected=admin_only(204)),
        )
    ],
    # Read-only resources
    Operation("stage", "list", "get", listing("stage"), expected=ALL_READ),
    Operation("stage", "retrieve", "get", detail("stage"), expected=ALL_READ),
    Operation("stage", "create", "post", listing("stage"), new_name, (401, *[405] * 6)),
    Operation("team", "list", "get", listing("team"), expected=ALL_READ),
    Operation(
        "team", "retrieve", "get", detail("team"), expected=(401, 200, 200, 404, 200, 200, 200)
    ),
    Operation("team", "update", "put", detail("team"), new_name, (401, *[405] * 6)),
    Operation("user", "list", "get", listing("user"), expected=ALL_READ),
    Operation("user", "retrieve", "get", detail("user"), expected=visible(200)),
    Operation("user", "update", "put", detail("user"), new_name, (401, *[405] * 6)),
    Operation("snapshot", "list", "get", listing("snapshot"), expected=ALL_READ),
    Operation("snapshot", "retrieve", "get", detail("snapshot"), expected=visible(200)),
    Operation(
        "kpi",
        "retrieve",
        "get",
        lambda r, p: (
            url("api-kpis") + f"?scope=user&id={p['owner'].pk}&start=2026-01-01&end=2026-03-31"
        ),
        expected=visible(200),
    ),
]


@pytest.fixture
def people(request) -> dict:
    found = {role: request.getfixturevalue(name) for role, name in FIXTURES.items()}
    found["anonymous"] = None
    return found


def make_record(resource: str, people: dict, request):
    rep = people["owner"]
    if resource == "user":
        return rep
    if resource == "team":
        return rep.team
    if resource == "stage":
        return default_stage("Won")
    if resource == "snapshot":
        return KPISnapshotFactory(scope_kind="user", scope_id=rep.pk)
    if resource == "kpi":
        return None
    fixture = {
        "deal": "rep_deal",
        "lead": "rep_lead",
        "target": "rep_target",
        "company": "company",
        "product": "product",
        "lead-source": "source",
    }[resource]
    return request.getfixturevalue(fixture)


def database_state(resource: str, record) -> tuple:
    """What a refused write must leave untouched: the record's fields, the number of rows
    of its kind, and the histories."""
    model = MODELS.get(resource)
    row = None
    if model is not None and record is not None:
        stored = model.objects.filter(pk=record.pk).first()
        row = model_to_dict(stored) if stored else None
    return (
        row,
        model.objects.count() if model else None,
        StageChange.objects.count(),
        Target.history.count(),
        Deal.objects.count(),
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.id)
def test_every_role_on_every_operation(operation, role, people, as_user, request):
    record = make_record(operation.resource, people, request)
    people["_role"] = role
    before = database_state(operation.resource, record)
    client = as_user(people[role])
    path = operation.path(record, people)
    body = operation.body(record, people) if operation.body else None
    response = getattr(client, operation.method)(path, body, format="json")
    expected = operation.expected[ROLES.index(role)]
    assert response.status_code == expected, response.content
    if response.status_code >= 400:
        assert "detail" in response.json() or response.status_code == 400
        if operation.method != "get":
            assert database_state(operation.resource, record) == before, "a refused write"
    if operation.name == "list" and response.status_code == 200:
        listed = {row["id"] for row in response.json()["results"]}
        # A snapshot's "id" is its scope's (the rep's), not the row's
        identity = record.scope_id if operation.resource == "snapshot" else record.pk
        assert (identity in listed) == (role in SEES[operation.resource])


def test_an_anonymous_401_names_the_token_scheme(api):
    response = api.get(url("deal-list"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_token_signs_in(api, rep, rep_deal):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=rep)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get(url("deal-detail", rep_deal.pk)).status_code == 200
    api.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert api.get(url("deal-detail", rep_deal.pk)).status_code == 401


@pytest.mark.parametrize("scope", ["user", "team"])
def test_a_kpi_scope_you_may_not_see_answers_like_one_that_does_not_exist(
    as_user, rep, outsider_rep, other_team, scope
):
    """The KPI endpoint must not tell which ids exist: an invisible scope and a missing one
    get the same 404, body included."""
    hidden = {"user": outsider_rep.pk, "team": other_team.pk}[scope]
    client = as_user(rep)
    query = {"scope": scope, "start": "2026-01-01", "end": "2026-03-31"}
    invisible = client.get(url("api-kpis"), {**query, "id": hidden})
    missing = client.get(url("api-kpis"), {**query, "id": 999_999})
    assert invisible.status_code == missing.status_code == 404
    assert invisible.json() == missing.json() == {"detail": "No scope you may see has this id."}


def test_the_organisation_figures_are_a_404_for_a_rep_as_the_org_page_is(as_user, client, rep):
    response = as_user(rep).get(
        url("api-kpis"), {"scope": "org", "start": "2026-01-01", "end": "2026-03-31"}
    )
    assert response.status_code == 404
    client.force_login(rep)
    assert client.get(url("metrics:org-dashboard")).status_code == 404


def test_a_snapshot_you_may_not_see_answers_like_one_that_does_not_exist(
    as_user, rep, outsider_rep
):
    hidden = KPISnapshotFactory(scope_kind="user", scope_id=outsider_rep.pk)
    client = as_user(rep)
    invisible = client.get(url("snapshot-detail", hidden.pk))
    missing = client.get(url("snapshot-detail", 999_999))
    assert invisible.status_code == missing.status_code == 404
    assert invisible.json() == missing.json()
    assert client.get(url("snapshot-list"), {"id": outsider_rep.pk}).json()["count"] == 0
