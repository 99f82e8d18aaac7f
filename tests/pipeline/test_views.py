"""The reps' pages: deals (list, board, create, page, move, close, quick add) and leads
(list, add, status, convert). Each view: the happy path, people who may not see the row
(404), bad input (field errors, nothing written) and a query budget that holds at 1 and
at 30 rows."""

import datetime as dt
import html
import re
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts import access
from accounts.choices import Role
from pipeline import views
from pipeline.choices import LeadStatus
from pipeline.models import Company, Deal, Lead, StageChange
from pipeline.submissions import FIELD, form_token_issue
from tests.factories import (
    CompanyFactory,
    DealFactory,
    LeadFactory,
    LeadSourceFactory,
    PipelineFactory,
    StageFactory,
    UserFactory,
    default_stage,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def token(user, kind: str = "deal") -> dict[str, str]:
    """The one-time token a create form carries (tests/pipeline/test_double_submit.py)."""
    return {FIELD: form_token_issue(user=user, kind=kind)}


SIZES = pytest.mark.parametrize("size", [1, 30])


@pytest.fixture
def other_manager(other_team):
    """The manager of the sibling team: sees none of the rep's team's rows."""
    user = UserFactory(username="other_manager", team=other_team, role=Role.MANAGER)
    other_team.manager = user
    other_team.save()
    return user


def names_in(response) -> set[str]:
    """Deal names shown as links in a list or on the board."""
    found = re.findall(r'href="/deals/\d+/">([^<]+)</a>', response.content.decode())
    return {html.unescape(name) for name in found}


def field_errors(response, field: str) -> list[str]:
    form = response.context["form"]
    return form.errors.get(field, [])


# --- Permissions --------------------------------------------------------------------------


def test_edit_predicates_follow_the_roles(
    rep, other_rep, outsider_rep, manager, other_manager, region_manager, admin_user
):
    deal = DealFactory(owner=rep)
    lead = LeadFactory(owner=rep)
    for obj in (deal, lead):
        for action in ("view", "change", "delete"):
            assert access.can(rep, action, obj)
            assert access.can(manager, action, obj)
            assert access.can(region_manager, action, obj)
            assert access.can(admin_user, action, obj)
            assert not access.can(other_rep, action, obj)
            assert not access.can(outsider_rep, action, obj)
            assert not access.can(other_manager, action, obj)


# --- Deal list ----------------------------------------------------------------------------


def test_rep_sees_only_their_own_deals(client, rep, other_rep):
    DealFactory(owner=rep, name="Mine")
    DealFactory(owner=other_rep, name="Teammate's")
    client.force_login(rep)
    response = client.get(reverse("pipeline:deal-list"))
    assert response.status_code == 200
    assert names_in(response) == {"Mine"}


def test_manager_sees_the_team_tree_not_the_sibling_team(client, rep, outsider_rep, manager):
    DealFactory(owner=rep, name="Team deal")
    DealFactory(owner=outsider_rep, name="Other team deal")
    client.force_login(manager)
    response = client.get(reverse("pipeline:deal-list"))
    assert names_in(response) == {"Team deal"}
    assert "Owner" in response.content.decode()


def test_anonymous_users_go_to_the_login_page(client):
    response = client.get(reverse("pipeline:deal-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_list_filters_by_status_stage_company_and_search(client, rep):
    acme = CompanyFactory(name="Acme")
    DealFactory(owner=rep, name="Open one", company=acme)
    DealFactory(owner=rep, name="Won one", stage=default_stage("Won"))
    DealFactory(owner=rep, name="Lost one", stage=default_stage("Lost"))
    DealFactory(owner=rep, name="Proposal one", stage=default_stage("Proposal"))
    client.force_login(rep)
    url = reverse("pipeline:deal-list")

    assert names_in(client.get(url, {"status": "won"})) == {"Won one"}
    assert names_in(client.get(url, {"status": "open"})) == {"Open one", "Proposal one"}
    proposal = default_stage("Proposal").pk
    assert names_in(client.get(url, {"stage": proposal})) == {"Proposal one"}
    assert names_in(client.get(url, {"company_name": "acm"})) == {"Open one"}
    assert names_in(client.get(url, {"company": acme.pk})) == {"Open one"}
    assert names_in(client.get(url, {"q": "ACME"})) == {"Open one"}
    assert names_in(client.get(url, {"q": "lost"})) == {"Lost one"}


@pytest.mark.parametrize("cap", [0, 1, 1000])
def test_a_search_finds_the_same_deals_and_leads_whichever_way_it_reads_companies(
    client, rep, monkeypatch, cap
):
    """A search matches the companies by id when few do, by a join when many do (cap 0
    and 1: the join; 1000: the ids): the same rows either way."""
    from pipeline import querysets

    monkeypatch.setattr(querysets, "COMPANY_IDS_CAP", cap)
    north, south = CompanyFactory(name="Acme North"), CompanyFactory(name="Acme South")
    DealFactory(owner=rep, name="Boiler", company=north)
    DealFactory(owner=rep, name="Pumps", company=south)
    DealFactory(owner=rep, name="Acme spares")  # by its own name, no company
    DealFactory(owner=rep, name="Valves", company=CompanyFactory(name="Globex"))
    LeadFactory(owner=rep, company=south, contact_name="Ann Lee")
    LeadFactory(owner=rep, company=CompanyFactory(name="Initech"), contact_name="Bob Acme")
    client.force_login(rep)
    deals = names_in(client.get(reverse("pipeline:deal-list"), {"q": "acme"}))
    assert deals == {"Boiler", "Pumps", "Acme spares"}
    assert names_in(client.get(reverse("pipeline:deal-list"), {"q": "south"})) == {"Pumps"}
    leads = Lead.objects.visible_to(rep).search("ACME")
    assert sorted(lead.contact_name for lead in leads) == ["Ann Lee", "Bob Acme"]


def test_list_filters_by_closing_period(client, rep):
    today = timezone.localdate()
    DealFactory(owner=rep, name="Closing this month", expected_close_date=today)
    DealFactory(owner=rep, name="Closing later", expected_close_date=today + dt.timedelta(400))
    won_now = DealFactory(owner=rep, name="Won this month", stage=default_stage("Won"))
    won_now.closed_at = timezone.now()
    won_now.save()
    DealFactory(
        owner=rep,
        name="Won long ago",
        stage=default_stage("Won"),
        created_at=timezone.now() - dt.timedelta(days=800),
    )
    client.force_login(rep)
    response = client.get(reverse("pipeline:deal-list"), {"period": "this_month"})
    assert names_in(response) == {"Closing this month", "Won this month"}


def test_manager_filters_by_owner(client, rep, other_rep, manager):
    DealFactory(owner=rep, name="Rep's")
    DealFactory(owner=other_rep, name="Other rep's")
    client.force_login(manager)
    response = client.get(reverse("pipeline:deal-list"), {"owner": other_rep.pk})
    assert names_in(response) == {"Other rep's"}


def test_list_sorts_by_a_whitelisted_column_both_ways(client, rep):
    for name, amount in [("Small", "10"), ("Large", "900"), ("Medium", "300")]:
        DealFactory(owner=rep, name=name, amount=Decimal(amount))
    client.force_login(rep)
    url = reverse("pipeline:deal-list")

    def order(sort):
        body = client.get(url, {"sort": sort}).content.decode()
        return re.findall(r'href="/deals/\d+/">(Small|Large|Medium)</a>', body)

    assert order("amount") == ["Small", "Medium", "Large"]
    assert order("-amount") == ["Large", "Medium", "Small"]
    assert order("name") == ["Large", "Medium", "Small"]


def test_list_paginates_by_25_and_page_links_keep_the_filters(client, rep):
    for number in range(30):
        DealFactory(owner=rep, name=f"Deal {number:02}", amount=Decimal(number))
    DealFactory(owner=rep, name="Won deal", stage=default_stage("Won"))
    client.force_login(rep)
    url = reverse("pipeline:deal-list")

    first = client.get(url, {"status": "open", "sort": "amount"})
    assert names_in(first) == {f"Deal {number:02}" for number in range(25)}
    assert "?status=open&amp;sort=amount&amp;page=2" in first.content.decode()
    second = client.get(url, {"status": "open", "sort": "amount", "page": 2})
    assert names_in(second) == {f"Deal {number:02}" for number in range(25, 30)}


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"sort": "password"}, "sort"),
        ({"stage": "not-a-number"}, "stage"),
        ({"status": "maybe"}, "status"),
        ({"period": "someday"}, "period"),
        ({"owner": "abc"}, "owner"),
        ({"company": "Acme"}, "company"),
        ({"created_after": "2026-02-30"}, "created_after"),
        ({"page": "999"}, None),
        ({"page": "-1"}, None),
        ({"q": "\x00%_'"}, "q"),
    ],
)
def test_bad_list_parameters_show_an_error_and_leave_the_list_unfiltered(client, rep, query, error):
    DealFactory(owner=rep, name="Still here")
    client.force_login(rep)
    response = client.get(reverse("pipeline:deal-list"), query)
    assert response.status_code == 200
    assert list(response.context["filter"].errors) == ([error] if error else [])
    if error:
        assert 'class="errorlist' in response.content.decode()
    assert names_in(response) == {"Still here"}


