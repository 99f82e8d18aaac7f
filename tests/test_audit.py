"""The audit trail (django-simple-history): every change to deals, leads, targets, teams and
users is recorded with who, when, and the old and new values, from pages, the API, the
admin, services called by commands and tasks, and bulk imports alike."""

import datetime as dt
import io
import re
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from accounts.models import Team, User
from metrics.models import Target
from metrics.services import TargetCell, targets_set
from pipeline.imports import import_deals, import_reps
from pipeline.models import Deal, Lead
from pipeline.selectors import deal_change_history
from pipeline.services import deal_move_to_stage, deal_save, lead_set_status
from tests.factories import CompanyFactory, DealFactory, LeadFactory, default_stage

pytestmark = pytest.mark.django_db

DEAL_HEADER = (
    "external_id,name,company,owner,stage,amount,created_at,closed_at,"
    "expected_close_date,lead_source,product\n"
)


def edit(deal: Deal, by, **changes) -> Deal:
    deal = Deal.objects.get(pk=deal.pk)
    for field, value in changes.items():
        setattr(deal, field, value)
    return deal_save(deal=deal, by=by)


# --- Deals ----------------------------------------------------------------------------------


def test_a_page_edit_records_who_when_and_the_old_and_new_values(client, rep):
    deal = deal_save(
        deal=Deal(name="Acme", owner=rep, stage=default_stage("Prospecting"), amount=100),
        by=rep,
    )
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:deal-detail", args=[deal.pk]),
        {"name": "Acme – 50 seats", "amount": "1500", "version": deal.version},
    )
    assert response.status_code == 302
    latest, created = Deal.history.filter(id=deal.pk).order_by("-history_id")
    assert latest.history_user == rep and latest.history_type == "~"
    changes = {c.field: (c.old, c.new) for c in latest.diff_against(created).changes}
    assert changes["name"] == ("Acme", "Acme – 50 seats")
    assert changes["amount"] == (Decimal("100.00"), Decimal("1500"))


def test_a_service_call_without_a_request_records_its_by(rep, manager):
    # A command or a Celery task has no request for the middleware: `by` names the user.
    deal = DealFactory(owner=rep)
    deal_move_to_stage(deal=deal, stage=default_stage("Proposal"), by=manager)
    record = Deal.history.filter(id=deal.pk).latest()
    assert record.history_user == manager
    assert record.stage == default_stage("Proposal")


def test_the_history_panel_lists_every_change_newest_first(client, rep, manager):
    deal = deal_save(
        deal=Deal(name="Globex", owner=rep, stage=default_stage("Prospecting"), amount=100),
        by=rep,
    )
    edit(deal, rep, amount=Decimal("250"))
    deal_move_to_stage(
        deal=Deal.objects.get(pk=deal.pk), stage=default_stage("Proposal"), by=manager
    )
    entries = deal_change_history(deal=deal)
    assert [entry.kind for entry in entries] == ["changed", "changed", "created"]
    assert [(c.label, c.old, c.new) for c in entries[0].changes] == [
        ("Stage", "Prospecting", "Proposal")
    ]
    assert entries[0].user == str(manager)
    assert [(c.label, c.old, c.new) for c in entries[1].changes] == [("Amount", "100.00", "250.00")]
    client.force_login(rep)
    page = client.get(reverse("pipeline:deal-detail", args=[deal.pk])).content.decode()
    assert "<h2>History</h2>" in page
    assert "Stage: <del>Prospecting</del> → <ins>Proposal</ins>" in page
    assert "Amount: <del>$100.00</del> → <ins>$250.00</ins>" in page  # as the page writes money
    assert page.index("Proposal</ins>") < page.index("250.00</ins>")  # newest first


@pytest.mark.parametrize("changes", [2, 20])
def test_the_deal_page_reads_its_history_in_bounded_queries(
    client, rep, manager, changes, django_assert_max_num_queries
):
    deal = DealFactory(owner=rep, amount=Decimal("1"))
    for number in range(changes):
        # Alternating authors and fields, companies too: every related name is looked up.
        deal = edit(
            deal,
            rep if number % 2 else manager,
            amount=Decimal(number + 2),
            company=CompanyFactory(),
        )
    client.force_login(rep)
    # 9 today, whatever the number of changes: session, user, deal, may-change (accounts.
    # access), stages, stage moves, history rows with their users, the companies they name,
    # the product choices.
    with django_assert_max_num_queries(9):
        response = client.get(reverse("pipeline:deal-detail", args=[deal.pk]))
    assert response.status_code == 200
    assert len(response.context["changes"]) == changes + 1


