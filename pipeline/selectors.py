"""Reads about pipelines and stages, and the reads of the deal and lead pages."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum

from .choices import StageKind
from .models import Deal, Lead, LeadSource, Pipeline, Stage, StageChange


def default_pipeline() -> Pipeline:
    return Pipeline.objects.get(is_default=True)


def first_open_stage() -> Stage:
    """The first open stage of the default pipeline, where new deals start."""
    return (
        Stage.objects.filter(pipeline__is_default=True, kind=StageKind.OPEN)
        .order_by("order")
        .first()
    )


def stage_by_kind(kind: str) -> Stage:
    """The won (or lost) stage of the default pipeline."""
    return Stage.objects.filter(pipeline__is_default=True, kind=kind).order_by("order").first()


def stages_for_filters() -> QuerySet[Stage]:
    """Every stage, default pipeline first, in pipeline order: the choices of a stage filter."""
    return Stage.objects.select_related("pipeline").order_by(
        "-pipeline__is_default", "pipeline__name", "order"
    )


def open_stages(*, pipeline_id: int | None = None) -> list[Stage]:
    """The open stages of a pipeline (the default one when not given), in order."""
    stages = Stage.objects.filter(kind=StageKind.OPEN).order_by("order")
    if pipeline_id is None:
        return list(stages.filter(pipeline__is_default=True))
    return list(stages.filter(pipeline_id=pipeline_id))


def closing_stage(*, pipeline_id: int, kind: str) -> Stage | None:
    """The won (or lost) stage of a deal's pipeline."""
    return Stage.objects.filter(pipeline_id=pipeline_id, kind=kind).order_by("order").first()


def deal_list_for(*, user) -> QuerySet[Deal]:
    """The deals a user can see, with what a list row shows, newest first."""
    return (
        Deal.objects.visible_to(user)
        .select_related("company", "stage", "owner")
        .order_by("-created_at", "-pk")
    )


def deal_for_page(*, user, pk: int) -> Deal | None:
    """One deal the user can see, with what its page shows; None when invisible or absent."""
    return (
        Deal.objects.visible_to(user)
        .select_related("company", "stage__pipeline", "owner", "lead", "product")
        .filter(pk=pk)
        .first()
    )


def deal_history(*, deal: Deal) -> list[StageChange]:
    """A deal's stage moves, oldest first, with the stages and who moved it."""
    return list(
        deal.stage_changes.select_related("from_stage", "to_stage", "changed_by").order_by(
            "changed_at", "pk"
        )
    )


@dataclass
class BoardColumn:
    """One open stage on the board: its most recent deals and the totals of all of them."""

    stage: Stage
    previous: Stage | None
    next: Stage | None
    deals: list[Deal]
    count: int = 0
    amount: Decimal = Decimal("0")

    @property
    def hidden(self) -> int:
        return max(self.count - len(self.deals), 0)


def deal_board_for(*, user, per_column: int = 50) -> list[BoardColumn]:
    """The open deals a user can see, by stage of the default pipeline.

    Bounded at any size: one query for the stages, one grouped query for every column's
    count and sum, and one query per column for its `per_column` most recently changed
    deals (so a card just moved shows at the top of its new column).
    """
    stages = open_stages()
    visible = Deal.objects.visible_to(user)
    totals = {
        row["stage_id"]: row
        for row in visible.filter(stage__in=stages)
        .order_by()
        .values("stage_id")
        .annotate(count=Count("id"), amount=Sum("amount"))
    }
    columns = []
    for index, stage in enumerate(stages):
        row = totals.get(stage.pk, {})
        deals = list(
            visible.filter(stage=stage)
            .select_related("company", "owner")
            .order_by("-updated_at", "-pk")[:per_column]
        )
        columns.append(
            BoardColumn(
                stage=stage,
                previous=stages[index - 1] if index > 0 else None,
                next=stages[index + 1] if index + 1 < len(stages) else None,
                deals=deals,
                count=row.get("count", 0),
                amount=row.get("amount") or Decimal("0"),
            )
        )
    return columns


def lead_list_for(*, user) -> QuerySet[Lead]:
    """The leads a user can see, with what a list row shows, newest first."""
    return (
        Lead.objects.visible_to(user)
        .select_related("company", "source", "owner")
        .order_by("-created_at", "-pk")
    )


def lead_for_page(*, user, pk: int) -> Lead | None:
    """One lead the user can see, with its company and owner; None when invisible."""
    return (
        Lead.objects.visible_to(user).select_related("company", "owner", "source").filter(pk=pk)
    ).first()


def lead_sources() -> QuerySet[LeadSource]:
    return LeadSource.objects.order_by("name")
