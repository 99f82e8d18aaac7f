"""The pipeline's endpoints: deals and leads (with their moves), and the reference data
deals point at (companies, stages, products, lead sources).

Every deal and lead is read through visible_to(user), so one the caller may not see is a
404; writes check accounts.permissions (visible but not writable is a 403) and go through
pipeline.services, like the pages, so moves leave StageChanges and the won/lost rules hold.
A service's ValidationError becomes a 400 naming the field (salesperf/api_errors.py).
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from accounts.permissions import can_edit_deal, can_edit_lead, is_admin
from accounts.selectors import visible_users
from salesperf.api_errors import Conflict, RejectUnknownFieldsMixin, django_errors
from salesperf.api_fields import RelatedIdField, money_field

from .api_filters import CompanyFilter, DealFilter, LeadFilter, ProductFilter, StageFilter
from .choices import LeadStatus, StageKind
from .models import Company, Deal, Lead, LeadSource, Product, Stage
from .selectors import first_open_stage
from .services import deal_move_to_stage, deal_save, lead_convert, lead_save, lead_set_status

NOT_YOUR_PERSON = "Not one of your people."


def _owners(*, user) -> QuerySet[User]:
    """Whom a deal or lead may be given to: active people the caller sees (a rep: only
    themselves; a manager: their tree; an admin: everyone)."""
    return visible_users(user=user).filter(is_active=True)


def _visible_leads(*, user) -> QuerySet[Lead]:
    return Lead.objects.visible_to(user)


def _active_products(*, user) -> QuerySet[Product]:
    return Product.objects.filter(is_active=True)


# --- Permissions ----------------------------------------------------------------------------


class CanEditObject(BasePermission):
    """Reads for whoever sees the object (the queryset decides), writes per the view's
    `can_edit(user, obj)` predicate from accounts.permissions."""

    message = "You can see this but not change it."

    def has_object_permission(self, request, view, obj) -> bool:
        return request.method in SAFE_METHODS or view.can_edit(request.user, obj)


class IsAdminOrReadOnly(BasePermission):
    """Reference data: everyone signed in reads it, admins change it."""

    message = "Only admins change this."

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or is_admin(request.user)


class IsAdminOrReadAndCreate(IsAdminOrReadOnly):
    """Companies: everyone signed in reads and adds them, admins change and delete them."""

    def has_permission(self, request, view) -> bool:
        return request.method == "POST" or super().has_permission(request, view)


class ProtectedDestroyMixin:
    """Deleting a row still used elsewhere is a 409, not a 500."""

    schema_error_responses = {
        "destroy": {409: "Still in use (by deals or leads); nothing was deleted."}
    }

    def perform_destroy(self, instance) -> None:
        try:
            with transaction.atomic():
                instance.delete()
        except ProtectedError as error:
            raise Conflict(f"{instance} is still in use and cannot be deleted.") from error


# --- Deals ----------------------------------------------------------------------------------


class DealSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    company = RelatedIdField(
        queryset=Company.objects.all(),
        allow_null=True,
        required=False,
        help_text="The customer's id (see companies/); null for none.",
    )
    company_name = serializers.CharField(
        source="company.name", read_only=True, allow_null=True, help_text="The company's name."
    )
    lead = RelatedIdField(
        queryset=Lead.objects.all(),
        scope=_visible_leads,
        allow_null=True,
        required=False,
        error_messages={"does_not_exist": "No lead you can see has this id."},
        help_text="The id of the lead the deal came from, one you can see; null for none.",
    )
    product = RelatedIdField(
        queryset=Product.objects.all(),
        scope=_active_products,
        allow_null=True,
        required=False,
        error_messages={"does_not_exist": "No active product has this id."},
        help_text="The id of an active product; null for none.",
    )
    owner = RelatedIdField(
        queryset=User.objects.all(),
        scope=_owners,
        required=False,
        error_messages={"does_not_exist": NOT_YOUR_PERSON},
        help_text="The owner's user id; default you. A rep owns their deals; a manager may "
        "give one to someone in their teams; an admin to anyone.",
    )
    stage = RelatedIdField(
        queryset=Stage.objects.all(),
        required=False,
        help_text="The stage's id (see stages/); default the first stage of the default "
        "pipeline. Changing it moves the deal: a won or lost stage closes it (closed_at "
        "defaults to now), an open one reopens it (closed_at is cleared), and the move is "
        "recorded in the deal's stage history.",
    )
    stage_name = serializers.CharField(
        source="stage.name", read_only=True, help_text="The stage's name."
    )
    status = serializers.ChoiceField(
        source="stage.kind",
        choices=StageKind.choices,
        read_only=True,
        help_text="The kind of the deal's stage: open, won or lost.",
    )
    amount = money_field(required=False, help_text="The deal's value; default 0.00.")

    class Meta:
        model = Deal
        fields = [
            "id",
            "external_id",
            "name",
            "company",
            "company_name",
            "lead",
            "product",
            "owner",
            "team",
            "stage",
            "stage_name",
            "status",
            "amount",
            "expected_close_date",
            "created_at",
            "closed_at",
            "lost_reason",
            "updated_at",
        ]
        read_only_fields = ["id", "team", "created_at", "updated_at"]
        extra_kwargs = {
            "name": {"help_text": "What is being sold to whom, e.g. “Acme – 50 seats”."},
            "team": {
                "help_text": "The id of the team the deal counts for: the owner's team while "
                "open, frozen when the deal closes."
            },
            "external_id": {
                "allow_null": True,
                "help_text": "The deal's id in the system it came from; unique when present.",
            },
            "expected_close_date": {"help_text": "When the owner expects it to close."},
            "created_at": {"help_text": "When the deal was opened."},
            "closed_at": {
                "help_text": "When the deal was won or lost; null while open. Set it when "
                "closing to date the close (default now)."
            },
            "lost_reason": {"help_text": "Why it was lost; only for lost deals."},
            "updated_at": {"help_text": "When the deal was last saved."},
        }

    def validate_external_id(self, value: str | None) -> str | None:
        return (value.strip() or None) if value else None

    def validate(self, attrs: dict) -> dict:
        # The stage the deal ends up in; a new deal without one starts in an open stage.
        stage = attrs.get("stage") or getattr(self.instance, "stage", None)
        kind = stage.kind if stage is not None else StageKind.OPEN
        if attrs.get("closed_at") and kind == StageKind.OPEN:
            raise ValidationError(
                {"closed_at": ["An open deal has no close date; move it to won or lost."]}
            )
        if attrs.get("lost_reason") and kind != StageKind.LOST:
            raise ValidationError({"lost_reason": ["Only a lost deal has a lost reason."]})
        return attrs


class DealCreateSerializer(DealSerializer):
    """A new deal; created_at may be given (a deal entered after the fact)."""

    class Meta(DealSerializer.Meta):
        read_only_fields = ["id", "team", "updated_at"]
        extra_kwargs = {
            **DealSerializer.Meta.extra_kwargs,
            "created_at": {
                "required": False,
                "help_text": "When the deal was opened; default now.",
            },
        }


class DealMoveSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    stage = RelatedIdField(
        queryset=Stage.objects.all(),
        help_text="The stage to move to, one of the deal's pipeline.",
    )
    closed_at = serializers.DateTimeField(
        required=False,
        help_text="When the deal was won or lost; default now. Only for a won or lost stage.",
    )
    amount = money_field(required=False, help_text="The new amount, e.g. the amount won.")
    lost_reason = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="Why it was lost; only for a lost stage.",
    )

    def validate(self, attrs: dict) -> dict:
        kind = attrs["stage"].kind
        if "closed_at" in attrs and kind == StageKind.OPEN:
            raise ValidationError({"closed_at": ["Only a won or lost stage takes a close time."]})
        if attrs.get("lost_reason") and kind != StageKind.LOST:
            raise ValidationError({"lost_reason": ["Only a lost deal has a lost reason."]})
        return attrs


@extend_schema_view(
    list=extend_schema(description="The deals you can see, newest first."),
    retrieve=extend_schema(description="One deal you can see."),
    create=extend_schema(
        description="Add a deal. A rep's deal is theirs; a manager may give it to someone in "
        "their teams, an admin to anyone.",
        request=DealCreateSerializer,
        responses={201: DealSerializer},
    ),
    update=extend_schema(description="Edit a deal; a new stage moves it (see `stage`)."),
    partial_update=extend_schema(description="Edit some fields; a new stage moves it."),
)
class DealViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Deals: a rep's own, a manager's team tree, an admin's all. No DELETE (405)."""

    queryset = Deal.objects.none()
    serializer_class = DealSerializer
    filterset_class = DealFilter
    permission_classes = [IsAuthenticated, CanEditObject]
    ordering_fields = ["name", "amount", "created_at", "closed_at", "expected_close_date", "id"]

    @staticmethod
    def can_edit(user, deal: Deal) -> bool:
        return can_edit_deal(user, deal)

    def get_queryset(self) -> QuerySet[Deal]:
        return (
            Deal.objects.visible_to(self.request.user)
            .select_related("company", "stage")
            .order_by("-created_at", "-pk")
        )

    def get_serializer_class(self):
        return DealCreateSerializer if self.action == "create" else DealSerializer

    def perform_create(self, serializer: DealSerializer) -> None:
        data = dict(serializer.validated_data)
        deal = Deal(**data)
        deal.owner = data.get("owner") or self.request.user
        stage = data.get("stage") or first_open_stage()
        if stage is None:
            raise ValidationError({"stage": ["No default pipeline is set up; give a stage."]})
        deal.stage = stage
        if stage.kind != StageKind.OPEN and deal.closed_at is None:
            deal.closed_at = timezone.now()
        serializer.instance = deal_save(deal=deal, by=self.request.user)

    def perform_update(self, serializer: DealSerializer) -> None:
        deal: Deal = serializer.instance
        data = dict(serializer.validated_data)
        stage = data.pop("stage", None)
        for field, value in data.items():
            setattr(deal, field, value)
        if stage is not None and stage.pk != deal.stage_id:
            deal = deal_move_to_stage(
                deal=deal,
                stage=stage,
                by=self.request.user,
                at=data.get("closed_at"),
                lost_reason=deal.lost_reason,
            )
        else:
            deal = deal_save(deal=deal, by=self.request.user)
        serializer.instance = deal

    @extend_schema(
        request=DealMoveSerializer,
        responses={200: DealSerializer},
        description="Move a deal to another stage of its pipeline. A won or lost stage "
        "closes it (closed_at: the given time, default now), an open one reopens it; the "
        "move is recorded in the deal's stage history, by you.",
    )
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk=None) -> Response:
        deal = self.get_object()
        move = DealMoveSerializer(data=request.data, context=self.get_serializer_context())
        move.is_valid(raise_exception=True)
        data = move.validated_data
        deal = deal_move_to_stage(
            deal=deal,
            stage=data["stage"],
            by=request.user,
            at=data.get("closed_at"),
            amount=data.get("amount"),
            lost_reason=data.get("lost_reason", "").strip(),
        )
        return Response(DealSerializer(deal, context=self.get_serializer_context()).data)