def test_the_api_returns_a_deals_history_with_the_deals_visibility(client, rep, other_rep, manager):
    deal = DealFactory(owner=rep, amount=Decimal("10"))
    edit(deal, manager, amount=Decimal("20"))
    client.force_login(rep)
    body = client.get(f"/api/v1/deals/{deal.pk}/history/").json()
    assert body[0]["kind"] == "changed"
    assert body[0]["user_id"] == manager.pk
    assert body[0]["changes"] == [
        {"field": "amount", "label": "Amount", "old": "10.00", "new": "20.00"}
    ]
    assert body[-1]["kind"] == "created"
    client.force_login(other_rep)
    assert client.get(f"/api/v1/deals/{deal.pk}/history/").status_code == 404


def test_the_admin_shows_a_deals_history(client, rep, admin_user):
    deal = DealFactory(owner=rep)
    edit(deal, rep, name="Renamed in the app")
    client.force_login(admin_user)
    response = client.get(reverse("admin:pipeline_deal_history", args=[deal.pk]))
    assert response.status_code == 200
    assert "Renamed in the app" in response.content.decode()


# --- Leads, targets, teams, users -----------------------------------------------------------


def test_lead_changes_are_recorded(client, rep):
    lead = LeadFactory(owner=rep)
    lead_set_status(lead=lead, status="working", by=rep)
    record = Lead.history.filter(id=lead.pk).latest()
    assert (record.status, record.history_user) == ("working", rep)
    client.force_login(rep)
    client.post(reverse("pipeline:lead-status", args=[lead.pk]), {"status": "qualified"})
    record = Lead.history.filter(id=lead.pk).latest()
    assert (record.status, record.history_user) == ("qualified", rep)


def test_target_changes_are_recorded_with_who_set_them(manager, rep):
    quarter = dt.date(2026, 1, 1)
    targets_set(by=manager, changes=[TargetCell("quarter", quarter, Decimal(1000), user_id=rep.pk)])
    targets_set(by=manager, changes=[TargetCell("quarter", quarter, Decimal(1500), user_id=rep.pk)])
    targets_set(by=manager, changes=[TargetCell("quarter", quarter, None, user_id=rep.pk)])
    records = list(Target.history.order_by("history_id"))
    assert [(r.history_type, r.value, r.history_user) for r in records] == [
        ("+", Decimal("1000.00"), manager),
        ("~", Decimal("1500.00"), manager),
        ("-", Decimal("1500.00"), manager),
    ]


def test_team_and_user_changes_are_recorded_without_secrets(client, admin_user, rep):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:accounts_team_add"),
        {"name": "Team East", "children-TOTAL_FORMS": 0, "children-INITIAL_FORMS": 0},
    )
    assert response.status_code == 302, response.content
    assert Team.history.get(name="Team East").history_user == admin_user
    rep.set_password("a new long passphrase")
    rep.save()
    history_fields = {field.name for field in User.history.model._meta.fields}
    assert "password" not in history_fields and "last_login" not in history_fields
    assert User.history.filter(id=rep.pk).latest().history_type == "~"


def test_signing_in_records_nothing(client, rep):
    before = User.history.filter(id=rep.pk).count()
    client.force_login(rep)  # saves last_login only
    assert User.history.filter(id=rep.pk).count() == before


# --- Imports --------------------------------------------------------------------------------


def test_an_import_records_one_history_row_per_deal_written_and_none_unchanged(rep, admin_user):
    rows = [
        "A-1,First,Acme,rep,Prospecting,100,2026-01-05,,,,\n",
        "A-2,Second,Acme,rep,Won,200,2026-01-05,2026-01-20,,,\n",
    ]
    assert import_deals(io.StringIO(DEAL_HEADER + "".join(rows)), by=admin_user).written
    first = Deal.objects.get(external_id="A-1")
    mine = Deal.history.filter(external_id__in=["A-1", "A-2"])
    assert [
        (r.history_type, r.history_user, r.name, r.version)
        for r in Deal.history.filter(id=first.pk)
    ] == [("+", admin_user, "First", 1)]
    # The same file again: nothing changes, nothing is recorded.
    import_deals(io.StringIO(DEAL_HEADER + "".join(rows)), by=admin_user)
    assert mine.count() == 2
    # A changed amount: the deal's version goes up and a "~" row records the new value.
    rows[0] = rows[0].replace(",100,", ",150,")
    result = import_deals(io.StringIO(DEAL_HEADER + "".join(rows)), by=admin_user)
    assert (result.updated, result.unchanged) == (1, 1)
    first.refresh_from_db()
    assert first.version == 2
    latest = Deal.history.filter(id=first.pk).latest()
    assert (latest.history_type, latest.amount, latest.version) == ("~", Decimal("150.00"), 2)
    assert latest.history_user == admin_user
    assert mine.count() == 3


