"""Reads about pipelines and stages, and the reads of the deal and lead pages."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from django.db.models import Count, Field, Manager, Q, QuerySet, Sum
from django.utils import timezone

from accounts.access import restrict
from accounts.audit import shown_value
from accounts.models import Team, User

from .choices import LeadStatus, StageKind
from .models import Company, Deal, Lead, LeadSource, Pipeline, Product, Stage, StageChange


def default_pipeline() -> Pipeline:
    return Pipeline.objects.get(is_default=True)


def first_open_stage() -> Stage:
    """The first open stage of the default pipeline, where new deals start."""
    return Stage.objects.filter(pipeline__is_default=True, kind=StageKind.OPEN).earliest("order")


def stage_by_kind(kind: str) -> Stage:
    """The won (or lost) stage of the default pipeline."""
    return Stage.objects.filter(pipeline__is_default=True, kind=kind).earliest("order")


def default_pipeline_stages() -> QuerySet[Stage]:
    """The default pipeline's stages in order: those an import names."""
    return Stage.objects.filter(pipeline__is_default=True).order_by("order")


def stages_for_filters() -> QuerySet[Stage]:
    """Every stage, default pipeline first, in pipeline order: the choices of a stage filter."""
    return Stage.objects.select_related("pipeline").order_by(
        "-pipeline__is_default", "pipeline__name", "order"
    )


def stage_ids_of_kind(*, kind: str) -> list[int]:
    """The ids of every pipeline's stages of one kind (open, won or lost), in id order."""
    return list(Stage.objects.filter(kind=kind).order_by("pk").values_list("pk", flat=True))


def open_stages(*, pipeline_id: int | None = None) -> list[Stage]:
    """The open stages of a pipeline (the default one when not given), in order."""
    stages = Stage.objects.filter(kind=StageKind.OPEN).order_by("order")
    if pipeline_id is None:
        return list(stages.filter(pipeline__is_default=True))
    return list(stages.filter(pipeline_id=pipeline_id))


def closing_stage(*, pipeline_id: int, kind: str) -> Stage | None:
    """The won (or lost) stage of a deal's pipeline."""
    return Stage.objects.filter(pipeline_id=pipeline_id, kind=kind).order_by("order").first()


def deal_list_for(*, user: User) -> QuerySet[Deal]:
    """The deals a user can see, with what a list row shows, newest first."""
    return (
        Deal.objects.visible_to(user)
        .select_related("company", "stage", "owner")
        .order_by("-created_at", "-pk")
    )


def deal_list_totals(deals: QuerySet[Deal], *, cap: int) -> dict[str, Any]:
    """Counts and sums of a filtered deal list over all its pages, in one query that reads
    at most cap + 1 deals. Past the cap, `capped` is true, `count` is the cap and there are
    no sums (those of the first cap + 1 rows would be no total at all); `counted` is the
    raw count, for the paginator."""
    is_open, is_won = Q(stage__kind=StageKind.OPEN), Q(stage__kind=StageKind.WON)
    totals = deals.order_by()[: cap + 1].aggregate(
        count=Count("id"),
        open_count=Count("id", filter=is_open),
        open_amount=Sum("amount", filter=is_open),
        won_count=Count("id", filter=is_won),
        won_amount=Sum("amount", filter=is_won),
    )
    counted = totals["count"]
    if counted > cap:
        return {"count": cap, "capped": True, "counted": counted}
    return {**totals, "capped": False, "counted": counted}


def deal_for_page(*, user: User, pk: int) -> Deal | None:
    """One deal the user can see, with what its page shows; None when invisible or absent."""
    return (
        Deal.objects.visible_to(user)
        .select_related("company", "stage__pipeline", "owner", "lead", "product")
        .filter(pk=pk)
        .first()
    )


def deal_to_move(*, user: User, pk: int) -> Deal | None:
    """One deal the user can see, with what a move reads (its stage and owner): the page's
    seven-table join costs PostgreSQL ~5 ms to plan, more than the move's own writes."""
    return Deal.objects.visible_to(user).select_related("stage", "owner").filter(pk=pk).first()