def test_an_id_that_names_nothing_you_may_see_matches_nothing(client, rep, other_rep):
    DealFactory(owner=rep, name="Mine")
    DealFactory(owner=other_rep, name="Teammate's")
    client.force_login(rep)
    url = reverse("pipeline:deal-list")
    for query in ({"stage": "999999"}, {"owner": other_rep.pk}, {"owner": "987654321"}):
        response = client.get(url, query)
        assert names_in(response) == set()
        assert "No deals match these filters." in response.content.decode()
    assert names_in(client.get(url, {"owner": rep.pk})) == {"Mine"}


def test_empty_list_offers_a_next_step(client, rep):
    client.force_login(rep)
    body = client.get(reverse("pipeline:deal-list")).content.decode()
    assert "No deals yet — add your first deal" in body


@SIZES
@pytest.mark.parametrize("persona", ["rep", "manager", "admin_user"])
def test_deal_list_query_budget(
    client, request, rep, manager, size, persona, django_assert_max_num_queries
):
    DealFactory.create_batch(size, owner=rep)
    client.force_login(request.getfixturevalue(persona))
    with django_assert_max_num_queries(12):
        response = client.get(reverse("pipeline:deal-list"), {"sort": "-amount", "q": "Deal"})
    assert response.status_code == 200
    assert len(names_in(response)) == min(size, 25)


# --- Board --------------------------------------------------------------------------------


def test_board_shows_open_deals_by_stage_with_totals(client, rep, other_rep):
    DealFactory(owner=rep, name="P1", amount=Decimal("100"))
    DealFactory(owner=rep, name="P2", amount=Decimal("250"))
    DealFactory(owner=rep, name="N1", stage=default_stage("Negotiation"))
    DealFactory(owner=rep, name="Won", stage=default_stage("Won"))
    DealFactory(owner=other_rep, name="Not mine")
    client.force_login(rep)
    response = client.get(reverse("pipeline:deal-board"))
    assert response.status_code == 200
    assert names_in(response) == {"P1", "P2", "N1"}
    first = response.context["columns"][0]
    assert (first.stage.name, first.count, first.amount) == ("Prospecting", 2, Decimal("350"))
    assert "js/board.js" in response.content.decode()


