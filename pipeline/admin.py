from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.audit import AuditedAdmin, KeepsStoredValuesModelForm

from .models import (
    Company,
    Deal,
    FormSubmission,
    ImportJob,
    Lead,
    LeadSource,
    Pipeline,
    Product,
    Stage,
    StageChange,
)
from .services import (
    deal_delete,
    deal_restore,
    deal_save,
    lead_convert,
    lead_delete,
    lead_restore,
    lead_save,
)


class DeletedFilter(admin.SimpleListFilter):
    """Soft-deleted rows are listed too (to restore them); this narrows to them or the rest."""

    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("yes", "Deleted"), ("no", "Not deleted")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


class SoftDeleteAdminMixin:
    """The admin of a soft-deleted model: it lists deleted rows too (the default manager
    hides them), never removes a row (delete is the service's soft delete, as an action),
    and restores with an action. A deleted row is read-only until restored."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = self.model.all_objects.all()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and obj.deleted_at is not None:
            return False
        return super().has_change_permission(request, obj)

    def _apply(self, request: HttpRequest, queryset: QuerySet, service, verb: str) -> None:
        done = 0
        for obj in queryset:
            try:
                service(obj, by=request.user)
                done += 1
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, f"{obj}: {error}", messages.ERROR)
        if done:
            self.message_user(request, f"{verb} {done} row(s).")

    @admin.action(description="Delete the selected rows (they can be restored)")
    def soft_delete(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(request, queryset.filter(deleted_at__isnull=True), self.delete_row, "Deleted")

    @admin.action(description="Restore the selected deleted rows")
    def restore(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._apply(
            request, queryset.filter(deleted_at__isnull=False), self.restore_row, "Restored"
        )


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    form = KeepsStoredValuesModelForm
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
class LeadAdmin(SoftDeleteAdminMixin, AuditedAdmin):
    list_display = [
        "__str__",
        "company",
        "source",
        "owner",
        "status",
        "created_at",
        "converted_at",
        "deleted_at",
    ]
    list_filter = [
        DeletedFilter,
        "status",
        "source",
        "company__segment",
        "company__icp_fit",
        "team",
    ]
    search_fields = ["contact_name", "contact_email", "company__name", "owner__username"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["company", "source", "owner"]
    list_select_related = ["company", "source", "owner"]
    readonly_fields = ["team", "deleted_at", "deleted_by"]
    actions = ["convert_to_deal", "soft_delete", "restore"]

    def save_model(self, request: HttpRequest, obj: Lead, form, change: bool) -> None:
        lead_save(lead=obj, by=request.user)

    @staticmethod
    def delete_row(lead: Lead, *, by) -> None:
        lead_delete(lead=lead, by=by)

    @staticmethod
    def restore_row(lead: Lead, *, by) -> None:
        lead_restore(lead=lead, by=by)

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
class DealAdmin(SoftDeleteAdminMixin, AuditedAdmin):
    list_display = [
        "name",
        "company",
        "owner",
        "team",
        "stage",
        "amount",
        "created_at",
        "closed_at",
        "deleted_at",
    ]
    list_filter = [DeletedFilter, "stage__kind", "stage", "team", "product", "company__segment"]
    search_fields = ["name", "company__name", "owner__username", "external_id"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["company", "lead", "product", "owner"]
    list_select_related = ["company", "owner", "team", "stage"]
    readonly_fields = ["team", "updated_at", "version", "deleted_at", "deleted_by"]
    actions = ["soft_delete", "restore"]
    fieldsets = [
        (None, {"fields": ["name", "company", "owner", "team", "product", "lead"]}),
        ("Stage and value", {"fields": ["stage", "amount", "expected_close_date"]}),
        ("Dates", {"fields": ["created_at", "closed_at", "lost_reason", "updated_at"]}),
        ("Import", {"fields": ["external_id"], "classes": ["collapse"]}),
        ("Bookkeeping", {"fields": ["version", "deleted_at", "deleted_by"]}),
    ]
    inlines = [StageChangeInline]

    def save_model(self, request: HttpRequest, obj: Deal, form, change: bool) -> None:
        # The same service as the pages and the API: validation, team, StageChange.
        deal_save(deal=obj, by=request.user)

    @staticmethod
    def delete_row(deal: Deal, *, by) -> None:
        deal_delete(deal=deal, by=by)

    @staticmethod
    def restore_row(deal: Deal, *, by) -> None:
        deal_restore(deal=deal, by=by)


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


@admin.register(FormSubmission)
class FormSubmissionAdmin(admin.ModelAdmin):
    """Claimed create-form tokens, to see what a double submit was answered with; read only."""

    list_display = ["created_at", "kind", "user", "object_id"]
    list_filter = ["kind"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
