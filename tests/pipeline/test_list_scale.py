"""The deal and lead lists at any size: counts that stop at a cap (pipeline.pagination),
a fixed number of queries whatever the number of rows, and, on PostgreSQL, sorted pages
read from the sort indexes (pipeline.indexes) instead of sorting every row."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pipeline.filters import DealFilter
from pipeline.models import Deal
from pipeline.pagination import CappedPaginator
from pipeline.selectors import deal_list_for, deal_list_totals
from tests.factories import CompanyFactory, DealFactory, LeadFactory, default_stage


def _deals(owner, count: int) -> list[Deal]:
    """`count` deals of `owner`, the first the oldest, amounts 1, 2, 3…"""
    company = CompanyFactory()
    start = timezone.now() - dt.timedelta(days=count)
    return [
        DealFactory(
            owner=owner,
            company=company,
            amount=Decimal(number),
            created_at=start + dt.timedelta(days=number),
        )
        for number in range(1, count + 1)
    ]


def _muted_line(response) -> str:
    text = response.content.decode()
    return " ".join(re.search(r'<p class="muted">(.*?)</p>', text, re.S).group(1).split())


# --- The paginator ---------------------------------------------------------------------------


def test_a_list_under_the_cap_is_counted_exactly(rep):
    _deals(rep, 7)
    paginator = CappedPaginator(Deal.objects.order_by("-pk"), 3, cap=10)
    page = paginator.get_page(1)
    # 7 deals, 3 a page: 3 pages, the last with 1.
    assert (paginator.count, paginator.capped, paginator.num_pages) == (7, False, 3)
    assert len(paginator.get_page(3)) == 1 and page.has_next()


def test_a_list_over_the_cap_says_there_are_more_and_its_pages_go_on(rep):
    deals = _deals(rep, 12)
    newest_first = [deal.pk for deal in reversed(deals)]
    rows = Deal.objects.order_by("-created_at", "-pk")
    # Cap 5, 2 a page. Page 1: counts 6 of the first 5 + 1 rows, so "5+" and 3 pages.
    paginator = CappedPaginator(rows, 2, cap=5)
    page = paginator.get_page(1)
    assert (paginator.count, paginator.capped, paginator.num_pages) == (5, True, 3)
    assert [deal.pk for deal in page] == newest_first[:2]
    # Page 4 starts at row 6 (offset 6 >= cap): it counts 6 rows from there (12 - 6 = 6,
    # more than 5), so 6 + 5 = 11+ rows, 6 pages, and it shows rows 7 and 8.
    paginator = CappedPaginator(rows, 2, cap=5)
    page = paginator.get_page(4)
    assert (paginator.count, paginator.capped, paginator.num_pages) == (11, True, 6)
    assert [deal.pk for deal in page] == newest_first[6:8] and page.has_next()
    # Page 5 starts at row 8: 4 rows left, under the cap, so the count is exact: 12.
    paginator = CappedPaginator(rows, 2, cap=5)
    page = paginator.get_page(5)
    assert (paginator.count, paginator.capped, paginator.num_pages) == (12, False, 6)
    # Past the end (page 9, offset 16): no rows there, so the pages up to the cap, and
    # the last of those (page 3) is shown.
    paginator = CappedPaginator(rows, 2, cap=5)
    assert paginator.get_page(9).number == 3 and paginator.capped


def test_walking_next_through_a_capped_list_shows_every_row_once_in_order(rep):
    deals = _deals(rep, 11)
    rows = Deal.objects.order_by("-amount", "-pk")
    seen, number = [], 1
    while True:
        paginator = CappedPaginator(rows, 2, cap=3)
        page = paginator.get_page(number)
        seen += [deal.pk for deal in page]
        if not page.has_next():
            break
        number = page.next_page_number()
    assert seen == [deal.pk for deal in sorted(deals, key=lambda deal: -deal.amount)]


def test_totals_are_exact_under_the_cap_and_absent_over_it(rep):
    deals = _deals(rep, 4)
    won = deals[0]
    won.stage, won.closed_at = default_stage("Won"), timezone.now()
    won.save()
    rows = Deal.objects.all()
    # 4 deals: 3 open worth 2 + 3 + 4 = 9, 1 won worth 1.
    totals = deal_list_totals(rows, cap=4)
    assert totals["capped"] is False
    assert (totals["count"], totals["open_count"], totals["open_amount"]) == (4, 3, Decimal(9))
    assert (totals["won_count"], totals["won_amount"]) == (1, Decimal(1))
    # Cap 3: 4 rows counted, more than 3, so "3+" and no sums of a part of the list.
    assert deal_list_totals(rows, cap=3) == {"count": 3, "capped": True, "counted": 4}


# --- The pages -------------------------------------------------------------------------------


def test_the_deal_list_says_n_plus_past_the_cap(client, rep, settings):
    _deals(rep, 27)
    client.force_login(rep)
    # A cap under a page is raised to a page and a row: 26.
    settings.LIST_COUNT_CAP = 3
    line = _muted_line(client.get(reverse("pipeline:deal-list")))
    assert line.startswith("26+ deals · narrow the filters"), line
    settings.LIST_COUNT_CAP = 27
    line = _muted_line(client.get(reverse("pipeline:deal-list")))
    # Amounts 1 to 27: 27 × 28 / 2 = 378.
    assert line == "27 deals · 27 open worth $378 · 0 won worth $0", line


def test_the_lead_list_says_n_plus_past_the_cap(client, rep, settings):
    for _ in range(27):
        LeadFactory(owner=rep)
    client.force_login(rep)
    settings.LIST_COUNT_CAP = 26
    response = client.get(reverse("pipeline:lead-list"))
    assert _muted_line(response).startswith("26+ leads."), _muted_line(response)
    assert response.context["page_obj"].has_next()
    settings.LIST_COUNT_CAP = 10_000
    assert _muted_line(client.get(reverse("pipeline:lead-list"))).startswith("27 leads.")


def test_a_capped_page_shows_the_rows_of_the_uncapped_one(client, manager, rep, settings):
    _deals(rep, 60)
    client.force_login(manager)
    pages = {}
    for cap in (30, 10_000):
        settings.LIST_COUNT_CAP = cap
        for number in (1, 2, 3):
            response = client.get(
                reverse("pipeline:deal-list"), {"sort": "-amount", "page": number}
            )
            pages[cap, number] = [deal.pk for deal in response.context["page_obj"]]
    # 60 deals, 25 a page: 25, 25 and 10, the same whether the count stops at 30 or not.
    assert [len(pages[30, number]) for number in (1, 2, 3)] == [25, 25, 10]
    assert all(pages[30, number] == pages[10_000, number] for number in (1, 2, 3))


@pytest.mark.parametrize("name", ["pipeline:deal-list", "pipeline:lead-list"])
@pytest.mark.parametrize("persona", ["rep", "manager", "admin_user"])
def test_a_list_costs_the_same_queries_at_two_sizes(client, request, rep, name, persona):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    counts = []
    for size in (3, 40):
        for _ in range(size - Deal.objects.count()):
            DealFactory(owner=rep, company=CompanyFactory())
            LeadFactory(owner=rep)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse(name), {"sort": "-created_at"})
        assert response.status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1], counts


# --- The plans (PostgreSQL) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "sort", "index"),
    [
        # Either direction's index walks the amounts in order (read backward, the other's
        # ties in id order are an incremental sort, allowed below); which one PostgreSQL
        # picks on a 63-row table turns on its statistics (seen once in CI: the desc one).
        ("admin_user", "-amount", "deal_sort_amount_(desc|asc)"),
        ("admin_user", "amount", "deal_sort_amount_(asc|desc)"),
        ("admin_user", "-closed_at", "deal_sort_closed_desc"),
        ("admin_user", "expected_close_date", "deal_sort_closing_asc"),
        # The default order, newest first: this one, or created_at's own index and the ties
        # sorted by id.
        ("admin_user", "", "(deal_sort_created_desc|pipeline_de_created_55ec41_idx)"),
        ("rep", "-amount", "deal_owner_amount"),
        ("rep", "name", "deal_owner_name"),
    ],
)
def test_a_sorted_page_is_a_walk_of_its_sort_index(request, rep, other_rep, persona, sort, index):
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    user = request.getfixturevalue(persona)
    _deals(rep, 3)
    _deals(other_rep, 60)  # the rep's rows a few of many, as in a real organisation
    deals = DealFilter({"sort": sort}, queryset=deal_list_for(user=user)).qs[:25]
    with connection.cursor() as cursor:
        # A tiny table is otherwise read whole and sorted: seq scans and sorts off (a plan
        # that still needs a Sort has no index in this order), statistics fresh.
        cursor.execute("ANALYZE pipeline_deal")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        plan = deals.explain()
    assert re.search(rf"Index Scan (Backward )?using {index}\b", plan), plan
    # The index gives the order (the id's direction at most an incremental sort of ties):
    # no sort of all the rows above it.
    above = plan.split("Index Scan")[0]
    assert not re.search(r"(^|-> +)Sort +\(", above, re.MULTILINE), plan