# --- Leads ----------------------------------------------------------------------------------


class LeadSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    company = RelatedIdField(
        queryset=Company.objects.all(), help_text="The company's id (see companies/)."
    )
    company_name = serializers.CharField(
        source="company.name", read_only=True, help_text="The company's name."
    )
    source = RelatedIdField(
        queryset=LeadSource.objects.all(),
        allow_null=True,
        required=False,
        help_text="Where the lead came from (see lead-sources/); null when unknown.",
    )
    owner = RelatedIdField(
        queryset=User.objects.all(),
        scope=_owners,
        required=False,
        error_messages={"does_not_exist": NOT_YOUR_PERSON},
        help_text="The owner's user id; default you. A manager may give a lead to someone "
        "in their teams; an admin to anyone.",
    )

    class Meta:
        model = Lead
        fields = [
            "id",
            "company",
            "company_name",
            "contact_name",
            "contact_email",
            "source",
            "owner",
            "team",
            "status",
            "disqualified_reason",
            "created_at",
            "converted_at",
        ]
        read_only_fields = [
            "id",
            "team",
            "status",
            "disqualified_reason",
            "created_at",
            "converted_at",
        ]
        extra_kwargs = {
            "contact_name": {"help_text": "The person at the company."},
            "contact_email": {"help_text": "Their email address."},
            "team": {
                "help_text": "The id of the team the lead counts for: its owner's team "
                "when it came in."
            },
            "status": {
                "help_text": "new, working, qualified, disqualified or converted; "
                "change it with POST leads/{id}/status/ or leads/{id}/convert/."
            },
            "disqualified_reason": {"help_text": "Why it was disqualified."},
            "created_at": {"help_text": "When the lead came in."},
            "converted_at": {"help_text": "When it became a deal; null until then."},
        }


