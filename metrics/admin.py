from django.contrib import admin

from .models import Target


@admin.register(Target)
class TargetAdmin(admin.ModelAdmin):
    list_display = ["__str__", "user", "team", "metric", "period_kind", "period_start", "value"]
    list_filter = ["metric", "period_kind", "team"]
    search_fields = ["user__username", "team__name"]
    date_hierarchy = "period_start"
    autocomplete_fields = ["user", "team", "set_by"]
    list_select_related = ["user", "team"]

    def save_model(self, request, obj: Target, form, change: bool) -> None:
        obj.set_by = request.user
        super().save_model(request, obj, form, change)