def deal_history(*, deal: Deal) -> list[StageChange]:
    """A deal's stage moves, oldest first, with the stages and who moved it."""
    return list(
        deal.stage_changes.select_related("from_stage", "to_stage", "changed_by").order_by(
            "changed_at", "pk"
        )
    )


@dataclass
class FieldChange:
    """One field of one change: its label and the values before and after, as shown."""

    field: str
    label: str
    old: str | None
    new: str | None
    old_displayed: str | None = None  # as the pages write it
    new_displayed: str | None = None


@dataclass
class HistoryEntry:
    """One saved version of a deal: when, by whom, what kind of change, which fields."""

    history_id: int
    when: dt.datetime
    user_id: int | None
    user: str
    kind: str  # created, changed, deleted, restored, removed, or recorded (first known)
    changes: list[FieldChange] = field(default_factory=list)


# Bookkeeping, not a change a person makes.
HISTORY_HIDDEN_FIELDS = {"version", "updated_at", "deleted_at", "deleted_by"}
DEAL_HISTORY_LIMIT = 200


def deal_change_history(*, deal: Deal, limit: int = DEAL_HISTORY_LIMIT) -> list[HistoryEntry]:
    """Every recorded change of a deal, newest first (at most `limit`): who, when, and each
    field's old and new value, with related rows shown by name.

    Bounded: one query for the history rows and their users, then one per kind of related
    row named in them (stages, people, companies, products, teams, leads), whatever the
    number of changes.
    """
    records = list(
        deal.history.select_related("history_user").order_by("-history_date", "-history_id")[
            : limit + 1
        ]
    )
    pairs = []
    for index, record in enumerate(records[:limit]):
        previous = records[index + 1] if index + 1 < len(records) else None
        delta = record.diff_against(previous) if previous is not None else None
        pairs.append((record, previous, delta))
    names = _related_names([change for _, _, delta in pairs if delta for change in delta.changes])
    entries = []
    for record, previous, delta in pairs:
        entries.append(
            HistoryEntry(
                history_id=record.history_id,
                when=record.history_date,
                user_id=record.history_user_id,
                user=str(record.history_user) if record.history_user else "",
                kind=_history_kind(record, previous),
                changes=[
                    FieldChange(
                        field=change.field,
                        label=_label(change.field),
                        old=_shown(change.field, change.old, names),
                        new=_shown(change.field, change.new, names),
                        old_displayed=_displayed(change.field, change.old, names),
                        new_displayed=_displayed(change.field, change.new, names),
                    )
                    for change in (delta.changes if delta else [])
                    if change.field not in HISTORY_HIDDEN_FIELDS
                    # a date-time whose lost microseconds read the same is no change
                    and _displayed(change.field, change.old, names)
                    != _displayed(change.field, change.new, names)
                ],
            )
        )
    return entries


class HistoryRecord(Protocol):
    """What the history panel reads of a saved version (django-simple-history's row)."""

    history_type: str
    deleted_at: dt.datetime | None


class FieldDelta(Protocol):
    """One field of simple-history's diff between two versions."""

    field: str
    old: Any
    new: Any


def _label(field_name: str) -> str:
    model_field = Deal._meta.get_field(field_name)
    name = model_field.verbose_name if isinstance(model_field, Field) else field_name
    return str(name).capitalize()


def _history_kind(record: HistoryRecord, previous: HistoryRecord | None) -> str:
    if record.history_type == "+":
        return "created"
    if previous is None:
        # The deal existed before the audit trail (or before the limit): its older values
        # are unknown. `manage.py populate_history --auto` records a starting point.
        return "recorded"
    if record.history_type == "-":
        return "removed"
    if record.deleted_at is not None and previous.deleted_at is None:
        return "deleted"
    if record.deleted_at is None and previous.deleted_at is not None:
        return "restored"
    return "changed"