class LeadCreateSerializer(LeadSerializer):
    """A new lead; created_at may be given (a lead entered after the fact)."""

    class Meta(LeadSerializer.Meta):
        read_only_fields = ["id", "team", "status", "disqualified_reason", "converted_at"]
        extra_kwargs = {
            **LeadSerializer.Meta.extra_kwargs,
            "created_at": {"required": False, "help_text": "When the lead came in; default now."},
        }


class LeadStatusSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[
            (LeadStatus.WORKING, "Working"),
            (LeadStatus.QUALIFIED, "Qualified"),
            (LeadStatus.DISQUALIFIED, "Disqualified"),
        ],
        help_text="The new status; to convert a lead, POST leads/{id}/convert/.",
    )
    reason = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="Why it is disqualified; required to disqualify.",
    )

    def validate(self, attrs: dict) -> dict:
        if attrs["status"] == LeadStatus.DISQUALIFIED and not attrs.get("reason", "").strip():
            raise ValidationError({"reason": ["Give a reason to disqualify the lead."]})
        return attrs


class LeadConvertSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    deal_name = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="The new deal's name; default “<company> deal”.",
    )
    amount = money_field(required=False, help_text="The new deal's value; default 0.00.")
    stage = RelatedIdField(
        queryset=Stage.objects.all(),
        required=False,
        help_text="An open stage to start in; default the default pipeline's first.",
    )
    expected_close_date = serializers.DateField(
        required=False, allow_null=True, help_text="When the deal is expected to close."
    )


