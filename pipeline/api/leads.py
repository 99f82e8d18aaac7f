"""Leads: list, read, create, change, delete (soft), set their status and convert them
into a deal, through pipeline.services like the pages."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from api.errors import RejectUnknownFieldsMixin, django_errors
from api.fields import RelatedIdField, money_field

from ..choices import LeadStatus
from ..filters import LeadFilter
from ..models import Company, Lead, LeadSource, Stage
from ..services import lead_convert, lead_delete, lead_save, lead_set_status
from .common import (
    NOT_YOUR_PERSON,
    CanEditObject,
    PlainLengthErrorsMixin,
    assignable_owners,
)
from .deals import DealSerializer

# --- Leads ----------------------------------------------------------------------------------


class LeadSerializer(PlainLengthErrorsMixin, RejectUnknownFieldsMixin, serializers.ModelSerializer):
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
        scope=assignable_owners,
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


class LeadStatusSerializer(
    PlainLengthErrorsMixin, RejectUnknownFieldsMixin, serializers.Serializer
):
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


class LeadConvertSerializer(
    PlainLengthErrorsMixin, RejectUnknownFieldsMixin, serializers.Serializer
):
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
    destroy=extend_schema(
        description="Delete a lead: it is hidden everywhere and kept for an admin to "
        "restore; deals made from it stay. Whoever may edit the lead may delete it."
    ),
)
class LeadViewSet(viewsets.ModelViewSet):
    """Leads: a rep's own, a manager's team tree, an admin's all. DELETE is a soft delete."""

    queryset = Lead.objects.none()
    serializer_class = LeadSerializer
    filterset_class = LeadFilter
    permission_classes = [IsAuthenticated, CanEditObject]
    # The FilterSet sorts too (`sort`, and `ordering` its old name), over its columns.
    filter_backends = [DjangoFilterBackend]

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
        serializer.instance = lead_save(lead=lead, by=self.request.user)

    def perform_update(self, serializer: LeadSerializer) -> None:
        lead: Lead = serializer.instance
        for field, value in serializer.validated_data.items():
            setattr(lead, field, value)
        serializer.instance = lead_save(lead=lead, by=self.request.user)

    def perform_destroy(self, instance: Lead) -> None:
        lead_delete(lead=instance, by=self.request.user)

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
                by=request.user,
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