_RELATED: dict[str, Manager[Any] | QuerySet[Any]] = {
    "stage": Stage.objects,
    "owner": User.objects,
    "company": Company.objects,
    "product": Product.objects,
    "team": Team.objects,
    "lead": Lead.all_objects.select_related("company"),
}


def _related_names(changes: Iterable[FieldDelta]) -> dict[str, dict[int, str]]:
    """Names of the related rows the changes point at: one query per kind of row."""
    wanted: dict[str, set[int]] = {}
    for change in changes:
        if change.field in _RELATED:
            wanted.setdefault(change.field, set()).update(
                value for value in (change.old, change.new) if value is not None
            )
    return {
        name: {obj.pk: str(obj) for obj in _RELATED[name].filter(pk__in=ids)}
        for name, ids in wanted.items()
        if ids
    }


def _shown(field_name: str, value: object, names: dict[str, dict[int, str]]) -> str | None:
    """A value as the API gives it: related rows by name, date-times ISO to the minute."""
    if value is None or value == "":
        return None
    if field_name in _RELATED:
        known = names.get(field_name, {})
        return known[value] if isinstance(value, int) and value in known else f"#{value}"
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat(timespec="minutes")
    return str(value)


def _displayed(field_name: str, value: object, names: dict[str, dict[int, str]]) -> str | None:
    """A value as the pages write it (accounts.audit.shown_value): money with its currency,
    "3 Dec 2026, 06:44"."""
    if field_name in _RELATED:
        return _shown(field_name, value, names)
    return shown_value(Deal._meta.get_field(field_name), value)


@dataclass
class BoardColumn:
    """One open stage on the board: its most recent deals and the totals of all of them."""

    stage: Stage
    previous: Stage | None
    next: Stage | None
    deals: list[Deal]
    count: int = 0
    amount: Decimal = Decimal("0")
    # How many cards the page shows, when `deals` was not read (a move's answer).
    shown: int | None = None

    @property
    def hidden(self) -> int:
        shown = len(self.deals) if self.shown is None else self.shown
        return max(self.count - shown, 0)


def deal_board_for(
    *,
    user: User,
    per_column: int = 50,
    stage_ids: Iterable[int] | None = None,
    cards: bool = True,
) -> list[BoardColumn]:
    """The open deals a user can see, by stage of the default pipeline; with `stage_ids`,
    only those stages' columns (a move redraws the two it touched).

    Bounded at any size: one query for the stages, one grouped query for every column's
    count and sum, and one query per column for its `per_column` most recently changed
    deals (so a card just moved shows at the top of its new column). Without `cards`, the
    columns' heads only (stage, neighbours, totals).
    """
    stages = open_stages()
    wanted = None if stage_ids is None else set(stage_ids)
    shown = [(i, stage) for i, stage in enumerate(stages) if wanted is None or stage.pk in wanted]
    visible = Deal.objects.visible_to(user)
    totals = {
        row["stage_id"]: row
        for row in visible.filter(stage__in=[stage for _, stage in shown])
        .order_by()
        .values("stage_id")
        .annotate(count=Count("id"), amount=Sum("amount"))
    }
    columns = []
    for index, stage in shown:
        row = totals.get(stage.pk, {})
        count = row.get("count", 0)
        deals = list(_column_cards(visible, stage.pk)[:per_column]) if cards else []
        columns.append(
            BoardColumn(
                stage=stage,
                previous=stages[index - 1] if index > 0 else None,
                next=stages[index + 1] if index + 1 < len(stages) else None,
                deals=deals,
                count=count,
                amount=row.get("amount") or Decimal("0"),
                shown=None if cards else min(count, per_column),
            )
        )
    return columns


def _column_cards(visible: QuerySet[Deal], stage_id: int) -> QuerySet[Deal]:
    # The board's order: most recently changed first, so a moved card tops its new column.
    return (
        visible.filter(stage_id=stage_id)
        .select_related("company", "owner", "stage")  # the stage: a card's overdue mark
        .order_by("-updated_at", "-pk")
    )


