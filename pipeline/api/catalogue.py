"""Reference data deals point at: companies (everyone reads and creates, admins change),
stages (read-only), products and lead sources (admins write)."""

from django.db import IntegrityError, transaction
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated

from api.errors import RejectUnknownFieldsMixin
from api.fields import money_field

from ..filters import CompanyFilter, ProductFilter, StageFilter
from ..models import Company, LeadSource, Product, Stage
from ..services import company_name_clean, company_name_taken
from .common import (
    IsAdminOrReadAndCreate,
    IsAdminOrReadOnly,
    PlainLengthErrorsMixin,
    ProtectedDestroyMixin,
)

# --- Reference data -------------------------------------------------------------------------


class CompanySerializer(
    PlainLengthErrorsMixin, RejectUnknownFieldsMixin, serializers.ModelSerializer
):
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
        value = company_name_clean(value)
        if not value:
            raise ValidationError("Enter the company's name.")
        existing = company_name_taken(
            name=value, exclude_pk=self.instance.pk if self.instance is not None else None
        )
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


class ProductSerializer(
    PlainLengthErrorsMixin, RejectUnknownFieldsMixin, serializers.ModelSerializer
):
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


class LeadSourceSerializer(
    PlainLengthErrorsMixin, RejectUnknownFieldsMixin, serializers.ModelSerializer
):
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