def test_a_reps_import_records_the_users_and_teams_it_writes(admin_user):
    header = "username,full_name,email,role,team,parent_team\n"
    body = "ann,Ann Lee,ann@example.com,manager,West,\nbob,Bob Roe,,rep,West,\n"
    assert import_reps(io.StringIO(header + body), by=admin_user).written
    west = Team.objects.get(name="West")
    assert [(r.history_type, r.manager_id) for r in Team.history.filter(id=west.pk)] == [
        ("+", User.objects.get(username="ann").pk)
    ]
    assert set(
        User.history.filter(history_user=admin_user).values_list("username", "history_type")
    ) == {("ann", "+"), ("bob", "+")}
    body = body.replace("Bob Roe", "Bob Roberts")
    import_reps(io.StringIO(header + body), by=admin_user)
    bob = User.history.filter(username="bob").latest()
    assert (bob.history_type, bob.last_name) == ("~", "Roberts")


# --- A clean trail: only real changes, written and shown as the pages write them -------------


class _FormFields(HTMLParser):
    """The fields a browser would submit from a page's form: inputs (checked boxes only),
    the selected option of each select, textareas."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.data[name] = a.get("value") or ""
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data


def form_as_shown(html: str) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(html)
    return parser.data


def page_text(response) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


# Stored with seconds and microseconds; the admin's inputs show minutes ("06:44").
CREATED = dt.datetime(2026, 11, 20, 9, 15, 42, 654321, tzinfo=dt.UTC)
CLOSED = dt.datetime(2026, 12, 2, 6, 44, 31, 123456, tzinfo=dt.UTC)


@pytest.fixture
def won_deal(rep):
    return DealFactory(
        owner=rep,
        name="Initech",
        stage=default_stage("Won"),
        amount=Decimal("40000.00"),
        created_at=CREATED,
        closed_at=CLOSED,
    )


def changed_fields(deal: Deal) -> list[str]:
    """The fields of the deal's latest history row that differ from the row before it,
    bookkeeping (the version every save raises) left out as the History pages leave it."""
    latest, previous = Deal.history.filter(id=deal.pk).order_by("-history_id")[:2]
    return sorted({c.field for c in latest.diff_against(previous).changes} - {"version"})


def test_an_admin_amount_edit_writes_and_records_only_the_amount(client, admin_user, won_deal):
    client.force_login(admin_user)
    url = reverse("admin:pipeline_deal_change", args=[won_deal.pk])
    data = form_as_shown(client.get(url).content.decode())
    assert (data["closed_at_0"], data["closed_at_1"]) == ("2026-12-02", "06:44")  # minutes
    before = Deal.history.filter(id=won_deal.pk).count()

    response = client.post(url, {**data, "amount": "45500.00"})

    assert response.status_code == 302, page_text(response)[:2000]
    won_deal.refresh_from_db()
    assert won_deal.amount == Decimal("45500.00")
    assert (won_deal.created_at, won_deal.closed_at) == (CREATED, CLOSED)  # to the microsecond
    assert Deal.history.filter(id=won_deal.pk).count() == before + 1
    assert changed_fields(won_deal) == ["amount"]

    history = page_text(client.get(reverse("admin:pipeline_deal_history", args=[won_deal.pk])))
    assert "Amount: $40,000.00 → $45,500.00" in history
    assert "Closed at" not in history and "Created at" not in history
    assert "None" not in history
    assert "2026-12-02T" not in history  # no raw ISO times


def test_an_admin_save_that_changes_nothing_records_nothing(client, admin_user, won_deal):
    client.force_login(admin_user)
    url = reverse("admin:pipeline_deal_change", args=[won_deal.pk])
    data = form_as_shown(client.get(url).content.decode())
    before = Deal.history.filter(id=won_deal.pk).count()
    assert client.post(url, data).status_code == 302
    won_deal.refresh_from_db()
    assert (won_deal.closed_at, won_deal.version) == (CLOSED, 1)
    assert Deal.history.filter(id=won_deal.pk).count() == before


def test_an_admin_time_changed_to_another_minute_is_saved(client, admin_user, won_deal):
    client.force_login(admin_user)
    url = reverse("admin:pipeline_deal_change", args=[won_deal.pk])
    data = form_as_shown(client.get(url).content.decode())
    assert client.post(url, {**data, "closed_at_1": "07:10"}).status_code == 302
    won_deal.refresh_from_db()
    assert won_deal.closed_at == dt.datetime(2026, 12, 2, 7, 10, tzinfo=dt.UTC)
    assert won_deal.created_at == CREATED
    assert changed_fields(won_deal) == ["closed_at"]


def test_an_app_amount_edit_writes_and_shows_only_the_amount(client, rep, won_deal):
    client.force_login(rep)
    url = reverse("pipeline:deal-detail", args=[won_deal.pk])
    page = client.get(url)
    bound = page.context["form"]
    data = {name: bound[name].value() for name in bound.fields}
    data = {name: "" if value is None else value for name, value in data.items()}
    before = Deal.history.filter(id=won_deal.pk).count()

    assert client.post(url, {**data, "amount": "45500"}).status_code == 302

    won_deal.refresh_from_db()
    assert (won_deal.amount, won_deal.created_at, won_deal.closed_at) == (
        Decimal("45500.00"),
        CREATED,
        CLOSED,
    )
    assert Deal.history.filter(id=won_deal.pk).count() == before + 1
    assert changed_fields(won_deal) == ["amount"]
    entry = deal_change_history(deal=won_deal)[0]
    assert [(c.label, c.old_displayed, c.new_displayed) for c in entry.changes] == [
        ("Amount", "$40,000.00", "$45,500.00")
    ]
    text = page_text(client.get(url))
    assert "Amount: $40,000.00 → $45,500.00" in text
    assert "None" not in text


def test_a_service_save_that_changes_nothing_keeps_the_version_and_records_nothing(rep):
    deal = DealFactory(owner=rep)
    before = Deal.history.filter(id=deal.pk).count()
    saved = deal_save(deal=Deal.objects.get(pk=deal.pk), by=rep)
    assert saved.version == Deal.objects.get(pk=deal.pk).version == 1
    assert Deal.history.filter(id=deal.pk).count() == before


def test_an_old_microseconds_only_change_is_not_shown(rep):
    # A row written before this fix: closed_at lost its microseconds, nothing else changed.
    deal = DealFactory(owner=rep, stage=default_stage("Won"), created_at=CREATED, closed_at=CLOSED)
    Deal.objects.filter(pk=deal.pk).update(closed_at=CLOSED.replace(microsecond=0))
    edit(deal, rep, closed_at=CLOSED.replace(microsecond=0), amount=Decimal("5"))
    assert [c.field for c in deal_change_history(deal=deal)[0].changes] == ["amount"]


def test_an_admin_lead_edit_keeps_its_created_time(client, admin_user, rep):
    lead = LeadFactory(owner=rep, created_at=CREATED, contact_name="Ann")
    client.force_login(admin_user)
    url = reverse("admin:pipeline_lead_change", args=[lead.pk])
    data = form_as_shown(client.get(url).content.decode())
    assert client.post(url, {**data, "contact_name": "Ann Lee"}).status_code == 302
    lead.refresh_from_db()
    assert (lead.contact_name, lead.created_at) == ("Ann Lee", CREATED)
    latest, previous = Lead.history.filter(id=lead.pk).order_by("-history_id")[:2]
    assert [c.field for c in latest.diff_against(previous).changes] == ["contact_name"]


def test_an_admin_target_edit_records_the_value_as_money_and_nothing_when_unchanged(
    client, admin_user, manager, rep
):
    quarter = dt.date(2026, 1, 1)
    targets_set(by=manager, changes=[TargetCell("quarter", quarter, Decimal(1000), user_id=rep.pk)])
    target = Target.objects.get(user=rep)
    client.force_login(admin_user)
    url = reverse("admin:metrics_target_change", args=[target.pk])
    data = form_as_shown(client.get(url).content.decode())
    assert client.post(url, data).status_code == 302
    assert Target.history.filter(id=target.pk).count() == 1  # the same value: nothing new
    assert client.post(url, {**data, "value": "1500.00"}).status_code == 302
    assert Target.history.filter(id=target.pk).count() == 2
    history = page_text(client.get(reverse("admin:metrics_target_history", args=[target.pk])))
    assert "Value: $1,000.00 → $1,500.00" in history
    assert "None" not in history
