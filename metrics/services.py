"""Writes of the metrics app: freezing KPIs into snapshot rows."""

import datetime as dt
from collections.abc import Callable, Iterator

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .choices import PeriodKind, ScopeKind
from .kpis import KPI_KEYS, KPIs, end_of_day, kpis_by_team, kpis_by_user, kpis_for_scope
from .models import KPISnapshot
from .periods import period_end, period_start

UNIQUE_FIELDS = ["date", "scope_kind", "scope_id", "period_kind", "period_start"]


def _snapshot_rows(day: dt.date, computed_at: dt.datetime) -> Iterator[KPISnapshot]:
    as_of = end_of_day(day)
    user_ids = list(get_user_model().objects.order_by("pk").values_list("pk", flat=True))
    for kind in PeriodKind.values:
        start = period_start(day, kind)
        scopes: list[tuple[str, int, KPIs]] = [
            (
                ScopeKind.ORG,
                0,
                kpis_for_scope(
                    kind="org", scope_id=None, start=start, end=day, as_of=as_of, period=kind
                ),
            )
        ]
        by_team = kpis_by_team(start=start, end=day, as_of=as_of, period=kind)
        scopes += [(ScopeKind.TEAM, team_id, kpis) for team_id, kpis in sorted(by_team.items())]
        by_user = kpis_by_user(user_ids=user_ids, start=start, end=day, as_of=as_of, period=kind)
        scopes += [(ScopeKind.USER, user_id, kpis) for user_id, kpis in sorted(by_user.items())]
        for scope_kind, scope_id, kpis in scopes:
            yield KPISnapshot(
                date=day,
                scope_kind=scope_kind,
                scope_id=scope_id,
                period_kind=kind,
                period_start=start,
                computed_at=computed_at,
                **kpis.as_dict(),
            )


def kpi_snapshot_create(*, day: dt.date) -> int:
    """Freeze every KPI as of the end of `day`: the organisation, every team and every
    user, for the month, quarter and year to date. Returns the number of rows written.

    Idempotent: the rows of a date are upserted on their unique key, so re-running a date
    (or two runs at once) leaves exactly one set. Computed first, written in one
    transaction: a crash leaves the previous rows of that date untouched.
    """
    rows = list(_snapshot_rows(day, timezone.now()))
    with transaction.atomic():
        KPISnapshot.objects.bulk_create(
            rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=UNIQUE_FIELDS,
            update_fields=[*KPI_KEYS, "computed_at"],
        )
        # A scope deleted since the last run must not keep stale rows for this date.
        for scope_kind in (ScopeKind.TEAM, ScopeKind.USER):
            KPISnapshot.objects.filter(date=day, scope_kind=scope_kind).exclude(
                scope_id__in=[r.scope_id for r in rows if r.scope_kind == scope_kind]
            ).delete()
    return len(rows)


def backfill_dates(*, first: dt.date, last: dt.date, daily: bool = False) -> list[dt.date]:
    """The dates a backfill writes: every month-end from `first` to `last`, and `last`
    itself (or every day with daily=True). Month-ends carry the closing figures of each
    month, quarter and year, which is what trend charts read."""
    if daily:
        return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    dates, day = [], period_end(period_start(first, PeriodKind.MONTH), PeriodKind.MONTH)
    while day < last:
        dates.append(day)
        day = period_end(day + dt.timedelta(days=1), PeriodKind.MONTH)
    return [*dates, last]


def kpi_snapshot_backfill(
    *, dates: list[dt.date], on_progress: Callable[[dt.date, int], None] | None = None
) -> int:
    """Snapshot each date in turn, one transaction per date (see kpi_snapshot_create)."""
    total = 0
    for day in dates:
        written = kpi_snapshot_create(day=day)
        total += written
        if on_progress:
            on_progress(day, written)
    return total