def test_board_caps_each_column_and_links_to_the_rest(client, rep, monkeypatch):
    monkeypatch.setattr(views, "BOARD_CARDS_PER_COLUMN", 2)
    DealFactory.create_batch(5, owner=rep)
    client.force_login(rep)
    response = client.get(reverse("pipeline:deal-board"))
    assert len(names_in(response)) == 2
    body = response.content.decode()
    assert "+3 more in the list" in body
    assert f"?stage={default_stage('Prospecting').pk}&amp;status=open" in body


def test_empty_board_offers_quick_add(client, rep):
    client.force_login(rep)
    body = client.get(reverse("pipeline:deal-board")).content.decode()
    assert "No open deals yet — add your first deal" in body
    assert reverse("pipeline:deal-quick-add") in body


@SIZES
@pytest.mark.parametrize("persona", ["rep", "manager"])
def test_board_query_budget(client, request, rep, size, persona, django_assert_max_num_queries):
    for stage in ["Prospecting", "Proposal"]:
        DealFactory.create_batch(size, owner=rep, stage=default_stage(stage))
    client.force_login(request.getfixturevalue(persona))
    with django_assert_max_num_queries(12):
        response = client.get(reverse("pipeline:deal-board"))
    assert len(names_in(response)) == 2 * size


# --- Move ---------------------------------------------------------------------------------


def test_moving_on_the_board_records_one_stage_change_per_move(client, rep):
    deal = DealFactory(owner=rep, name="Mover")
    client.force_login(rep)
    url = reverse("pipeline:deal-move", args=[deal.pk])
    for name in ["Qualification", "Proposal", "Qualification"]:
        response = client.post(url, {"stage": default_stage(name).pk}, **HTMX)
        assert response.status_code == 200

    moves = list(
        StageChange.objects.filter(deal=deal)
        .order_by("pk")
        .values_list("from_stage__name", "to_stage__name", "changed_by__username")
    )
    assert moves == [
        ("Prospecting", "Qualification", "rep"),
        ("Qualification", "Proposal", "rep"),
        ("Proposal", "Qualification", "rep"),
    ]
    # The htmx answer is what the move changed, swapped in out of band (the response
    # swaps nothing else): the card out of its old place and on top of its new column,
    # both columns' heads with their totals.
    assert response.templates[0].name == "pipeline/_board_moved.html"
    assert response["HX-Reswap"] == "none"
    move = response.context["move"]
    assert (move.source.stage.name, move.target.stage.name) == ("Proposal", "Qualification")
    assert (move.target.count, move.source.count) == (1, 0)
    body = response.content.decode()
    qualification = default_stage("Qualification").pk
    proposal = default_stage("Proposal").pk
    on_top = re.search(
        rf'hx-swap-oob="afterbegin:#board-cards-{qualification}">\s*'
        rf'<li class="board-card" id="deal-{deal.pk}"',
        body,
    )
    assert on_top and body.index(f'<li id="deal-{deal.pk}" hx-swap-oob="delete">') < on_top.start()
    # The new column had no card: its "nothing here" line goes; the old one has none left.
    assert f'<li id="board-empty-{qualification}" hx-swap-oob="delete">' in body
    assert re.search(rf'beforeend:#board-cards-{proposal}">\s*<li class="board-empty"', body)
    for stage in (qualification, proposal):
        assert f'id="board-head-{stage}" hx-swap-oob="outerHTML"' in body
        assert f'id="board-more-{stage}" hx-swap-oob="outerHTML"' in body
    assert body.count('class="board-card"') == 1  # one card drawn, not two columns
    # Its arrows lead on from the new column: back to Prospecting, on to Proposal.
    assert f'name="stage" value="{default_stage("Prospecting").pk}"' in body
    # And the message above the columns is cleared (a refused move may have set it).
    assert '<div id="board-message" hx-swap-oob="true"></div>' in body


def test_a_move_on_a_full_board_swaps_the_cards_at_the_columns_edges(client, rep, monkeypatch):
    """Columns show their 2 most recently changed cards here: the moved card tops its new
    column and pushes that column's second card out; its old column's third card comes in
    at the bottom. The board drawn after the move shows exactly that."""
    monkeypatch.setattr(views, "BOARD_CARDS_PER_COLUMN", 2)
    now = timezone.now()
    prospecting, qualification = default_stage("Prospecting"), default_stage("Qualification")
    deals = {}
    for name, stage, minutes in [
        ("P1", prospecting, 1),
        ("P2", prospecting, 2),
        ("P3", prospecting, 3),
        ("Q1", qualification, 4),
        ("Q2", qualification, 5),
    ]:
        deals[name] = DealFactory(owner=rep, name=name, stage=stage)
        Deal.objects.filter(pk=deals[name].pk).update(
            updated_at=now - dt.timedelta(minutes=minutes)
        )
    client.force_login(rep)
    board = client.get(reverse("pipeline:deal-board"))
    shown = {c.stage.name: [d.name for d in c.deals] for c in board.context["columns"]}
    assert shown["Prospecting"] == ["P1", "P2"] and shown["Qualification"] == ["Q1", "Q2"]

    url = reverse("pipeline:deal-move", args=[deals["P1"].pk])
    response = client.post(url, {"stage": qualification.pk}, **HTMX)
    move = response.context["move"]
    assert move.card.name == "P1"
    assert move.leaves == deals["Q2"].pk  # pushed past the second card of Qualification
    assert move.enters.name == "P3"  # now the second card of Prospecting
    body = response.content.decode()
    assert f'<li id="deal-{deals["Q2"].pk}" hx-swap-oob="delete">' in body
    assert re.search(
        rf'beforeend:#board-cards-{prospecting.pk}">\s*<li class="board-card" '
        rf'id="deal-{deals["P3"].pk}"',
        body,
    )
    assert "+1 more in the list" in body  # Qualification: 3 deals, 2 shown
    assert body.count('class="board-card"') == 2

    after = client.get(reverse("pipeline:deal-board"))
    shown = {c.stage.name: [d.name for d in c.deals] for c in after.context["columns"]}
    assert shown["Prospecting"] == ["P2", "P3"] and shown["Qualification"] == ["P1", "Q1"]


