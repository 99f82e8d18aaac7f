"""Open deals that need attention: closing soon, and stale."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q

from accounts.access import restrict
from accounts.models import User
from accounts.selectors import team_tree_ids
from metrics import summary
from metrics.choices import ScopeKind
from metrics.models import OpenDealDates
from pipeline.deadlines import deal_is_overdue, organisation_today
from pipeline.models import Deal

STALE_AFTER_DAYS = 21
CLOSING_SOON_DAYS = 30
DEAL_LIST_LIMIT = 8


@dataclass(frozen=True)
class DealRow:
    """One open deal as a list shows it; `days_idle` since its last stage move."""

    pk: int
    name: str
    company: str
    owner: str
    stage: str
    amount: Decimal
    expected_close_date: dt.date | None
    last_move: dt.datetime
    days_idle: int
    overdue: bool


@dataclass(frozen=True)
class DealLists:
    """Open deals closing soon (or overdue) and stale ones: the first few and the totals."""

    closing_soon: list[DealRow]
    closing_soon_total: int
    stale: list[DealRow]
    stale_total: int
    stale_after_days: int = STALE_AFTER_DAYS
    closing_soon_days: int = CLOSING_SOON_DAYS


def _scope_deal_filter(scope_kind: str, scope_id: int | None) -> Q:
    if scope_kind == ScopeKind.USER:
        return Q(owner_id=scope_id)
    if scope_kind == ScopeKind.TEAM:
        return Q(team_id__in=team_tree_ids(root_ids=[scope_id]))
    return Q()


def deals_needing_attention(
    *, viewer: User, scope_kind: str, scope_id: int | None, now: dt.datetime, live: bool = True
) -> DealLists:
    """Open deals of a scope, as far as `viewer` may see them: those expected to close in
    the next CLOSING_SOON_DAYS days or already overdue (soonest first), and the stale ones,
    whose last stage move (else their creation) is STALE_AFTER_DAYS or more ago (stalest
    first). Counted and sorted in the summary's OpenDealDates (`live`, the pages) or from
    the raw deals; five queries (six for a team), whatever the number of deals."""
    today = organisation_today(now)
    closing = Q(expected_close_date__lte=today + dt.timedelta(days=CLOSING_SOON_DAYS))
    stale = Q(last_move__lt=now - dt.timedelta(days=STALE_AFTER_DAYS))
    in_scope = _scope_deal_filter(scope_kind, scope_id)
    if live and summary.readable(now):
        rows = restrict(OpenDealDates.objects.filter(in_scope), viewer)
        key = "deal_id"
    else:
        rows = Deal.objects.visible_to(viewer).open().filter(in_scope).with_last_move()
        key = "pk"
    totals = rows.aggregate(closing=Count(key, filter=closing), stale=Count(key, filter=stale))
    firsts = {
        "closing": rows.filter(closing).order_by("expected_close_date", key),
        "stale": rows.filter(stale).order_by("last_move", key),
    }
    listed = {
        name: list(queryset.values_list(key, "last_move")[:DEAL_LIST_LIMIT])
        for name, queryset in firsts.items()
    }
    deals = Deal.objects.select_related("company", "owner", "stage").in_bulk(
        {pk for pairs in listed.values() for pk, _ in pairs}
    )

    def rows_of(pairs: list[tuple[int, dt.datetime]]) -> list[DealRow]:
        return [
            DealRow(
                pk=deal.pk,
                name=deal.name,
                company=str(deal.company) if deal.company_id else "",
                owner=str(deal.owner),
                stage=deal.stage.name,
                amount=deal.amount,
                expected_close_date=deal.expected_close_date,
                last_move=last_move,
                days_idle=(now - last_move).days,
                overdue=deal_is_overdue(deal, today=today),
            )
            for pk, last_move in pairs
            if (deal := deals.get(pk)) is not None
        ]

    return DealLists(
        closing_soon=rows_of(listed["closing"]),
        closing_soon_total=totals["closing"],
        stale=rows_of(listed["stale"]),
        stale_total=totals["stale"],
    )