@dataclass
class BoardMove:
    """What a move changes on a board drawn just before it: the moved card tops its new
    column, whose card pushed past the last shown one (`leaves`, an id) goes; the column it
    left shows one card more at its bottom (`enters`); both columns' totals change."""

    source: BoardColumn
    target: BoardColumn
    card: Deal
    enters: Deal | None
    leaves: int | None


def board_move_for(
    *, user: User, card: Deal, from_stage_id: int, per_column: int = 50
) -> BoardMove | None:
    """The changes of the move of `card` (a deal the user may change, as just saved) for
    the mover's board, in four queries and one or two cards to draw (a whole column is up
    to `per_column`); None when the move is not between two of the board's columns."""
    visible = Deal.objects.visible_to(user)
    columns = {
        column.stage.pk: column
        for column in deal_board_for(
            user=user,
            per_column=per_column,
            stage_ids=[from_stage_id, card.stage_id],
            cards=False,
        )
    }
    source, target = columns.get(from_stage_id), columns.get(card.stage_id)
    if source is None or target is None or source is target:
        return None
    leaves = None
    if target.count > per_column:
        pushed = _column_cards(visible, target.stage.pk).values_list("pk", flat=True)
        leaves = next(iter(pushed[per_column : per_column + 1]), None)
    enters = None
    if source.count >= per_column:
        enters = next(
            iter(_column_cards(visible, source.stage.pk)[per_column - 1 : per_column]), None
        )
    return BoardMove(source=source, target=target, card=card, enters=enters, leaves=leaves)


def lead_list_for(*, user: User) -> QuerySet[Lead]:
    """The leads a user can see, with what a list row shows, newest first."""
    return (
        Lead.objects.visible_to(user)
        .select_related("company", "source", "owner")
        .order_by("-created_at", "-pk")
    )


def people_for_export(*, user: User) -> QuerySet[User]:
    """The people of the reps export: everyone the user may see."""
    return restrict(User.objects.all(), user)


def lead_ids_editable_by(*, user: User, leads: Iterable[Lead]) -> set[int]:
    """Which of a page's leads the user may change: one query, whatever their number."""
    return set(
        Lead.objects.filter(pk__in=[lead.pk for lead in leads])
        .visible_to(user, "change")
        .values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class PossibleDuplicate:
    """Leads already at a company with an email: `visible` is the first one the user may
    see; None when all are someone else's, of which the user learns nothing more."""

    visible: Lead | None


def lead_possible_duplicate(
    *, user: User, company: Company | None, email: str
) -> PossibleDuplicate | None:
    """A lead at `company` with `email` (case aside), if any: one query when the user may
    see one, two when not. No email, or a new company, cannot be a duplicate."""
    if company is None or not email.strip():
        return None
    same = Lead.objects.filter(company=company, contact_email__iexact=email.strip())
    visible = same.visible_to(user).select_related("company", "owner").order_by("pk").first()
    if visible is None and not same.exists():
        return None
    return PossibleDuplicate(visible=visible)


def deals_made_from(*, user: User, leads: Iterable[Lead]) -> dict[int, Deal]:
    """The deal each converted lead of a page became, when the user may see it, by lead
    id: one query for the page (none without a converted lead). A lead made into several
    deals (the API allows it) points to the first."""
    ids = [lead.pk for lead in leads if lead.status == LeadStatus.CONVERTED]
    if not ids:
        return {}
    # Newest first, so the dict keeps each lead's first deal.
    deals = Deal.objects.visible_to(user).filter(lead_id__in=ids).only("pk", "name", "lead_id")
    return {deal.lead_id: deal for deal in deals.order_by("-pk")}


def lead_for_page(*, user: User, pk: int) -> Lead | None:
    """One lead the user can see, with its company and owner; None when invisible."""
    return (
        Lead.objects.visible_to(user).select_related("company", "owner", "source").filter(pk=pk)
    ).first()


def lead_sources() -> QuerySet[LeadSource]:
    return LeadSource.objects.order_by("name")