def test_move_without_htmx_redirects_back(client, rep):
    deal = DealFactory(owner=rep)
    client.force_login(rep)
    url = reverse("pipeline:deal-move", args=[deal.pk])
    response = client.post(url, {"stage": default_stage("Proposal").pk})
    assert response.status_code == 302
    assert response["Location"] == reverse("pipeline:deal-board")
    detail = reverse("pipeline:deal-detail", args=[deal.pk])
    response = client.post(url, {"stage": default_stage("Negotiation").pk, "next": detail})
    assert response["Location"] == detail
    evil = client.post(url, {"stage": default_stage("Proposal").pk, "next": "https://evil.test/"})
    assert evil["Location"] == reverse("pipeline:deal-board")


@pytest.mark.parametrize("stage", ["Won", "Lost", "other pipeline", "garbage", ""])
def test_move_refuses_closed_and_foreign_stages(client, rep, stage):
    deal = DealFactory(owner=rep)
    if stage in ("Won", "Lost"):
        value = default_stage(stage).pk
    elif stage == "other pipeline":
        value = StageFactory(pipeline=PipelineFactory(name="Renewals")).pk
    else:
        value = stage
    client.force_login(rep)
    response = client.post(reverse("pipeline:deal-move", args=[deal.pk]), {"stage": value}, **HTMX)
    assert response.status_code == 200
    assert "open stages" in response.context["board_error"]
    assert StageChange.objects.count() == 0
    assert Deal.objects.get(pk=deal.pk).stage.name == "Prospecting"


def test_manager_moves_a_team_deal(client, rep, manager):
    deal = DealFactory(owner=rep)
    client.force_login(manager)
    url = reverse("pipeline:deal-move", args=[deal.pk])
    client.post(url, {"stage": default_stage("Proposal").pk}, **HTMX)
    assert StageChange.objects.get(deal=deal).changed_by == manager


def test_move_needs_post(client, rep):
    deal = DealFactory(owner=rep)
    client.force_login(rep)
    assert client.get(reverse("pipeline:deal-move", args=[deal.pk])).status_code == 405


@SIZES
def test_move_query_budget(client, rep, size, django_assert_max_num_queries):
    deals = DealFactory.create_batch(size, owner=rep)
    client.force_login(rep)
    url = reverse("pipeline:deal-move", args=[deals[0].pk])
    proposal = default_stage("Proposal").pk
    # About ten of these are deal_save's full_clean (a check per foreign key and
    # constraint); the two columns that come back cost less than a GET of the board.
    with django_assert_max_num_queries(26):
        client.post(url, {"stage": proposal}, **HTMX)
    assert StageChange.objects.count() == 1


# --- Create -------------------------------------------------------------------------------


def test_rep_creates_a_deal_that_is_theirs(client, rep, other_rep):
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:deal-create"),
        {
            "name": "Acme – 50 seats",
            "company_name": "  Acme   Corp ",
            "amount": "12,500.50",
            "expected_close_date": "2027-01-31",
            "stage": default_stage("Qualification").pk,
            "owner": other_rep.pk,  # ignored: a rep's new deal is theirs
            **token(rep),
        },
    )
    deal = Deal.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("pipeline:deal-detail", args=[deal.pk])
    assert (deal.owner, deal.team, deal.company.name, deal.amount, deal.stage.name) == (
        rep,
        rep.team,
        "Acme Corp",
        Decimal("12500.50"),
        "Qualification",
    )
    assert deal.expected_close_date == dt.date(2027, 1, 31)


def test_company_is_matched_without_regard_to_case(client, rep):
    acme = CompanyFactory(name="Acme Corp")
    client.force_login(rep)
    client.post(
        reverse("pipeline:deal-create"),
        {
            "name": "Second",
            "company_name": "ACME corp",
            "stage": default_stage("Prospecting").pk,
            **token(rep),
        },
    )
    assert Deal.objects.get().company == acme
    assert Company.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": ""}, "name", "required"),
        ({"amount": "-5"}, "amount", "Enter an amount of 0 or more."),
        ({"amount": "lots"}, "amount", "Enter an amount such as 1234.50."),
        # In words, not "no more than 14 digits in total": 10^12 - 0.01 is the largest.
        ({"amount": "1e20"}, "amount", "Enter an amount of at most 999,999,999,999.99."),
        ({"amount": "1000000000000"}, "amount", "at most 999,999,999,999.99."),
        ({"amount": "12.345"}, "amount", "Enter an amount with at most 2 decimals."),
        ({"amount": "NaN"}, "amount", "Enter an amount such as 1234.50."),
        ({"expected_close_date": "31/31/2027"}, "expected_close_date", "valid date"),
        ({"stage": "abc"}, "stage", "valid choice"),
        ({"company_name": "x" * 201}, "company_name", "At most 200 characters (you entered 201)."),
    ],
)
def test_create_with_bad_input_shows_field_errors_and_writes_nothing(
    client, rep, data, field, message
):
    client.force_login(rep)
    good = {
        "name": "Fine",
        "company_name": "New Company",
        "amount": "10",
        "stage": default_stage("Prospecting").pk,
        **token(rep),
    }
    response = client.post(reverse("pipeline:deal-create"), {**good, **data})
    assert response.status_code == 200
    assert any(message in error for error in field_errors(response, field))
    body = response.content.decode()
    assert 'class="field invalid' in body and 'class="errorlist' in body
    assert Deal.objects.count() == 0
    assert Company.objects.count() == 0


