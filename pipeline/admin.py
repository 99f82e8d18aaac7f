from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import (
    Company,
    Deal,
    ImportJob,
    Lead,
    LeadSource,
    Pipeline,
    Product,
    Stage,
    StageChange,
)
from .services import deal_save, lead_convert, lead_save


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "industry", "segment", "icp_fit", "created_at"]
    list_filter = ["segment", "icp_fit", "industry"]
    search_fields = ["name", "industry"]


@admin.register(LeadSource)
class LeadSourceAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "list_price", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]


class StageInline(admin.TabularInline):
    model = Stage
    fields = ["order", "name", "probability", "kind"]
    extra = 0


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ["name", "is_default"]
    search_fields = ["name"]
    inlines = [StageInline]


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin):
    list_display = ["name", "pipeline", "order", "probability", "kind"]
    list_filter = ["pipeline", "kind"]
    search_fields = ["name", "pipeline__name"]
    ordering = ["pipeline", "order"]


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["__str__", "company", "source", "owner", "status", "created_at", "converted_at"]
    list_filter = ["status", "source", "company__segment", "company__icp_fit", "team"]
    search_fields = ["contact_name", "contact_email", "company__name", "owner__username"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["company", "source", "owner"]
    list_select_related = ["company", "source", "owner"]
    readonly_fields = ["team"]
    actions = ["convert_to_deal"]

    def save_model(self, request: HttpRequest, obj: Lead, form, change: bool) -> None:
        lead_save(lead=obj)

    @admin.action(description="Convert the selected leads into deals")
    def convert_to_deal(self, request: HttpRequest, queryset: QuerySet[Lead]) -> None:
        converted = 0
        for lead in queryset.select_related("company", "owner"):
            try:
                lead_convert(lead=lead, by=request.user)
                converted += 1
            except ValidationError as error:
                self.message_user(request, f"{lead}: {'; '.join(error.messages)}", messages.ERROR)
        if converted:
            self.message_user(request, f"Converted {converted} lead(s) into deals.")


class StageChangeInline(admin.TabularInline):
    """The deal's stage history; written only by the stage-move service, never by hand."""

    model = StageChange
    fields = ["changed_at", "from_stage", "to_stage", "changed_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["changed_at", "id"]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[StageChange]:
        return super().get_queryset(request).select_related("from_stage", "to_stage", "changed_by")


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "company",
        "owner",
        "team",
        "stage",
        "amount",
        "created_at",
        "closed_at",
    ]
    list_filter = ["stage__kind", "stage", "team", "product", "company__segment"]
    search_fields = ["name", "company__name", "owner__username", "external_id"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["company", "lead", "product", "owner"]
    list_select_related = ["company", "owner", "team", "stage"]
    readonly_fields = ["team", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "company", "owner", "team", "product", "lead"]}),
        ("Stage and value", {"fields": ["stage", "amount", "expected_close_date"]}),
        ("Dates", {"fields": ["created_at", "closed_at", "lost_reason", "updated_at"]}),
        ("Import", {"fields": ["external_id"], "classes": ["collapse"]}),
    ]
    inlines = [StageChangeInline]

    def save_model(self, request: HttpRequest, obj: Deal, form, change: bool) -> None:
        # The same service as the pages and the API: validation, team, StageChange.
        deal_save(deal=obj, by=request.user)


@admin.register(StageChange)
class StageChangeAdmin(admin.ModelAdmin):
    """Read-only: stage history is evidence for cycle times and funnel conversion."""

    list_display = ["deal", "from_stage", "to_stage", "changed_at", "changed_by"]
    list_filter = ["to_stage", "from_stage"]
    search_fields = ["deal__name", "deal__company__name"]
    date_hierarchy = "changed_at"
    list_select_related = ["deal", "from_stage", "to_stage", "changed_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Uploads and their outcomes, read-only: an import is re-run from the page or the
    command, never edited."""

    list_display = ["file_name", "kind", "status", "created_by", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["created_by"]
    search_fields = ["file_name", "created_by__username"]
    date_hierarchy = "created_at"
    exclude = ["content"]
    readonly_fields = [
        "kind",
        "status",
        "file_name",
        "file_size",
        "skip_invalid",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "result",
        "message",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).defer("content")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
