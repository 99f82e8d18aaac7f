"""The curious user: every URL pattern of the project, tried with ids of objects the user may
not see, with every method. A rep against a teammate, a manager against the sibling team,
both with is_staff set by mistake (the admin must still refuse them).

Each try must be refused (401, 403, 404, 405 or a redirect to a login page), must not show
the victim's data, and must leave the database as it was. The walk comes from the URL
resolver itself: a new pattern that takes an id fails test_every_id_pattern_is_covered until
ID_ROUTES says which object its ids name.
"""

import datetime as dt
import hashlib
import json
import re
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import Team, User
from metrics.models import KPISnapshot, Target
from metrics.services import TargetCell, targets_set
from pipeline.models import Company, Deal, ImportJob, Lead, LeadSource, Product, Stage
from tests.factories import (
    CompanyFactory,
    DealFactory,
    KPISnapshotFactory,
    LeadFactory,
    TargetFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

METHODS = ["get", "post", "put", "patch", "delete"]
DENIED = {401, 403, 404, 405}
LOGIN_PATHS = ("/login/", "/admin/login/")

# Which object each id of a pattern names. Objects of the first group belong to someone the
# attacker may not see; the catalogue (companies, stages, products, lead sources) is shared
# for reading, so there only writes must be refused.
ID_ROUTES: dict[str, dict[str, str]] = {
    "metrics:rep-performance": {"user_id": "user"},
    "metrics:team-dashboard": {"team_id": "team"},
    "metrics:team-export": {"team_id": "team"},
    "pipeline:import-job": {"pk": "import_job"},
    "pipeline:deal-detail": {"pk": "deal"},
    "pipeline:deal-move": {"pk": "deal"},
    "pipeline:deal-close": {"pk": "deal"},
    "pipeline:deal-delete": {"pk": "deal"},
    "pipeline:lead-status": {"pk": "lead"},
    "pipeline:lead-convert": {"pk": "lead"},
    "pipeline:lead-delete": {"pk": "lead"},
    "deal-detail": {"pk": "deal"},
    "deal-move": {"pk": "deal"},
    "deal-history": {"pk": "deal"},
    "lead-detail": {"pk": "lead"},
    "lead-convert": {"pk": "lead"},
    "lead-status": {"pk": "lead"},
    "team-detail": {"pk": "team"},
    "user-detail": {"pk": "user"},
    "target-detail": {"pk": "target"},
    "snapshot-detail": {"pk": "snapshot"},
    "company-detail": {"pk": "company"},
    "stage-detail": {"pk": "stage"},
    "product-detail": {"pk": "product"},
    "lead-source-detail": {"pk": "lead_source"},
    # Public by design: a reset link for the victim with a forged token must not work.
    "password_reset_confirm": {"uidb64": "reset_uid", "token": "reset_token"},
    # The API's catch-all: anything else under /api/v1/ is a JSON 404.
    "api-not-found": {"path": "path"},
}
SHARED = {"company", "stage", "product", "lead_source"}
# The admin refuses every one of its views to a non-admin, whatever the id.
ADMIN_PARAMS = {"object_id", "id", "app_label", "content_type_id", "history_id", "url"}
# Ids in the query string or the body rather than the path, with the parameters each list
# really reads (metrics/api.py SnapshotFilter, pipeline/filters.py, TargetHistoryFilter).
# `narrows`: an id the attacker may not see must leave the list empty, so the attacker's own
# rows must not show either; they would if the parameter were ignored.
QUERY_PROBES = [
    ("api-kpis", "scope=user&id={user}", False),
    ("api-kpis", "scope=team&id={team}", False),
    ("api-kpis", "scope=org", False),
    ("snapshot-list", "scope=user&id={user}", True),
    ("deal-list", "owner={user}", True),
    ("lead-list", "owner={user}", True),
    ("pipeline:deal-list", "owner={user}", True),
    ("pipeline:deal-export", "owner={user}", True),
    ("pipeline:lead-list", "owner={user}", True),
    ("metrics:targets", "team={team}", False),
    # An owner off the page's list is reported and ignored: the user's own tree shows.
    ("metrics:target-history", "owner=user-{user}", False),
    ("metrics:target-history", "owner=team-{team}", False),
]
# The attacker's own rows, for the `narrows` probes.
OWN_DEAL, OWN_LEAD, OWN_REVENUE = "OWN-DEAL-OF-ATTACKER", "OWN-LEAD-OF-ATTACKER", "31415.92"

# Per attacker: the manager may see the rep's victim (a rep of the manager's own team).
DEAL_NAME = {"rep": "VICTIM-DEAL-OF-TEAMMATE", "manager": "VICTIM-DEAL-OF-SIBLING"}
LEAD_CONTACT = {"rep": "VICTIM-LEAD-OF-TEAMMATE", "manager": "VICTIM-LEAD-OF-SIBLING"}
IMPORT_NAME = {"rep": "VICTIM-IMPORT-OF-ADMIN.csv", "manager": "VICTIM-IMPORT-OF-SIBLING.csv"}
TARGET_VALUE = {"rep": Decimal("987654.32"), "manager": Decimal("876543.21")}
SNAPSHOT_REVENUE = {"rep": Decimal("13579.24"), "manager": Decimal("24680.13")}
MARKERS = {
    key: [
        DEAL_NAME[key],
        LEAD_CONTACT[key],
        IMPORT_NAME[key],
        f"{TARGET_VALUE[key]:f}"[:6],
        f"{TARGET_VALUE[key]:,f}"[:7],
        f"{SNAPSHOT_REVENUE[key]:f}"[:5],
        f"{SNAPSHOT_REVENUE[key]:,f}"[:6],
    ]
    for key in ("rep", "manager")
}


def walk(patterns=None, prefix: str = "", namespace: str = "", params: frozenset = frozenset()):
    """Every URL pattern: (name with namespace, the names of its parameters, the route)."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        own = set(pattern.pattern.regex.groupindex)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from walk(
                pattern.url_patterns, prefix + str(pattern.pattern), inner, params | own
            )
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}{pattern.name}" if pattern.name else ""
            if not name and namespace == "admin:":
                name = "admin:"  # Django's unnamed <object_id>/ redirects; built from the route
            yield name, frozenset(params | own), prefix + str(pattern.pattern)


def id_patterns():
    """The patterns that take anything but a format suffix."""
    return [(name, p - {"format"}, route) for name, p, route in walk() if p - {"format"}]


def test_every_id_pattern_is_covered():
    uncovered, unnamed = [], []
    for name, params, route in id_patterns():
        if not name:
            unnamed.append(route)
        elif name.startswith("admin:"):  # the admin's unnamed redirects get "admin:"
            if not params <= ADMIN_PARAMS:
                uncovered.append(f"{name} {route} {sorted(params)}")
        elif name not in ID_ROUTES or set(ID_ROUTES[name]) != params:
            uncovered.append(f"{name} {route} {sorted(params)}")
    assert unnamed == [], "name these patterns so the crawl can reverse them"
    assert uncovered == [], "add these to ID_ROUTES (which object does each id name?)"
    seen = {name for name, _, _ in id_patterns()}
    assert set(ID_ROUTES) - seen == set(), "ID_ROUTES names patterns that no longer exist"


# --- The world --------------------------------------------------------------------------------


@pytest.fixture
def world(rep, other_rep, outsider_rep, manager, admin_user, team, other_team):
    """Victim rows for both attackers: the teammate's (for the rep) and the sibling team's
    (for the manager). Each carries a marker that must never show up in a response."""
    victims = {}
    for key, owner, victim_team in [
        ("rep", other_rep, team),
        ("manager", outsider_rep, other_team),
    ]:
        deal = DealFactory(owner=owner, name=DEAL_NAME[key], amount=Decimal("4321.00"))
        lead = LeadFactory(owner=owner, contact_name=LEAD_CONTACT[key])
        target = TargetFactory(user=owner, value=TARGET_VALUE[key])
        snapshot = KPISnapshotFactory(
            scope_kind="user",
            scope_id=owner.pk,
            revenue=SNAPSHOT_REVENUE[key],
            date=dt.date(2026, 3, 30),
        )
        job = ImportJob.objects.create(
            kind=ImportJob.Kind.DEALS,
            status=ImportJob.Status.DONE,
            file_name=IMPORT_NAME[key],
            file_size=10,
            content=b"",
            created_by=admin_user if key == "rep" else outsider_rep,
        )
        victims[key] = {
            "deal": deal,
            "lead": lead,
            "target": target,
            "snapshot": snapshot,
            "import_job": job,
            "user": owner,
            # A rep sees no team page at all, not even their own; a manager not the sibling.
            "team": other_team if key == "rep" else victim_team,
        }
    shared = {
        "company": CompanyFactory(name="Shared Co"),
        "stage": default_stage("Proposal"),
        "product": Product.objects.create(name="Shared product", list_price=Decimal("10")),
        "lead_source": LeadSource.objects.create(name="Shared source"),
    }
    # The team target for the manager's victim team too.
    victims["manager"]["team_target"] = TargetFactory(
        user=None, team=other_team, value=TARGET_VALUE["manager"]
    )
    return {"victims": victims, "shared": shared, "admin": admin_user}


def fingerprint(world, key: str) -> str:
    """Row counts of every table a write could touch, and the victims' rows, field by field
    (through the base managers, so a soft delete shows too)."""
    models = [Deal, Lead, Target, Team, User, ImportJob, Company, Stage, Product, LeadSource]
    state: dict[str, object] = {m.__name__: m._base_manager.count() for m in models}
    state["KPISnapshot"] = KPISnapshot.objects.count()
    for name, obj in {**world["victims"][key], **world["shared"]}.items():
        row = type(obj)._base_manager.filter(pk=obj.pk).values().first()
        state[name] = {k: str(v) for k, v in (row or {}).items() if k != "last_login"}
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def value_for(kind: str, victims: dict, shared: dict) -> str:
    if kind in SHARED:
        return str(shared[kind].pk)
    if kind == "reset_uid":
        return urlsafe_base64_encode(force_bytes(victims["user"].pk))
    if kind == "reset_token":
        return "forged-token"
    if kind == "path":
        return f"deals/{victims['deal'].pk}/anything/"
    return str(victims[kind].pk)


ADMIN_VICTIM_KIND = {
    Deal: "deal",
    Lead: "lead",
    Target: "target",
    Team: "team",
    User: "user",
    ImportJob: "import_job",
    KPISnapshot: "snapshot",
}


def admin_kwargs(name: str, params, victims: dict, shared: dict) -> dict[str, str]:
    """Admin views take an app label, an object id (of the model in the view's name), a
    content type; give them the victim's rows wherever the model has one."""
    models = {f"{m._meta.app_label}_{m._meta.model_name}": m for m in admin.site._registry}
    # A name like admin:pipeline_deal_change, or for the unnamed redirect its route.
    model = next(
        (
            m
            for label, m in models.items()
            if name.removeprefix("admin:").startswith(label + "_")
            or name.startswith("admin/" + label.replace("_", "/", 1) + "/")
        ),
        Deal,
    )
    kind = ADMIN_VICTIM_KIND.get(model)
    obj = victims[kind] if kind else model._base_manager.first()
    values = {
        "app_label": model._meta.app_label,
        "object_id": str(obj.pk if obj else 1),
        "id": str(obj.pk if obj else 1),
        "content_type_id": str(ContentType.objects.get_for_model(Deal).pk),
        "history_id": "1",
        "url": f"pipeline/deal/{victims['deal'].pk}/change/x/",
    }
    if "content_type_id" in params:
        values["object_id"] = str(victims["deal"].pk)
    return {p: values[p] for p in params}


def body(attacker: User, victims: dict) -> dict[str, object]:
    """What a curious user would send: take the deal, win it, move the target, re-own it."""
    won = default_stage("Won")
    return {
        "name": "pwned",
        "amount": "1.00",
        "stage": won.pk,
        "to_stage": won.pk,
        "outcome": "won",
        "status": "disqualified",
        "disqualified_reason": "pwned",
        "owner": attacker.pk,
        "value": "1.00",
        "company": "Pwned Inc",
        "contact_name": "pwned",
        "role": "admin",
        "is_staff": "on",
        "is_superuser": "on",
        "team": victims["team"].pk,
        "manager": attacker.pk,
        "list_price": "1.00",
        "version": 999,
    }


def send(client: Client, method: str, url: str, data: dict, *, api: bool):
    if method == "get":
        return client.get(url)
    if api or method != "post":
        return getattr(client, method)(url, json.dumps(data), content_type="application/json")
    return client.post(url, data)


def refused(response) -> bool:
    if response.status_code in DENIED:
        return True
    if response.status_code == 302:
        location = response["Location"]
        return any(location.startswith(path) for path in LOGIN_PATHS)
    return False


def text(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def leaks(response, key: str) -> list[str]:
    content = text(response)
    return [marker for marker in MARKERS[key] if marker in content]


@pytest.mark.parametrize("key", ["rep", "manager"])
def test_curious_user_is_refused_everything_with_someone_elses_ids(key, world, request):
    attacker: User = request.getfixturevalue(key)
    attacker.is_staff = True  # by mistake: the admin must still say no
    attacker.save()
    victims, shared = world["victims"][key], world["shared"]
    # A 500 is one more problem to list, not the end of the walk.
    client = Client(raise_request_exception=False)
    data = body(attacker, victims)
    before = fingerprint(world, key)
    problems: list[str] = []
    tried = 0
    with_format = {n for n, params, _ in walk() if "format" in params}
    done: set[str] = set()
    for name, params, route in id_patterns():
        if name in done:  # a name with and without a format suffix: both URLs below
            continue
        if name != "admin:":
            done.add(name)
        if name.startswith("admin:"):
            kwargs = admin_kwargs(name if name != "admin:" else route, params, victims, shared)
        else:
            kwargs = {p: value_for(kind, victims, shared) for p, kind in ID_ROUTES[name].items()}
        if name == "admin:":
            path = route
            for param, value in kwargs.items():
                path = re.sub(rf"<\w+:{param}>", value, path)
            urls = ["/" + path]
        else:
            urls = [reverse(name, kwargs=kwargs)]
            if name in with_format:
                urls.append(reverse(name, kwargs={**kwargs, "format": "json"}))
        kinds = set(ID_ROUTES.get(name, {}).values())
        for url in urls:
            for method in METHODS:
                client.force_login(attacker)  # a POST to a logout view must not end the crawl
                response = send(client, method, url, data, api=url.startswith("/api/"))
                tried += 1
                ok = refused(response)
                if name == "password_reset_confirm" and response.status_code == 200:
                    # Django's answer to a forged link is a page saying it is invalid.
                    ok = "new_password1" not in response.content.decode()
                if kinds & SHARED and method == "get" and response.status_code == 200:
                    ok = True  # the catalogue is readable by everyone
                if not ok:
                    problems.append(f"{method.upper()} {url} ({name}) -> {response.status_code}")
                if found := leaks(response, key):
                    problems.append(f"{method.upper()} {url} ({name}) shows {found}")
        after = fingerprint(world, key)
        if after != before:
            problems.append(f"{name} changed the database")
            before = after
    assert problems == [], "\n".join(problems)
    assert tried > 500  # every admin view of every model, and the app's


@pytest.mark.parametrize("key", ["rep", "manager"])
def test_ids_in_the_query_string_or_body_show_nothing(key, world, request):
    """Lists, exports, KPI and chart data filtered by someone else's id, and creations that
    try to give a row to someone else, are refused or come back without their data."""
    attacker: User = request.getfixturevalue(key)
    victims = world["victims"][key]
    client = Client()
    client.force_login(attacker)
    DealFactory(owner=attacker, name=OWN_DEAL)
    LeadFactory(owner=attacker, contact_name=OWN_LEAD)
    KPISnapshotFactory(scope_kind="user", scope_id=attacker.pk, revenue=Decimal(OWN_REVENUE))
    own = [OWN_DEAL, OWN_LEAD, OWN_REVENUE]
    # Unfiltered, each list shows the attacker's own row: its absence below is the filter's.
    for name, marker in [
        ("snapshot-list", OWN_REVENUE),
        ("deal-list", OWN_DEAL),
        ("lead-list", OWN_LEAD),
        ("pipeline:deal-list", OWN_DEAL),
        ("pipeline:deal-export", OWN_DEAL),
        ("pipeline:lead-list", OWN_LEAD),
    ]:
        assert marker in text(client.get(reverse(name))), name
    for name, query, narrows in QUERY_PROBES:
        url = reverse(name) + "?" + query.format(user=victims["user"].pk, team=victims["team"].pk)
        response = client.get(url)
        assert response.status_code in {200, 400, 403, 404}, url
        body = text(response)
        assert [marker for marker in MARKERS[key] if marker in body] == [], url
        if narrows:
            assert [marker for marker in own if marker in body] == [], f"{url} ignored its filter"
    before = fingerprint(world, key)
    victim = victims["user"]
    owned_before = (
        Deal._base_manager.filter(owner=victim).count(),
        Lead._base_manager.filter(owner=victim).count(),
        Target.objects.filter(team=victims["team"]).count(),
    )
    creations = [
        (
            "deal-list",
            {
                "name": "gift",
                "company": world["shared"]["company"].pk,
                "stage": default_stage("Prospecting").pk,
                "amount": "1.00",
                "owner": victim.pk,
            },
        ),
        (
            "lead-list",
            {
                "company": world["shared"]["company"].pk,
                "owner": victim.pk,
                "source": world["shared"]["lead_source"].pk,
            },
        ),
        (
            "target-list",
            {
                "team": victims["team"].pk,
                "metric": "revenue",
                "period_kind": "quarter",
                "period_start": "2026-10-01",
                "value": "1.00",
            },
        ),
    ]
    for name, data in creations:
        response = client.post(reverse(name), json.dumps(data), content_type="application/json")
        assert response.status_code in {400, 403, 404}, (name, response.content)
    owned_after = (
        Deal._base_manager.filter(owner=victim).count(),
        Lead._base_manager.filter(owner=victim).count(),
        Target.objects.filter(team=victims["team"]).count(),
    )
    assert owned_after == owned_before
    assert fingerprint(world, key) == before


def test_a_filter_on_a_visible_id_shows_exactly_its_rows(world, manager, rep, other_rep, team):
    """The manager sees both reps of the team; each id filter must narrow to the one asked
    for (the teammate's markers are the world's rows of `other_rep`)."""
    admin = world["admin"]
    mine = {"deal": "REP-DEAL-ONLY", "lead": "REP-LEAD-ONLY", "revenue": "27182.81"}
    DealFactory(owner=rep, name=mine["deal"])
    LeadFactory(owner=rep, contact_name=mine["lead"])
    KPISnapshotFactory(scope_kind="user", scope_id=rep.pk, revenue=Decimal(mine["revenue"]))
    q1 = dt.date(2026, 1, 1)
    targets_set(
        by=admin,
        changes=[
            TargetCell("quarter", q1, Decimal("11111"), user_id=rep.pk),
            TargetCell("quarter", q1, Decimal("22222"), user_id=other_rep.pk),
            TargetCell("quarter", q1, Decimal("33333"), team_id=team.pk),
        ],
    )
    teammate = [DEAL_NAME["rep"], LEAD_CONTACT["rep"], f"{SNAPSHOT_REVENUE['rep']:f}"]
    client = Client()
    client.force_login(manager)
    for name, query, marker in [
        ("snapshot-list", f"scope=user&id={rep.pk}", mine["revenue"]),
        ("deal-list", f"owner={rep.pk}", mine["deal"]),
        ("lead-list", f"owner={rep.pk}", mine["lead"]),
        ("pipeline:deal-list", f"owner={rep.pk}", mine["deal"]),
        ("pipeline:deal-export", f"owner={rep.pk}", mine["deal"]),
        ("pipeline:lead-list", f"owner={rep.pk}", mine["lead"]),
    ]:
        unfiltered = text(client.get(reverse(name)))
        assert marker in unfiltered and any(other in unfiltered for other in teammate), name
        body = text(client.get(f"{reverse(name)}?{query}"))
        assert marker in body, name
        assert [other for other in teammate if other in body] == [], name

    history = reverse("metrics:target-history")
    everyone = text(client.get(history))
    assert all(value in everyone for value in ("11,111", "22,222", "33,333"))
    by_person = text(client.get(history, {"owner": f"user-{rep.pk}"}))
    assert "11,111" in by_person and "22,222" not in by_person and "33,333" not in by_person
    by_team = text(client.get(history, {"owner": f"team-{team.pk}"}))
    assert "33,333" in by_team and "11,111" not in by_team and "22,222" not in by_team