def test_manager_assigns_a_deal_to_someone_on_the_team_only(client, rep, outsider_rep, manager):
    client.force_login(manager)
    url = reverse("pipeline:deal-create")
    data = {"name": "Team deal", "stage": default_stage("Prospecting").pk, **token(manager)}

    refused = client.post(url, {**data, "owner": outsider_rep.pk})
    assert field_errors(refused, "owner")
    assert Deal.objects.count() == 0

    client.post(url, {**data, "owner": rep.pk})
    deal = Deal.objects.get()
    assert (deal.owner, deal.company) == (rep, None)


@pytest.mark.parametrize("persona", ["rep", "manager"])
def test_create_form_query_budget(client, request, persona, django_assert_max_num_queries):
    client.force_login(request.getfixturevalue(persona))
    with django_assert_max_num_queries(10):
        response = client.get(reverse("pipeline:deal-create"))
    assert response.status_code == 200


# --- Deal page ----------------------------------------------------------------------------


def test_deal_page_shows_the_deal_and_its_stage_history(client, rep, manager):
    deal = DealFactory(owner=rep, name="History")
    client.force_login(rep)
    client.post(
        reverse("pipeline:deal-move", args=[deal.pk]), {"stage": default_stage("Proposal").pk}
    )
    response = client.get(reverse("pipeline:deal-detail", args=[deal.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Prospecting → <strong>Proposal</strong>" in body
    assert "by First" in body
    assert response.context["form"] is not None


def test_deal_page_saves_an_edit(client, rep):
    deal = DealFactory(owner=rep, name="Old name", amount=Decimal("5"))
    client.force_login(rep)
    url = reverse("pipeline:deal-detail", args=[deal.pk])
    response = client.post(
        url, {"name": "New name", "company_name": "Brand New Ltd", "amount": "7.25"}
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.name, deal.company.name, deal.amount) == (
        "New name",
        "Brand New Ltd",
        Decimal("7.25"),
    )
    assert StageChange.objects.count() == 0


def test_deal_page_rejects_bad_input_inline_and_changes_nothing(client, rep):
    deal = DealFactory(owner=rep, name="Keep me", amount=Decimal("5"))
    companies = Company.objects.count()
    client.force_login(rep)
    url = reverse("pipeline:deal-detail", args=[deal.pk])
    response = client.post(url, {"name": "Renamed", "company_name": "Fresh Co", "amount": "-1"})
    assert response.status_code == 200
    assert field_errors(response, "amount")
    # The header still shows the saved name, not the rejected edit.
    assert "<h1>Keep me</h1>" in response.content.decode()
    deal.refresh_from_db()
    assert (deal.name, deal.amount) == ("Keep me", Decimal("5"))
    assert Company.objects.count() == companies


@pytest.mark.parametrize("persona", ["other_rep", "outsider_rep", "other_manager"])
def test_people_who_cannot_see_a_deal_get_404_everywhere(client, request, rep, persona):
    deal = DealFactory(owner=rep, name="Private")
    client.force_login(request.getfixturevalue(persona))
    detail = reverse("pipeline:deal-detail", args=[deal.pk])
    close = reverse("pipeline:deal-close", args=[deal.pk])
    move = reverse("pipeline:deal-move", args=[deal.pk])
    assert client.get(detail).status_code == 404
    assert client.post(detail, {"name": "Hacked"}).status_code == 404
    assert client.post(move, {"stage": default_stage("Proposal").pk}, **HTMX).status_code == 404
    assert client.get(close).status_code == 404
    assert client.post(close, {"outcome": "lost", "lost_reason": "x"}).status_code == 404
    deal.refresh_from_db()
    assert (deal.name, deal.stage.name) == ("Private", "Prospecting")
    assert StageChange.objects.count() == 0


def _read_only(monkeypatch) -> None:
    """Make every row readable as today but changeable by nobody (the one rule of
    accounts.access, which pages, lists and services all ask)."""
    rule = access._rule
    monkeypatch.setattr(
        access,
        "_rule",
        lambda model, user, action: (
            rule(model, user, action) if action == "view" else access._NOTHING
        ),
    )


def test_a_deal_that_is_visible_but_not_editable_is_read_only(client, rep, monkeypatch):
    """No role has this case today (reps see only their own deals); the views still
    answer 403 to a write, for the day the predicate and visibility differ."""
    deal = DealFactory(owner=rep, name="Read only")
    _read_only(monkeypatch)
    client.force_login(rep)
    detail = reverse("pipeline:deal-detail", args=[deal.pk])
    page = client.get(detail)
    assert page.status_code == 200
    assert page.context["form"] is None
    assert "Save changes" not in page.content.decode()
    assert client.post(detail, {"name": "Changed"}).status_code == 403
    move = reverse("pipeline:deal-move", args=[deal.pk])
    assert client.post(move, {"stage": default_stage("Proposal").pk}).status_code == 403
    close = reverse("pipeline:deal-close", args=[deal.pk])
    assert client.post(close, {"outcome": "lost", "lost_reason": "x"}).status_code == 403
    assert Deal.objects.get(pk=deal.pk).name == "Read only"


def test_manager_edits_a_team_deal_and_may_reassign_it(client, rep, other_rep, manager):
    deal = DealFactory(owner=rep)
    client.force_login(manager)
    url = reverse("pipeline:deal-detail", args=[deal.pk])
    response = client.post(url, {"name": "Reassigned", "amount": "1", "owner": other_rep.pk})
    assert response.status_code == 302
    assert Deal.objects.get(pk=deal.pk).owner == other_rep


@SIZES
def test_deal_page_query_budget(client, rep, size, django_assert_max_num_queries):
    deal = DealFactory(owner=rep)
    stages = [default_stage("Qualification"), default_stage("Proposal")]
    for number in range(size):
        deal.stage_changes.create(
            from_stage=stages[number % 2], to_stage=stages[(number + 1) % 2], changed_by=rep
        )
    client.force_login(rep)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("pipeline:deal-detail", args=[deal.pk]))
    assert len(response.context["history"]) == size


# --- Close --------------------------------------------------------------------------------


def test_mark_won_sets_amount_and_close_date_in_one_step(client, rep):
    deal = DealFactory(owner=rep, created_at=timezone.now() - dt.timedelta(days=10))
    client.force_login(rep)
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    response = client.post(
        reverse("pipeline:deal-close", args=[deal.pk]),
        {"outcome": "won", "amount": "4,200", "closed_on": yesterday.isoformat()},
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.stage.name, deal.amount) == ("Won", Decimal("4200"))
    assert timezone.localtime(deal.closed_at).date() == yesterday
    change = StageChange.objects.get(deal=deal)
    assert (change.to_stage.name, change.changed_by, change.changed_at) == (
        "Won",
        rep,
        deal.closed_at,
    )


def test_mark_won_today_from_the_board_returns_to_the_board(client, rep):
    deal = DealFactory(owner=rep)
    client.force_login(rep)
    board = reverse("pipeline:deal-board")
    url = reverse("pipeline:deal-close", args=[deal.pk])
    page = client.get(url, {"outcome": "won", "next": board})
    assert page.status_code == 200
    assert 'value="/deals/board/"' in page.content.decode()
    response = client.post(url, {"outcome": "won", "amount": "10", "next": board})
    assert response["Location"] == board
    assert Deal.objects.get(pk=deal.pk).closed_at is not None


def test_mark_lost_needs_a_reason(client, rep):
    deal = DealFactory(owner=rep)
    client.force_login(rep)
    url = reverse("pipeline:deal-close", args=[deal.pk])

    refused = client.post(url, {"outcome": "lost", "lost_reason": "  "})
    assert refused.status_code == 200
    assert field_errors(refused, "lost_reason")
    assert Deal.objects.get(pk=deal.pk).closed_at is None

    client.post(url, {"outcome": "lost", "lost_reason": "Price"})
    deal.refresh_from_db()
    assert (deal.stage.name, deal.lost_reason) == ("Lost", "Price")
    assert deal.closed_at is not None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"amount": "-1"}, "amount"),
        ({"amount": ""}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"closed_on": "2999-01-01"}, "closed_on"),
        ({"closed_on": "2001-01-01"}, "closed_on"),
        ({"closed_on": "not a date"}, "closed_on"),
    ],
)
def test_mark_won_with_bad_input_changes_nothing(client, rep, data, field):
    deal = DealFactory(owner=rep)
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:deal-close", args=[deal.pk]), {"outcome": "won", "amount": "5", **data}
    )
    assert response.status_code == 200
    assert field_errors(response, field)
    assert Deal.objects.get(pk=deal.pk).stage.name == "Prospecting"
    assert StageChange.objects.count() == 0


