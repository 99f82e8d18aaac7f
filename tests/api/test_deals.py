"""The deals endpoint: the shape of a deal, who may own what, stage moves through the
services (closing dates, history), filters, ordering, pages and query budgets."""

import datetime as dt
import re
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from pipeline.models import Deal, StageChange
from tests.api.conftest import url
from tests.factories import (
    CompanyFactory,
    DealFactory,
    LeadFactory,
    PipelineFactory,
    ProductFactory,
    StageFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def test_a_deal_reads_as_documented(as_user, rep, rep_deal, company):
    body = as_user(rep).get(url("deal-detail", rep_deal.pk)).json()
    assert body == {
        "id": rep_deal.pk,
        "external_id": None,
        "name": "Acme seats",
        "company": company.pk,
        "company_name": "Acme",
        "lead": None,
        "product": None,
        "owner": rep.pk,
        "team": rep.team_id,
        "stage": rep_deal.stage_id,
        "stage_name": "Prospecting",
        "status": "open",
        "amount": "1000.00",
        "currency": "USD",
        "expected_close_date": None,
        "created_at": body["created_at"],
        "closed_at": None,
        "lost_reason": "",
        "updated_at": body["updated_at"],
        "version": 1,
    }


def test_a_rep_lists_only_their_own_deals(as_user, rep, other_rep, outsider_rep, rep_deal):
    DealFactory(owner=other_rep)
    DealFactory(owner=outsider_rep)
    body = as_user(rep).get(url("deal-list")).json()
    assert body["count"] == 1
    assert [deal["id"] for deal in body["results"]] == [rep_deal.pk]


def test_a_manager_lists_their_team_and_an_admin_everything(
    as_user, rep, other_rep, outsider_rep, manager, admin_user
):
    mine = [DealFactory(owner=rep).pk, DealFactory(owner=other_rep).pk]
    theirs = DealFactory(owner=outsider_rep).pk
    ids = {deal["id"] for deal in as_user(manager).get(url("deal-list")).json()["results"]}
    assert ids == set(mine)
    ids = {deal["id"] for deal in as_user(admin_user).get(url("deal-list")).json()["results"]}
    assert ids == {*mine, theirs}


# --- Creating -------------------------------------------------------------------------------


def test_a_rep_creates_a_deal_of_their_own_in_the_first_stage(as_user, rep, company, stage):
    response = as_user(rep).post(
        url("deal-list"),
        {"name": "Acme 50 seats", "company": company.pk, "amount": "12500.5"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["owner"] == rep.pk
    assert body["team"] == rep.team_id
    assert body["stage"] == stage("Prospecting").pk
    assert body["amount"] == "12500.50"
    assert Deal.objects.get(pk=body["id"]).amount == Decimal("12500.50")


def test_a_rep_may_not_give_a_deal_to_someone_else(as_user, rep, other_rep):
    response = as_user(rep).post(
        url("deal-list"), {"name": "Theirs", "owner": other_rep.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"owner": ["Not one of your people."]}
    assert not Deal.objects.exists()


def test_a_manager_gives_deals_within_their_teams_only(as_user, manager, rep, outsider_rep):
    client = as_user(manager)
    response = client.post(url("deal-list"), {"name": "For rep", "owner": rep.pk}, format="json")
    assert response.status_code == 201
    assert response.json()["owner"] == rep.pk
    response = client.post(
        url("deal-list"), {"name": "Elsewhere", "owner": outsider_rep.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"owner": ["Not one of your people."]}


def test_an_unknown_owner_reads_like_an_invisible_one(as_user, rep):
    response = as_user(rep).post(
        url("deal-list"), {"name": "Nobody", "owner": 987654321}, format="json"
    )
    assert response.json() == {"owner": ["Not one of your people."]}


def test_an_admin_gives_a_deal_to_anyone(as_user, admin_user, outsider_rep):
    response = as_user(admin_user).post(
        url("deal-list"), {"name": "Any", "owner": outsider_rep.pk}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["team"] == outsider_rep.team_id


def test_a_deal_created_won_is_closed_now(frozen, as_user, rep, stage):
    response = as_user(rep).post(
        url("deal-list"), {"name": "Signed", "stage": stage("Won").pk}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["status"] == "won"
    assert Deal.objects.get().closed_at == NOW


def test_a_deal_entered_after_the_fact_keeps_its_dates(as_user, rep, stage):
    response = as_user(rep).post(
        url("deal-list"),
        {
            "name": "Old win",
            "stage": stage("Won").pk,
            "created_at": "2025-01-10T09:00:00Z",
            "closed_at": "2025-02-01T12:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    deal = Deal.objects.get()
    assert deal.created_at == dt.datetime(2025, 1, 10, 9, tzinfo=dt.UTC)
    assert deal.closed_at == dt.datetime(2025, 2, 1, 12, tzinfo=dt.UTC)


def test_a_deal_cannot_close_before_it_was_created(as_user, rep, stage):
    response = as_user(rep).post(
        url("deal-list"),
        {
            "name": "Backwards",
            "stage": stage("Won").pk,
            "created_at": "2025-03-01T00:00:00Z",
            "closed_at": "2025-02-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"closed_at": ["A deal cannot close before it was created."]}


def test_an_open_deal_has_no_close_date(as_user, rep):
    response = as_user(rep).post(
        url("deal-list"), {"name": "Open", "closed_at": "2026-01-01T00:00:00Z"}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["closed_at"]


def test_external_ids_are_unique(as_user, rep):
    DealFactory(owner=rep, external_id="CRM-1")
    response = as_user(rep).post(
        url("deal-list"), {"name": "Twice", "external_id": "CRM-1"}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["external_id"]


def test_an_empty_external_id_is_none(as_user, rep):
    response = as_user(rep).post(
        url("deal-list"), {"name": "No id", "external_id": "  "}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["external_id"] is None


def test_a_deal_may_come_only_from_a_lead_its_creator_sees(as_user, rep, other_rep):
    lead = LeadFactory(owner=other_rep)
    response = as_user(rep).post(
        url("deal-list"), {"name": "Poached", "lead": lead.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"lead": ["No lead you can see has this id."]}
    own = LeadFactory(owner=rep)
    response = as_user(rep).post(url("deal-list"), {"name": "Mine", "lead": own.pk}, format="json")
    assert response.status_code == 201
    assert response.json()["lead"] == own.pk


def test_only_active_products_go_on_new_deals(as_user, rep):
    retired = ProductFactory(name="Old", is_active=False)
    response = as_user(rep).post(
        url("deal-list"), {"name": "Old stuff", "product": retired.pk}, format="json"
    )
    assert response.json() == {"product": ["No active product has this id."]}


def test_a_lost_reason_belongs_to_a_lost_deal(as_user, rep):
    response = as_user(rep).post(
        url("deal-list"), {"name": "Open", "lost_reason": "Price"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"lost_reason": ["Only a lost deal has a lost reason."]}


# --- Editing and moving ---------------------------------------------------------------------


def test_editing_a_deal_keeps_its_stage_history_quiet(as_user, rep, rep_deal):
    response = as_user(rep).patch(
        url("deal-detail", rep_deal.pk), {"amount": "2500", "name": "Bigger"}, format="json"
    )
    assert response.status_code == 200
    rep_deal.refresh_from_db()
    assert (rep_deal.name, rep_deal.amount) == ("Bigger", Decimal("2500.00"))
    assert not StageChange.objects.exists()


def test_a_stage_change_in_a_patch_moves_the_deal(frozen, as_user, rep, rep_deal, stage):
    response = as_user(rep).patch(
        url("deal-detail", rep_deal.pk), {"stage": stage("Won").pk}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "won"
    rep_deal.refresh_from_db()
    assert rep_deal.closed_at == NOW
    change = StageChange.objects.get()
    assert (change.from_stage, change.to_stage) == (stage("Prospecting"), stage("Won"))
    assert (change.changed_by, change.changed_at) == (rep, NOW)


def test_closing_takes_the_clients_close_time(as_user, rep, stage):
    deal = DealFactory(owner=rep, created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    response = as_user(rep).put(
        url("deal-detail", deal.pk),
        {
            "name": deal.name,
            "stage": stage("Lost").pk,
            "closed_at": "2026-02-01T10:00:00Z",
            "lost_reason": "Price",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    deal.refresh_from_db()
    assert deal.closed_at == dt.datetime(2026, 2, 1, 10, tzinfo=dt.UTC)
    assert deal.lost_reason == "Price"
    assert StageChange.objects.get().changed_at == deal.closed_at


def test_reopening_clears_the_close(as_user, rep, stage):
    deal = DealFactory(owner=rep, stage=stage("Lost"), lost_reason="Price")
    response = as_user(rep).patch(
        url("deal-detail", deal.pk), {"stage": stage("Negotiation").pk}, format="json"
    )
    assert response.status_code == 200
    deal.refresh_from_db()
    assert (deal.closed_at, deal.lost_reason, deal.stage) == (None, "", stage("Negotiation"))


def test_the_move_action_closes_with_amount_and_reason(frozen, as_user, rep, rep_deal, stage):
    response = as_user(rep).post(
        url("deal-move", rep_deal.pk),
        {"stage": stage("Won").pk, "amount": "9000"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["amount"] == "9000.00"
    assert response.json()["closed_at"] == "2026-03-10T15:00:00Z"
    assert StageChange.objects.get().changed_by == rep


def test_a_move_to_another_pipelines_stage_is_refused(as_user, rep, rep_deal):
    elsewhere = StageFactory(pipeline=PipelineFactory(name="Partners"))
    response = as_user(rep).post(
        url("deal-move", rep_deal.pk), {"stage": elsewhere.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"stage": ["That stage belongs to another pipeline."]}


def test_a_move_to_an_open_stage_takes_no_close_time(as_user, rep, rep_deal, stage):
    response = as_user(rep).post(
        url("deal-move", rep_deal.pk),
        {"stage": stage("Proposal").pk, "closed_at": "2026-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()) == ["closed_at"]


def test_the_team_and_status_are_read_only(as_user, rep, rep_deal, outsider_rep):
    response = as_user(rep).patch(
        url("deal-detail", rep_deal.pk),
        {"team": outsider_rep.team_id, "status": "won"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "team": ["This field is read-only."],
        "status": ["This field is read-only."],
    }


def test_a_move_to_an_open_stage_in_a_patch_takes_no_close_date(as_user, rep, stage):
    deal = DealFactory(owner=rep, stage=stage("Won"))
    response = as_user(rep).patch(
        url("deal-detail", deal.pk),
        {"stage": stage("Proposal").pk, "closed_at": "2026-01-01T00:00:00Z"},
        format="json",
    )
    assert response.json() == {
        "closed_at": ["An open deal has no close date; move it to won or lost."]
    }
    deal.refresh_from_db()
    assert deal.stage == stage("Won")


def test_deleting_a_deal_through_the_api_hides_it_and_keeps_the_row(as_user, rep, rep_deal):
    client = as_user(rep)
    assert client.delete(url("deal-detail", rep_deal.pk)).status_code == 204
    assert not Deal.objects.filter(pk=rep_deal.pk).exists()
    assert Deal.all_objects.get(pk=rep_deal.pk).deleted_by == rep
    assert client.get(url("deal-detail", rep_deal.pk)).status_code == 404
    assert client.delete(url("deal-detail", rep_deal.pk)).status_code == 404


# --- Filters, ordering, pages ---------------------------------------------------------------


@pytest.fixture
def deals(rep, other_rep, stage):
    """Five deals of the rep's team; days are in UTC (TIME_ZONE)."""
    acme, globex = CompanyFactory(name="Acme"), CompanyFactory(name="Globex")
    jan = dt.datetime(2026, 1, 31, 23, 59, tzinfo=dt.UTC)
    feb = dt.datetime(2026, 2, 1, 0, 0, tzinfo=dt.UTC)
    return {
        "small": DealFactory(owner=rep, company=acme, amount=Decimal("100"), created_at=jan),
        "big": DealFactory(owner=rep, company=globex, amount=Decimal("5000"), created_at=feb),
        "won": DealFactory(
            owner=rep,
            company=acme,
            name="Acme renewal",
            stage=stage("Won"),
            amount=Decimal("2000"),
            created_at=feb,
            closed_at=dt.datetime(2026, 2, 28, 23, 0, tzinfo=dt.UTC),
        ),
        "lost": DealFactory(
            owner=other_rep,
            company=None,
            stage=stage("Lost"),
            amount=Decimal("0"),
            created_at=feb,
            closed_at=dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC),
            external_id="CRM-7",
        ),
        "other": DealFactory(owner=other_rep, company=globex, amount=Decimal("700")),
    }


def ids(client, **params) -> set[int]:
    response = client.get(url("deal-list"), params)
    assert response.status_code == 200, response.json()
    return {deal["id"] for deal in response.json()["results"]}


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"status": "open"}, {"small", "big", "other"}),
        ({"status": "won"}, {"won"}),
        ({"amount_min": "700", "amount_max": "2000"}, {"won", "other"}),
        ({"created_before": "2026-01-31"}, {"small"}),
        ({"created_after": "2026-02-01", "created_before": "2026-02-01"}, {"big", "won", "lost"}),
        ({"closed_after": "2026-02-28", "closed_before": "2026-02-28"}, {"won"}),
        ({"closed_after": "2026-03-01"}, {"lost"}),
        ({"company_name": "ACM"}, {"small", "won"}),
        ({"q": "renewal"}, {"won"}),
        ({"q": "globex"}, {"big", "other"}),
        ({"external_id": "CRM-7"}, {"lost"}),
    ],
)
def test_filters(as_user, manager, deals, params, names):
    assert ids(as_user(manager), **params) == {deals[name].pk for name in names}


def test_filters_by_ids(as_user, manager, rep, deals, stage):
    client = as_user(manager)
    assert ids(client, owner=rep.pk) == {deals[n].pk for n in ("small", "big", "won")}
    assert ids(client, company=deals["big"].company_id) == {deals["big"].pk, deals["other"].pk}
    assert ids(client, stage=stage("Lost").pk) == {deals["lost"].pk}
    assert ids(client, team=rep.team_id) == {deal.pk for deal in deals.values()}
    assert ids(client, owner=987654321) == set()


@pytest.mark.parametrize("status", ["open", "won", "lost"])
def test_the_status_filter_is_the_kind_of_the_stage_in_any_pipeline(
    as_user, client, manager, rep, deals, status
):
    second = PipelineFactory(name="Partners")
    for order, kind in enumerate(["open", "won", "lost"], start=1):
        stage = StageFactory(pipeline=second, name=kind.title(), order=order, kind=kind)
        DealFactory(owner=rep, stage=stage, name=f"Partner {kind}")
    expected = {deal.pk for deal in Deal.objects.filter(stage__kind=status)}
    assert Deal.objects.filter(pk__in=expected, stage__pipeline=second).count() == 1
    assert ids(as_user(manager), status=status, page_size=100) == expected
    # The list page reads the same FilterSet: the same rows.
    client.force_login(manager)
    page = client.get(reverse("pipeline:deal-list"), {"status": status})
    assert {deal.pk for deal in page.context["page_obj"].object_list} == expected


def test_a_filter_never_widens_what_a_rep_sees(as_user, rep, other_rep, deals):
    assert ids(as_user(rep), owner=other_rep.pk) == set()


def test_ordering_puts_empty_values_last_and_breaks_ties_by_id(as_user, manager, deals):
    client = as_user(manager)
    results = client.get(url("deal-list"), {"ordering": "closed_at"}).json()["results"]
    assert [deal["id"] for deal in results[:2]] == [deals["won"].pk, deals["lost"].pk]
    assert all(deal["closed_at"] is None for deal in results[2:])
    results = client.get(url("deal-list"), {"ordering": "-amount"}).json()["results"]
    assert [deal["amount"] for deal in results] == [
        "5000.00",
        "2000.00",
        "700.00",
        "100.00",
        "0.00",
    ]


def test_pages_of_a_chosen_size(as_user, manager, deals):
    client = as_user(manager)
    first = client.get(url("deal-list"), {"page_size": 2, "ordering": "amount"}).json()
    assert first["count"] == 5
    assert len(first["results"]) == 2
    assert "page=2" in first["next"]
    last = client.get(url("deal-list"), {"page_size": 2, "page": 3, "ordering": "amount"}).json()
    assert [deal["amount"] for deal in last["results"]] == ["5000.00"]


@pytest.mark.parametrize("size", [3, 30])
def test_the_list_costs_a_fixed_number_of_queries(
    as_user, manager, rep, size, django_assert_max_num_queries
):
    lead = LeadFactory(owner=rep)
    product = ProductFactory()
    for _ in range(size):
        DealFactory(owner=rep, lead=lead, product=product, company=CompanyFactory())
    client = as_user(manager)
    # managed teams (2), the tree's people (accounts.access), count, page; nothing per row
    with django_assert_max_num_queries(5):
        response = client.get(url("deal-list"), {"page_size": 100})
    assert len(response.json()["results"]) == size
    # A status filter reads its kind's stage ids first: one more.
    with django_assert_max_num_queries(6):
        response = client.get(url("deal-list"), {"page_size": 100, "status": "open"})
    assert len(response.json()["results"]) == size


def test_created_day_filters_follow_the_time_zone(as_user, settings, rep):
    settings.TIME_ZONE = "Europe/Paris"
    with timezone.override("Europe/Paris"):
        # 23:30 UTC on 31 January is 00:30 on 1 February in Paris.
        deal = DealFactory(owner=rep, created_at=dt.datetime(2026, 1, 31, 23, 30, tzinfo=dt.UTC))
        client = as_user(rep)
        assert ids(client, created_after="2026-02-01", created_before="2026-02-01") == {deal.pk}
        assert ids(client, created_before="2026-01-31") == set()


def test_a_user_without_deals_lists_nothing(as_user, db):
    loner = UserFactory(username="loner")
    assert as_user(loner).get(url("deal-list")).json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


# --- One FilterSet: the list page and the API agree -----------------------------------------


def page_ids(client, params: dict) -> list[int]:
    """The deals /deals/ shows for `params`, in its order, after checking it took them all."""
    response = client.get(reverse("pipeline:deal-list"), params)
    assert response.status_code == 200
    assert not response.context["filter"].errors
    return list(
        dict.fromkeys(
            int(pk) for pk in re.findall(r'href="/deals/(\d+)/"', response.content.decode())
        )
    )


def api_ids(client, params: dict) -> list[int]:
    response = client.get(url("deal-list"), params)
    assert response.status_code == 200, response.json()
    return [deal["id"] for deal in response.json()["results"]]


@pytest.fixture
def named_owners(rep, other_rep):
    rep.first_name, rep.last_name = "Ann", "Archer"
    other_rep.first_name, other_rep.last_name = "Bob", "Baker"
    rep.save(), other_rep.save()


@pytest.fixture
def both(client, manager, named_owners):
    client.force_login(manager)
    return client


def test_the_page_and_the_api_show_the_same_deals_for_the_same_query(both, rep, deals, stage):
    globex = deals["big"].company_id
    queries = [
        {},
        {"company": globex},
        {"company_name": "acm"},
        {"owner": rep.pk},
        {"status": "won"},
        {"stage": stage("Lost").pk},
        {"q": "renewal"},
        {"q": "globex", "sort": "-amount"},
        {"status": "open", "owner": rep.pk, "sort": "company"},
        {"period": "this_month"},
        {"created_after": "2026-02-01", "created_before": "2026-02-01"},
    ]
    for query in queries:
        assert page_ids(both, query) == api_ids(both, query), query
    assert api_ids(both, {"company": globex}) == [deals["other"].pk, deals["big"].pk]
    assert api_ids(both, {"company_name": "acm"}) == [deals["won"].pk, deals["small"].pk]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("amount", ["lost", "small", "other", "won", "big"]),
        ("-amount", ["big", "won", "other", "small", "lost"]),
        # Empty companies last; ties newest first.
        ("company", ["won", "small", "other", "big", "lost"]),
        ("-company", ["other", "big", "won", "small", "lost"]),
        # Ann Archer's, then Bob Baker's.
        ("owner", ["won", "big", "small", "other", "lost"]),
        ("-owner", ["other", "lost", "won", "big", "small"]),
        ("closed_at", ["won", "lost", "other", "big", "small"]),
        ("-closed_at", ["lost", "won", "other", "big", "small"]),
        ("stage", ["other", "big", "small", "won", "lost"]),
        ("created_at", ["small", "lost", "won", "big", "other"]),
    ],
)
def test_each_sort_column_orders_the_page_and_the_api_alike(both, deals, sort, expected):
    rows = [deals[name].pk for name in expected]
    assert api_ids(both, {"sort": sort}) == rows
    assert page_ids(both, {"sort": sort}) == rows


def test_every_sort_link_the_page_offers_is_a_sort_that_works(both, deals):
    body = both.get(reverse("pipeline:deal-list")).content.decode()
    offered = set(re.findall(r"\?sort=(-?\w+)", body))
    assert offered == {
        "name",
        "company",
        "owner",
        "stage",
        "amount",
        "expected_close_date",
        "closed_at",
    }
    for sort in offered:
        for value in (sort, f"-{sort}"):
            assert len(page_ids(both, {"sort": value})) == 5
            assert len(api_ids(both, {"sort": value})) == 5


def test_the_old_ordering_parameter_still_sorts_the_api(both, deals):
    by_amount = [deals[name].pk for name in ("big", "won", "other", "small", "lost")]
    assert api_ids(both, {"ordering": "-amount"}) == by_amount


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("sort", "password"),
        ("ordering", "owner__password"),
        ("owner", "me"),
        ("company", "Acme"),
        ("stage", "not-a-number"),
        ("status", "maybe"),
        ("period", "someday"),
        ("created_after", "2026-13-01"),
        ("amount_min", "lots"),
    ],
)
def test_a_bad_value_is_a_form_error_on_the_page_and_a_400_in_the_api(both, deals, param, value):
    response = both.get(url("deal-list"), {param: value})
    assert response.status_code == 400
    assert list(response.json()) == [param]
    # The page names the problem and leaves that filter out: every deal is listed.
    page = both.get(reverse("pipeline:deal-list"), {param: value})
    assert page.status_code == 200
    assert list(page.context["filter"].errors) == [param]
    assert 'class="errorlist' in page.content.decode()
    assert len(page_ids(both, {})) == 5
    assert page.context["totals"]["count"] == 5