@extend_schema_view(
    list=extend_schema(description="The leads you can see, newest first."),
    retrieve=extend_schema(description="One lead you can see."),
    create=extend_schema(
        description="Add a lead (status new). A rep's lead is theirs; a manager may give it "
        "to someone in their teams, an admin to anyone.",
        request=LeadCreateSerializer,
        responses={201: LeadSerializer},
    ),
    update=extend_schema(description="Edit a lead's company, contact, source or owner."),
    partial_update=extend_schema(description="Edit some of a lead's fields."),
)
class LeadViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Leads: a rep's own, a manager's team tree, an admin's all. No DELETE (405)."""

    queryset = Lead.objects.none()
    serializer_class = LeadSerializer
    filterset_class = LeadFilter
    permission_classes = [IsAuthenticated, CanEditObject]
    ordering_fields = ["created_at", "converted_at", "status", "contact_name", "id"]

    @staticmethod
    def can_edit(user, lead: Lead) -> bool:
        return can_edit_lead(user, lead)

    def get_queryset(self) -> QuerySet[Lead]:
        return (
            Lead.objects.visible_to(self.request.user)
            .select_related("company")
            .order_by("-created_at", "-pk")
        )

    def get_serializer_class(self):
        return LeadCreateSerializer if self.action == "create" else LeadSerializer

    def perform_create(self, serializer: LeadSerializer) -> None:
        data = dict(serializer.validated_data)
        lead = Lead(**data)
        lead.owner = data.get("owner") or self.request.user
        serializer.instance = lead_save(lead=lead)

    def perform_update(self, serializer: LeadSerializer) -> None:
        lead: Lead = serializer.instance
        for field, value in serializer.validated_data.items():
            setattr(lead, field, value)
        serializer.instance = lead_save(lead=lead)

    @extend_schema(
        request=LeadStatusSerializer,
        responses={200: LeadSerializer},
        description="Work, qualify or disqualify (with a reason) a lead. A converted lead "
        "keeps its status.",
    )
    @action(detail=True, methods=["post"])
    def status(self, request: Request, pk=None) -> Response:
        lead = self.get_object()
        change = LeadStatusSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        try:
            lead = lead_set_status(
                lead=lead,
                status=change.validated_data["status"],
                reason=change.validated_data.get("reason", "").strip(),
            )
        except DjangoValidationError as error:
            raise ValidationError(django_errors(error, rename=_STATUS_FIELDS)) from error
        return Response(LeadSerializer(lead, context=self.get_serializer_context()).data)

    @extend_schema(
        request=LeadConvertSerializer,
        responses={201: DealSerializer},
        description="Turn a lead into a deal, owned by the lead's owner, in an open stage. "
        "Answers the new deal.",
    )
    @action(detail=True, methods=["post"])
    def convert(self, request: Request, pk=None) -> Response:
        lead = self.get_object()
        conversion = LeadConvertSerializer(data=request.data, context=self.get_serializer_context())
        conversion.is_valid(raise_exception=True)
        data = conversion.validated_data
        try:
            deal = lead_convert(
                lead=lead,
                deal_name=data.get("deal_name", "").strip(),
                amount=data.get("amount") or 0,
                stage=data.get("stage"),
                expected_close_date=data.get("expected_close_date"),
                by=request.user,
            )
        except DjangoValidationError as error:
            raise ValidationError(django_errors(error, rename=_CONVERT_FIELDS)) from error
        body = DealSerializer(deal, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)


# The services name model fields; these endpoints name their own.
_STATUS_FIELDS = {"disqualified_reason": "reason"}
_CONVERT_FIELDS = {
    "name": "deal_name",
    "status": "non_field_errors",
    "converted_at": "non_field_errors",
}