def test_a_close_before_the_deal_was_created_names_the_day_as_pages_write_it(client, rep):
    deal = DealFactory(owner=rep, created_at=dt.datetime(2019, 1, 5, 10, 0, tzinfo=dt.UTC))
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:deal-close", args=[deal.pk]),
        {"outcome": "won", "amount": "5", "closed_on": "2019-01-04"},
    )
    assert field_errors(response, "closed_on") == ["The deal was created on 5 Jan 2019."]


def test_closing_twice_the_same_way_is_refused(client, rep):
    deal = DealFactory(owner=rep, stage=default_stage("Won"))
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:deal-close", args=[deal.pk]), {"outcome": "won", "amount": "1"}
    )
    assert "already won" in " ".join(response.context["form"].non_field_errors())


@SIZES
def test_close_query_budget(client, rep, size, django_assert_max_num_queries):
    deals = DealFactory.create_batch(size, owner=rep)
    client.force_login(rep)
    url = reverse("pipeline:deal-close", args=[deals[0].pk])
    with django_assert_max_num_queries(6):
        client.get(url)
    # 22: accounts.access asks once (one query) whether the rep may change the deal.
    with django_assert_max_num_queries(22):
        client.post(url, {"outcome": "lost", "lost_reason": "Timing"})
    assert Deal.objects.lost().count() == 1


# --- Quick add ----------------------------------------------------------------------------


def test_quick_add_creates_a_deal_and_answers_with_the_partial(client, rep):
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:deal-quick-add"),
        {"name": "Fast one", "company_name": "Speedy Ltd", "amount": "900", **token(rep)},
        **HTMX,
    )
    assert response.status_code == 200
    assert response.templates[0].name == "pipeline/_quick_add.html"
    deal = Deal.objects.get()
    assert (deal.owner, deal.stage.name, deal.company.name, deal.amount) == (
        rep,
        "Prospecting",
        "Speedy Ltd",
        Decimal("900"),
    )
    body = response.content.decode()
    assert "Added" in body and reverse("pipeline:deal-detail", args=[deal.pk]) in body
    assert 'value="Fast one"' not in body  # an empty form for the next one


def test_quick_add_shows_errors_and_writes_nothing(client, rep):
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:deal-quick-add"),
        {
            "name": "",
            "company_name": "Kept Co",
            "amount": "-3",
            "expected_close_date": "soon",
            **token(rep),
        },
        **HTMX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('class="errorlist') == 3
    assert 'value="Kept Co"' in body
    assert Deal.objects.count() == 0
    assert Company.objects.count() == 0


def test_quick_add_without_htmx_opens_the_new_deal(client, rep):
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:deal-quick-add"),
        {"name": "Plain", "company_name": "Form Co", **token(rep)},
    )
    assert response["Location"] == reverse("pipeline:deal-detail", args=[Deal.objects.get().pk])
    errors = client.post(reverse("pipeline:deal-quick-add"), {"name": "", **token(rep)})
    assert errors.status_code == 200
    assert "Quick add a deal" in errors.content.decode()


def test_quick_add_partial_renders_with_only_the_request(rep):
    request = RequestFactory().get("/")
    request.user = rep
    html = render_to_string("pipeline/_quick_add.html", request=request)
    assert reverse("pipeline:deal-quick-add") in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "errorlist" not in html


