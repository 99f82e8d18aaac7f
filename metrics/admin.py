from django.contrib import admin

from accounts.audit import AuditedAdmin

from .models import (
    CustomerFirstWin,
    CycleBucket,
    CycleFigures,
    DayFigures,
    FunnelDay,
    FunnelMonth,
    KPISnapshot,
    MonthFigures,
    OpenDealDates,
    OpenDeals,
    ScopeCustomers,
    SummaryChange,
    Target,
    WonDeal,
)
from .services import TargetCell, targets_set


@admin.register(Target)
class TargetAdmin(AuditedAdmin):
    list_display = ["__str__", "user", "team", "metric", "period_kind", "period_start", "value"]
    list_filter = ["metric", "period_kind", "team"]
    search_fields = ["user__username", "team__name"]
    date_hierarchy = "period_start"
    autocomplete_fields = ["user", "team", "set_by"]
    list_select_related = ["user", "team"]

    readonly_fields = ["set_by"]

    # Through targets_set, like the grid page: its rules, and the history row of each change.
    def save_model(self, request, obj: Target, form, change: bool) -> None:
        cells = []
        if change:
            before = Target.objects.get(pk=obj.pk)
            if _cell(before).key != _cell(obj).key:
                cells.append(_cell(before, value=None))
        cells.append(_cell(obj))
        targets_set(by=request.user, changes=cells)

    def delete_model(self, request, obj: Target) -> None:
        targets_set(by=request.user, changes=[_cell(obj, value=None)])

    def delete_queryset(self, request, queryset) -> None:
        targets_set(by=request.user, changes=[_cell(t, value=None) for t in queryset])


def _cell(target: Target, **overrides) -> TargetCell:
    fields = {
        "period_kind": target.period_kind,
        "period_start": target.period_start,
        "value": target.value,
        "user_id": target.user_id,
        "team_id": target.team_id,
        "metric": target.metric,
    }
    return TargetCell(**{**fields, **overrides})


@admin.register(KPISnapshot)
class KPISnapshotAdmin(admin.ModelAdmin):
    """Read-only: rows are written by the nightly job (snapshot_kpis)."""

    list_display = [
        "date",
        "scope_kind",
        "scope_id",
        "period_kind",
        "revenue",
        "deals_won",
        "win_rate",
        "target",
        "attainment",
    ]
    list_filter = ["scope_kind", "period_kind"]
    search_fields = ["scope_id"]
    date_hierarchy = "date"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(
    DayFigures,
    MonthFigures,
    OpenDeals,
    OpenDealDates,
    WonDeal,
    FunnelDay,
    FunnelMonth,
    CustomerFirstWin,
    ScopeCustomers,
    CycleBucket,
    CycleFigures,
    SummaryChange,
)
class SummaryAdmin(admin.ModelAdmin):
    """The summary tables, read-only: metrics.summary writes them, `rebuild_summary`
    repairs them; an edit here would only be drift."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
