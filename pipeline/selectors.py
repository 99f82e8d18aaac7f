"""Reads about pipelines and stages."""

from .choices import StageKind
from .models import Pipeline, Stage


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


def deal_summary_for(*, user, recent: int = 10) -> dict:
    """Counts and the latest open deals the user can see; three queries at any size."""
    from django.db.models import Count, Q, Sum

    from .models import Deal

    visible = Deal.objects.visible_to(user)
    totals = visible.aggregate(
        open_count=Count("id", filter=Q(stage__kind=StageKind.OPEN)),
        open_amount=Sum("amount", filter=Q(stage__kind=StageKind.OPEN)),
        won_count=Count("id", filter=Q(stage__kind=StageKind.WON)),
        won_amount=Sum("amount", filter=Q(stage__kind=StageKind.WON)),
    )
    latest_open = list(
        visible.open().select_related("company", "stage", "owner").order_by("-created_at")[:recent]
    )
    return {**totals, "latest_open": latest_open}