@SIZES
def test_quick_add_query_budget(client, rep, size, django_assert_max_num_queries):
    CompanyFactory.create_batch(size)
    client.force_login(rep)
    # 26, and 5 for the form's one-time token (the claim and the save in a savepoint, the
    # claim in its own, the deal's id).
    with django_assert_max_num_queries(31):
        client.post(
            reverse("pipeline:deal-quick-add"),
            {"name": "Budget", "company_name": "Company 0", **token(rep)},
            **HTMX,
        )
    assert Deal.objects.count() == 1


# --- Leads --------------------------------------------------------------------------------


def lead_companies(response) -> set[str]:
    return set(
        re.findall(
            r'<td class="cell-title lead-who">\s*<strong>([^<]+)</strong>',
            response.content.decode(),
        )
    )


def test_lead_list_shows_only_visible_leads_and_filters(client, rep, other_rep, manager):
    web, event = LeadSourceFactory(name="Web"), LeadSourceFactory(name="Event")
    LeadFactory(owner=rep, company=CompanyFactory(name="Alpha"), source=web)
    LeadFactory(
        owner=rep, company=CompanyFactory(name="Beta"), source=event, status=LeadStatus.WORKING
    )
    LeadFactory(owner=rep, company=CompanyFactory(name="Gamma"), contact_name="Zed Zulu")
    LeadFactory(owner=other_rep, company=CompanyFactory(name="Teammate Co"))
    client.force_login(rep)
    url = reverse("pipeline:lead-list")

    assert lead_companies(client.get(url)) == {"Alpha", "Beta", "Gamma"}
    assert lead_companies(client.get(url, {"status": "working"})) == {"Beta"}
    assert lead_companies(client.get(url, {"source": web.pk})) == {"Alpha"}
    assert lead_companies(client.get(url, {"q": "zulu"})) == {"Gamma"}
    assert lead_companies(client.get(url, {"q": "bet"})) == {"Beta"}
    refused = client.get(url, {"status": "nope", "source": "x", "page": "z"})
    assert set(refused.context["filter"].errors) == {"status", "source"}
    assert lead_companies(refused) == {"Alpha", "Beta", "Gamma"}

    client.force_login(manager)
    assert lead_companies(client.get(url)) == {"Alpha", "Beta", "Gamma", "Teammate Co"}


def test_lead_list_paginates_keeping_filters(client, rep):
    for number in range(27):
        LeadFactory(owner=rep, company=CompanyFactory(name=f"Co {number:02}"))
    client.force_login(rep)
    url = reverse("pipeline:lead-list")
    first = client.get(url, {"status": "new", "sort": "company"})
    assert lead_companies(first) == {f"Co {number:02}" for number in range(25)}
    assert "?status=new&amp;sort=company&amp;page=2" in first.content.decode()
    second = client.get(url, {"status": "new", "sort": "company", "page": 2})
    assert lead_companies(second) == {"Co 25", "Co 26"}


def test_empty_lead_list_offers_a_next_step(client, rep):
    client.force_login(rep)
    body = client.get(reverse("pipeline:lead-list")).content.decode()
    assert "No leads yet — add your first lead" in body


@SIZES
@pytest.mark.parametrize("persona", ["rep", "manager", "admin_user"])
def test_lead_list_query_budget(
    client, request, rep, manager, size, persona, django_assert_max_num_queries
):
    LeadFactory.create_batch(size, owner=rep)
    client.force_login(request.getfixturevalue(persona))
    with django_assert_max_num_queries(12):
        response = client.get(reverse("pipeline:lead-list"), {"q": "Contact"})
    assert len(lead_companies(response)) == min(size, 25)


def test_rep_adds_a_lead(client, rep):
    source = LeadSourceFactory(name="Referral")
    existing = CompanyFactory(name="Known Co")
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:lead-create"),
        {
            "company_name": "known co",
            "contact_name": "Jo",
            "contact_email": "jo@known.example",
            "source": source.pk,
            **token(rep, "lead"),
        },
    )
    assert response["Location"] == reverse("pipeline:lead-list")
    lead = Lead.objects.get()
    assert (lead.owner, lead.team, lead.company, lead.status) == (
        rep,
        rep.team,
        existing,
        LeadStatus.NEW,
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"company_name": ""}, "company_name"),
        ({"contact_email": "not-an-email"}, "contact_email"),
        ({"source": "999999"}, "source"),
    ],
)
def test_add_lead_with_bad_input_shows_errors_and_writes_nothing(client, rep, data, field):
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:lead-create"),
        {"company_name": "New Co", "contact_name": "A", **token(rep, "lead"), **data},
    )
    assert response.status_code == 200
    assert field_errors(response, field)
    assert Lead.objects.count() == 0
    assert Company.objects.count() == 0


def test_lead_form_query_budget(client, manager, django_assert_max_num_queries):
    client.force_login(manager)
    with django_assert_max_num_queries(10):
        assert client.get(reverse("pipeline:lead-create")).status_code == 200


def test_qualify_and_disqualify_a_lead_in_place(client, rep):
    lead = LeadFactory(owner=rep)
    client.force_login(rep)
    url = reverse("pipeline:lead-status", args=[lead.pk])

    response = client.post(url, {"status": "qualified"}, **HTMX)
    assert response.templates[0].name == "pipeline/_lead_row.html"
    assert ">Qualified<" in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.QUALIFIED

    refused = client.post(url, {"status": "disqualified", "reason": ""}, **HTMX)
    assert "Give a reason" in refused.content.decode()
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.QUALIFIED

    client.post(url, {"status": "disqualified", "reason": "No budget"}, **HTMX)
    lead.refresh_from_db()
    assert (lead.status, lead.disqualified_reason) == (LeadStatus.DISQUALIFIED, "No budget")

    plain = client.post(url, {"status": "working", "next": "/leads/?status=new"})
    assert plain["Location"] == "/leads/?status=new"
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.WORKING


