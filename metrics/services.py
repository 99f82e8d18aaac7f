"""Writes of the metrics app: freezing KPIs into snapshot rows; setting targets."""

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.access import Capability, can, can_set_targets
from accounts.models import Team, User
from periods.calendar import is_period_start, period_end, period_start

from .choices import PeriodKind, ScopeKind, TargetMetric
from .kpis import (
    KPI_KEYS,
    KPIs,
    end_of_day,
    kpis_by_team,
    kpis_by_user,
    kpis_for_scope,
    kpis_to_date,
)
from .models import KPISnapshot, Target

UNIQUE_FIELDS = ["date", "scope_kind", "scope_id", "period_kind", "period_start"]


def _snapshot_row(
    day: dt.date, kind: str, scope: tuple[str, int, KPIs], computed_at: dt.datetime
) -> KPISnapshot:
    scope_kind, scope_id, kpis = scope
    return KPISnapshot(
        date=day,
        scope_kind=scope_kind,
        scope_id=scope_id,
        period_kind=kind,
        period_start=period_start(day, kind),
        computed_at=computed_at,
        **kpis.as_dict(),
    )


def _snapshot_rows(day: dt.date, computed_at: dt.datetime) -> Iterator[KPISnapshot]:
    user_ids = list(User.objects.order_by("pk").values_list("pk", flat=True))
    to_date = kpis_to_date(day=day, user_ids=user_ids, as_of=end_of_day(day), settled=True)
    for kind in PeriodKind.values:
        scopes: list[tuple[str, int, KPIs]] = [(ScopeKind.ORG, 0, to_date.org[kind])]
        scopes += [(ScopeKind.TEAM, tid, kpis) for tid, kpis in sorted(to_date.teams[kind].items())]
        scopes += [(ScopeKind.USER, uid, kpis) for uid, kpis in sorted(to_date.users[kind].items())]
        for scope in scopes:
            yield _snapshot_row(day, kind, scope, computed_at)


def _upsert_snapshot_rows(rows: list[KPISnapshot]) -> None:
    KPISnapshot.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=UNIQUE_FIELDS,
        update_fields=[*KPI_KEYS, "computed_at"],
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
        _upsert_snapshot_rows(rows)
        # A scope deleted since the last run must not keep stale rows for this date.
        for scope_kind in (ScopeKind.TEAM, ScopeKind.USER):
            KPISnapshot.objects.filter(date=day, scope_kind=scope_kind).exclude(
                scope_id__in=[r.scope_id for r in rows if r.scope_kind == scope_kind]
            ).delete()
    return len(rows)


# --- The nightly snapshot split across workers ---------------------------------------------
# One part per top-level team (its whole tree of teams and their members) and one for the
# organisation's rows and the users without a team. Every scope belongs to exactly one part,
# so the parts can run on different workers at once and together write the very rows of
# kpi_snapshot_create; tests/metrics/test_snapshot_parts.py holds them to that.


def snapshot_part_roots() -> list[int | None]:
    """The parts of a day's snapshot: None (the organisation and the users without a team),
    then each top-level team's id."""
    roots = Team.objects.filter(parent__isnull=True).order_by("pk").values_list("pk", flat=True)
    return [None, *roots]


def _part_scopes(day: dt.date, kind: str, root_id: int | None) -> Iterator[tuple[str, int, KPIs]]:
    """The scopes of one part for one period kind, with the figures kpis_to_date gives
    them (the same KPI functions, called per kind with period=kind)."""
    start, as_of = period_start(day, kind), end_of_day(day)
    if root_id is None:
        yield (
            ScopeKind.ORG,
            0,
            kpis_for_scope(
                kind="org",
                scope_id=None,
                start=start,
                end=day,
                as_of=as_of,
                period=kind,
                settled=True,
            ),
        )
        members = User.objects.filter(team__isnull=True)
    else:
        teams = kpis_by_team(
            start=start, end=day, as_of=as_of, period=kind, root_ids=[root_id], settled=True
        )
        for team_id, kpis in sorted(teams.items()):
            yield ScopeKind.TEAM, team_id, kpis
        members = User.objects.filter(team_id__in=list(teams))
    user_ids = list(members.order_by("pk").values_list("pk", flat=True))
    users = kpis_by_user(
        user_ids=user_ids, start=start, end=day, as_of=as_of, period=kind, settled=True
    )
    for user_id, kpis in sorted(users.items()):
        yield ScopeKind.USER, user_id, kpis