# --- Reference data -------------------------------------------------------------------------


class CompanySerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Company
        fields = ["id", "name", "industry", "segment", "icp_fit", "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {
            # Uniqueness is checked without regard to case, in validate_name.
            "name": {"validators": [], "help_text": "Unique, whatever the case."},
            "industry": {"help_text": "e.g. Software, Retail."},
            "segment": {"help_text": "The company's size class."},
            "created_at": {"help_text": "When it was added."},
        }

    def validate_name(self, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValidationError("Enter the company's name.")
        others = Company.objects.filter(name__iexact=value)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        existing = others.order_by("pk").first()
        if existing is not None:
            raise ValidationError(f"Company {existing.pk} already has this name.")
        return value


@extend_schema_view(
    create=extend_schema(description="Add a company; anyone signed in may."),
    update=extend_schema(description="Edit a company (admins)."),
    partial_update=extend_schema(description="Edit some of a company's fields (admins)."),
    destroy=extend_schema(description="Delete a company no deal or lead uses (admins)."),
)
class CompanyViewSet(ProtectedDestroyMixin, viewsets.ModelViewSet):
    """Customer companies, shared by everyone: all read and add them, admins edit them."""

    queryset = Company.objects.order_by("name", "pk")
    serializer_class = CompanySerializer
    filterset_class = CompanyFilter
    permission_classes = [IsAuthenticated, IsAdminOrReadAndCreate]
    ordering_fields = ["name", "created_at", "id"]

    def perform_create(self, serializer: CompanySerializer) -> None:
        self._save(serializer)

    def perform_update(self, serializer: CompanySerializer) -> None:
        self._save(serializer)

    @staticmethod
    def _save(serializer: CompanySerializer) -> None:
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError as error:
            # Another request saved the same name between our check and our write.
            raise ValidationError({"name": ["A company already has this name."]}) from error


class StageSerializer(serializers.ModelSerializer):
    pipeline_name = serializers.CharField(
        source="pipeline.name", read_only=True, help_text="The pipeline's name."
    )
    is_default = serializers.BooleanField(
        source="pipeline.is_default",
        read_only=True,
        help_text="Whether the stage belongs to the default pipeline.",
    )

    class Meta:
        model = Stage
        fields = [
            "id",
            "pipeline",
            "pipeline_name",
            "is_default",
            "name",
            "order",
            "probability",
            "kind",
        ]
        extra_kwargs = {
            "pipeline": {"help_text": "The pipeline's id."},
            "name": {"help_text": "The stage's name, unique within its pipeline."},
            "order": {"help_text": "Position within the pipeline, from the first stage."},
            "kind": {"help_text": "open, won or lost: a deal in a won or lost stage is closed."},
        }


@extend_schema_view(list=extend_schema(description="Every stage, default pipeline first."))
class StageViewSet(viewsets.ReadOnlyModelViewSet):
    """The stages of every pipeline, in pipeline order (read-only; admins edit them in the
    admin)."""

    queryset = Stage.objects.select_related("pipeline").order_by(
        "-pipeline__is_default", "pipeline__name", "order", "pk"
    )
    serializer_class = StageSerializer
    filterset_class = StageFilter
    ordering_fields = ["order", "probability", "id"]


class ProductSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    list_price = money_field(
        required=False, allow_null=True, help_text="The list price; a hint, deals set amounts."
    )

    class Meta:
        model = Product
        fields = ["id", "name", "list_price", "is_active"]
        extra_kwargs = {
            "name": {"help_text": "Unique."},
            "is_active": {"help_text": "Still sold: only active products go on new deals."},
        }


class ProductViewSet(ProtectedDestroyMixin, viewsets.ModelViewSet):
    """What deals sell: everyone reads the catalogue, admins change it."""

    queryset = Product.objects.order_by("name", "pk")
    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    permission_classes = [IsAuthenticated, IsAdminOrReadOnly]
    ordering_fields = ["name", "list_price", "id"]


class LeadSourceSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = LeadSource
        fields = ["id", "name"]
        extra_kwargs = {"name": {"help_text": "Unique, e.g. Web, Referral, Event."}}


class LeadSourceViewSet(ProtectedDestroyMixin, viewsets.ModelViewSet):
    """Where leads come from: everyone reads the list, admins change it."""

    queryset = LeadSource.objects.order_by("name", "pk")
    serializer_class = LeadSourceSerializer
    permission_classes = [IsAuthenticated, IsAdminOrReadOnly]
    ordering_fields = ["name", "id"]