@pytest.mark.parametrize("status", ["converted", "new", "bogus"])
def test_lead_status_refuses_other_statuses(client, rep, status):
    lead = LeadFactory(owner=rep, status=LeadStatus.WORKING)
    client.force_login(rep)
    response = client.post(reverse("pipeline:lead-status", args=[lead.pk]), {"status": status})
    assert response.status_code == 302
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.WORKING


def test_a_converted_lead_keeps_its_status(client, rep):
    lead = LeadFactory(owner=rep, status=LeadStatus.CONVERTED)
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:lead-status", args=[lead.pk]), {"status": "working"}, **HTMX
    )
    assert "cannot change status" in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.CONVERTED


@SIZES
def test_lead_status_query_budget(client, rep, size, django_assert_max_num_queries):
    leads = LeadFactory.create_batch(size, owner=rep)
    client.force_login(rep)
    # 23: the lead is loaded, then accounts.access asks whether its user may change it.
    with django_assert_max_num_queries(23):
        client.post(
            reverse("pipeline:lead-status", args=[leads[0].pk]), {"status": "qualified"}, **HTMX
        )


def test_convert_a_lead_into_a_deal(client, rep):
    lead = LeadFactory(owner=rep, company=CompanyFactory(name="Convert Co"))
    client.force_login(rep)
    url = reverse("pipeline:lead-convert", args=[lead.pk])
    page = client.get(url)
    assert 'value="Convert Co deal"' in page.content.decode()

    response = client.post(
        url,
        {"deal_name": "Convert Co pilot", "amount": "3000", "expected_close_date": "2027-02-01"},
    )
    deal = Deal.objects.get()
    assert response["Location"] == reverse("pipeline:deal-detail", args=[deal.pk])
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED
    assert (deal.lead, deal.owner, deal.company, deal.amount, deal.stage.name) == (
        lead,
        rep,
        lead.company,
        Decimal("3000"),
        "Prospecting",
    )
    again = client.get(url)
    assert "Open its deal" in again.content.decode()


def test_convert_with_bad_input_writes_nothing(client, rep):
    lead = LeadFactory(owner=rep)
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:lead-convert", args=[lead.pk]),
        {"deal_name": "", "amount": "-1", "expected_close_date": "tomorrow"},
    )
    assert response.status_code == 200
    assert {"deal_name", "amount", "expected_close_date"} <= set(response.context["form"].errors)
    assert Deal.objects.count() == 0
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.NEW


def test_a_disqualified_lead_cannot_be_converted(client, rep):
    lead = LeadFactory(owner=rep, status=LeadStatus.DISQUALIFIED)
    client.force_login(rep)
    url = reverse("pipeline:lead-convert", args=[lead.pk])
    response = client.post(url, {"deal_name": "Nope"})
    assert response.status_code == 200
    assert "cannot be converted" in response.content.decode()
    assert Deal.objects.count() == 0


@pytest.mark.parametrize("persona", ["other_rep", "outsider_rep", "other_manager"])
def test_people_who_cannot_see_a_lead_get_404(client, request, rep, persona):
    lead = LeadFactory(owner=rep)
    client.force_login(request.getfixturevalue(persona))
    status = reverse("pipeline:lead-status", args=[lead.pk])
    convert = reverse("pipeline:lead-convert", args=[lead.pk])
    assert client.post(status, {"status": "qualified"}, **HTMX).status_code == 404
    assert client.get(convert).status_code == 404
    assert client.post(convert, {"deal_name": "Stolen"}).status_code == 404
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.NEW
    assert Deal.objects.count() == 0


def test_manager_converts_a_team_lead_for_its_owner(client, rep, manager):
    lead = LeadFactory(owner=rep)
    client.force_login(manager)
    client.post(reverse("pipeline:lead-convert", args=[lead.pk]), {"deal_name": "Team deal"})
    deal = Deal.objects.get()
    assert deal.owner == rep


def test_a_lead_that_is_visible_but_not_editable_is_refused(client, rep, monkeypatch):
    lead = LeadFactory(owner=rep)
    _read_only(monkeypatch)
    client.force_login(rep)
    status = reverse("pipeline:lead-status", args=[lead.pk])
    assert client.post(status, {"status": "qualified"}).status_code == 403
    assert client.get(reverse("pipeline:lead-convert", args=[lead.pk])).status_code == 403
    rows = client.get(reverse("pipeline:lead-list")).content.decode()
    assert "Qualify" not in rows


@SIZES
def test_convert_query_budget(client, rep, size, django_assert_max_num_queries):
    leads = LeadFactory.create_batch(size, owner=rep)
    client.force_login(rep)
    url = reverse("pipeline:lead-convert", args=[leads[0].pk])
    with django_assert_max_num_queries(6):
        client.get(url)
    # Two rows validated and saved (the lead, then its deal), each with its full_clean, and
    # accounts.access asked once whether the rep may change the lead.
    with django_assert_max_num_queries(37):
        client.post(url, {"deal_name": "Budget deal"})
    assert Deal.objects.count() == 1


def test_lead_list_sorts_by_owner_without_a_form_error(client, rep, other_rep, manager):
    rep.first_name, other_rep.first_name = "Zoe", "Adam"
    rep.save(), other_rep.save()
    LeadFactory(owner=rep, company=CompanyFactory(name="Zoe's"))
    LeadFactory(owner=other_rep, company=CompanyFactory(name="Adam's"))
    client.force_login(manager)
    response = client.get(reverse("pipeline:lead-list"), {"sort": "owner"})
    assert not response.context["filter"].form.errors
    body = response.content.decode()
    assert body.index("Adam&#x27;s") < body.index("Zoe&#x27;s")