def kpi_snapshot_create_part(*, day: dt.date, root_id: int | None) -> int:
    """Freeze one part of `day`'s snapshot (snapshot_part_roots): with `root_id`, that
    top-level team, every team below it and their members; with None, the organisation
    and the users without a team. Returns the number of rows written.

    Idempotent like kpi_snapshot_create: computed first (on the replica when there is
    one), then upserted in one transaction, so a rerun or a duplicate delivery leaves one
    set of rows. The organisation's part also deletes the date's rows of teams and users
    that no longer exist; no part deletes a row of a scope that exists, since that scope
    may belong to another part now (a user moved to another team).
    """
    computed_at = timezone.now()
    rows = [
        _snapshot_row(day, kind, scope, computed_at)
        for kind in PeriodKind.values
        for scope in _part_scopes(day, kind, root_id)
    ]
    with transaction.atomic():
        _upsert_snapshot_rows(rows)
        if root_id is None:
            existing = {ScopeKind.TEAM: Team.objects.all(), ScopeKind.USER: User.objects.all()}
            for scope_kind, scopes in existing.items():
                KPISnapshot.objects.filter(date=day, scope_kind=scope_kind).exclude(
                    scope_id__in=scopes.values("pk")
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


def snapshot_dates_complete(dates: Iterable[dt.date]) -> set[dt.date]:
    """The dates that hold a whole set of snapshot rows for today's scopes (the
    organisation, every team and every user, for each period kind). A date is written in
    one transaction, so a killed run leaves each date either whole or as it was."""
    dates = list(dates)
    expected = len(PeriodKind.values) * (1 + Team.objects.count() + User.objects.count())
    counts = (
        KPISnapshot.objects.filter(date__in=dates)
        .values("date")
        .annotate(rows=Count("id"))
        .values_list("date", "rows")
    )
    return {day for day, rows in counts if rows == expected}


def kpi_snapshot_backfill(
    *,
    dates: list[dt.date],
    on_progress: Callable[[dt.date, int], None] | None = None,
    resume: bool = False,
) -> int:
    """Snapshot each date in turn, one transaction per date (see kpi_snapshot_create).
    With `resume`, dates that already hold a whole set of rows are skipped (reported to
    on_progress with 0 rows): a rerun after a kill does only what is left."""
    done = snapshot_dates_complete(dates) if resume else set()
    total = 0
    for day in dates:
        if day in done:
            if on_progress:
                on_progress(day, 0)
            continue
        written = kpi_snapshot_create(day=day)
        total += written
        if on_progress:
            on_progress(day, written)
    return total


# --- Targets ------------------------------------------------------------------------------

TARGET_MAX = Decimal(10) ** 12  # Target.value has 14 digits, 2 after the point
CENT = Decimal("0.01")


@dataclass(frozen=True)
class TargetCell:
    """The wanted value of one target: a user's or a team's, for one metric and period.
    `value` None clears the target."""

    period_kind: str
    period_start: dt.date
    value: Decimal | None
    user_id: int | None = None
    team_id: int | None = None
    metric: str = TargetMetric.REVENUE

    @property
    def key(self) -> "TargetKey":
        return (self.user_id, self.team_id, self.metric, self.period_kind, self.period_start)


# (user id, team id, metric, period kind, period start): one target cell.
TargetKey = tuple[int | None, int | None, str, str, dt.date]


def _target_key(target: Target) -> TargetKey:
    return (target.user_id, target.team_id, target.metric, target.period_kind, target.period_start)


def _validate_target_cells(cells: list[TargetCell]) -> None:
    for cell in cells:
        if (cell.user_id is None) == (cell.team_id is None):
            raise ValidationError("A target is for a user or for a team, not both.")
        if cell.metric not in TargetMetric.values or cell.period_kind not in PeriodKind.values:
            raise ValidationError("Unknown metric or period kind.")
        if not is_period_start(cell.period_start, cell.period_kind):
            raise ValidationError(f"{cell.period_start} does not start a {cell.period_kind}.")
        value = cell.value
        if value is None:
            continue
        # Short-circuits: quantize() of an infinite or huge number would raise.
        if not value.is_finite() or not 0 <= value < TARGET_MAX or value != value.quantize(CENT):
            raise ValidationError(f"{value} is not a valid target.")


def _check_may_set_targets(by: User, cells: list[TargetCell]) -> None:
    """Nothing is written unless `by` may set every cell's target (accounts.access): nobody
    sets their own, since a goal is set by the one who answers for it above (the page, the
    API and the admin all come through here)."""
    if any(cell.user_id == by.pk for cell in cells):
        raise PermissionDenied("You cannot set your own target; your manager or an admin does.")
    if not can(by, Capability.MANAGE_TARGETS):
        raise PermissionDenied("Only managers and admins set targets.")
    team_ids = {cell.team_id for cell in cells if cell.team_id is not None}
    user_ids = {cell.user_id for cell in cells if cell.user_id is not None}
    if not can_set_targets(by, team_ids=team_ids, user_ids=user_ids):
        raise PermissionDenied("A target outside your teams.")


def _record_target_history(changes: list[tuple[str, Target]], by: User, at: dt.datetime) -> None:
    """The audit rows (django-simple-history, as for deals and leads) of targets written in
    bulk ("+" created, "~" changed): one insert. The target history page reads them, each
    row's old value being the row before it of the same target."""
    history = Target.history.model
    rows = [
        history(
            history_date=at,
            history_user=by,
            history_type=kind,
            **{field.attname: getattr(target, field.attname) for field in history.tracked_fields},
        )
        for kind, target in changes
    ]
    history.objects.bulk_create(rows, batch_size=500)


def targets_set(*, by: User, changes: Iterable[TargetCell]) -> int:
    """Set many targets at once, all or nothing: create, update, or delete (value None) each
    cell, and record one history row per cell whose value actually changes, all at one
    moment and by `by`. Cells equal to what is stored write nothing. Returns the number of
    targets changed.

    Raises PermissionDenied when `by` may not set one of the targets and ValidationError on a
    malformed cell; either way nothing is written.
    """
    cells = list({cell.key: cell for cell in changes}.values())  # the last word per cell
    _validate_target_cells(cells)
    _check_may_set_targets(by, cells)
    if not cells:
        return 0
    owners = Q(user_id__in={c.user_id for c in cells if c.user_id is not None}) | Q(
        team_id__in={c.team_id for c in cells if c.team_id is not None}
    )
    now = timezone.now()
    with transaction.atomic():
        # Row locks (PostgreSQL) so two saves of the same cells apply one after the other and
        # each history row's old value is the value it really replaced. A cell both create
        # concurrently fails on the unique constraints instead; the caller reports it.
        stored = {
            _target_key(target): target
            for target in Target.objects.select_for_update().filter(
                owners,
                metric__in={c.metric for c in cells},
                period_kind__in={c.period_kind for c in cells},
                period_start__in={c.period_start for c in cells},
            )
        }
        created, updated, deleted = [], [], []
        for cell in cells:
            target = stored.get(cell.key)
            old = None if target is None else target.value
            new = None if cell.value is None else cell.value.quantize(CENT)
            if old == new:
                continue
            if target is None:
                assert new is not None  # old is None here, and new differs from it
                created.append(
                    Target(
                        user_id=cell.user_id,
                        team_id=cell.team_id,
                        metric=cell.metric,
                        period_kind=cell.period_kind,
                        period_start=cell.period_start,
                        value=new,
                        set_by=by,
                    )
                )
            elif new is None:
                deleted.append(target)
            else:
                target.value, target.set_by, target.updated_at = new, by, now
                updated.append(target)
        for target in deleted:
            # One by one (a few cells): the delete signal writes its history row ("-", with
            # the value it had), by `by` and at the moment of the other rows.
            target._history_user, target._history_date = by, now  # type: ignore[attr-defined]
            target.delete()
        Target.objects.bulk_create(created, batch_size=500)
        Target.objects.bulk_update(updated, ["value", "set_by", "updated_at"], batch_size=500)
        # Bulk writes send no save signal: their history rows are written here, in bulk too.
        _record_target_history([("+", t) for t in created] + [("~", t) for t in updated], by, now)
    return len(created) + len(updated) + len(deleted)
