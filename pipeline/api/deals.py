"""Deals: list, read, create, change, move, delete (soft) and read their history. Reads go
through visible_to(user), so a deal the caller may not see (or a deleted one) is a 404;
writes go through pipeline.services (deal_save, deal_move_to_stage, deal_delete) like the
pages, so every move leaves a StageChange and every save a history row.

Concurrent edits: a deal carries a `version`, raised by every save. PUT, PATCH and move
accept the version the client read; when the deal has been saved since, the answer is a
409 and nothing is written."""

from contextlib import contextmanager

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from api.errors import Conflict, RejectUnknownFieldsMixin
from api.fields import CurrencyField, RelatedIdField, money_field

from ..choices import StageKind
from ..filters import DealFilter
from ..models import Company, Deal, Lead, Product, Stage
from ..selectors import deal_change_history
from ..services import DealConflict, deal_create, deal_delete, deal_move_to_stage, deal_save
from .common import (
    NOT_YOUR_PERSON,
    CanEditObject,
    PlainLengthErrorsMixin,
    active_products,
    assignable_owners,
    linkable_leads,
)

# --- Deals ----------------------------------------------------------------------------------


class DealSerializer(PlainLengthErrorsMixin, RejectUnknownFieldsMixin, serializers.ModelSerializer):
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
        scope=linkable_leads,
        allow_null=True,
        required=False,
        error_messages={"does_not_exist": "No lead you can see has this id."},
        help_text="The id of the lead the deal came from, one you can see; null for none.",
    )
    product = RelatedIdField(
        queryset=Product.objects.all(),
        scope=active_products,
        allow_null=True,
        required=False,
        error_messages={"does_not_exist": "No active product has this id."},
        help_text="The id of an active product; null for none.",
    )
    owner = RelatedIdField(
        queryset=User.objects.all(),
        scope=assignable_owners,
        required=False,
        error_messages={"does_not_exist": NOT_YOUR_PERSON},
        help_text="The owner's user id; default you. A rep owns their deals; a manager may "
        "give one to someone in their teams; an admin to anyone.",
    )
    stage = RelatedIdField(
        queryset=Stage.objects.all(),
        required=False,
        help_text="The stage's id (see stages/); default the first stage of the default "
        "pipeline, where new deals start (a stage of another pipeline is refused, on "
        "create as on change). Changing it moves the deal: a won or lost stage closes it "
        "(closed_at defaults to now), an open one reopens it (closed_at is cleared), and the "
        "move is "
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
    currency = CurrencyField()
    version = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="Raised by every save. On PUT or PATCH, send the version you read: if the "
        "deal was saved since, the answer is a 409 and nothing is written. Omit it to "
        "overwrite whatever is there.",
    )

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
            "currency",
            "expected_close_date",
            "created_at",
            "closed_at",
            "lost_reason",
            "updated_at",
            "version",
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
                "help_text": "The deal's id in the system it came from; unique when present. "
                "salesperf-<number> is refused: exports name a deal without an id of its "
                "own so, and imports match it to that deal.",
            },
            "expected_close_date": {"help_text": "When the owner expects it to close."},
            "created_at": {"help_text": "When the deal was opened."},
            "closed_at": {
                "help_text": "When the deal was won or lost; null while open. Set it when "
                "closing to date the close (default now); not in the future."
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
    version = serializers.IntegerField(read_only=True, help_text="1 for a new deal.")

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


class DealMoveSerializer(PlainLengthErrorsMixin, RejectUnknownFieldsMixin, serializers.Serializer):
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
    version = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="The deal's version you read; a 409 if it was saved since.",
    )

    def validate(self, attrs: dict) -> dict:
        kind = attrs["stage"].kind
        if "closed_at" in attrs and kind == StageKind.OPEN:
            raise ValidationError({"closed_at": ["Only a won or lost stage takes a close time."]})
        if attrs.get("lost_reason") and kind != StageKind.LOST:
            raise ValidationError({"lost_reason": ["Only a lost deal has a lost reason."]})
        return attrs


class DealFieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The field's name, as in the deal's representation.")
    label = serializers.CharField(help_text="The field's label, for people.")
    old = serializers.CharField(allow_null=True, help_text="The value before; null for none.")
    new = serializers.CharField(allow_null=True, help_text="The value after; null for none.")


class DealHistoryEntrySerializer(serializers.Serializer):
    history_id = serializers.IntegerField(help_text="The history row's id.")
    when = serializers.DateTimeField(help_text="When the change was saved.")
    user_id = serializers.IntegerField(
        allow_null=True, help_text="Who saved it; null for a job or a command without a user."
    )
    user = serializers.CharField(help_text="Their name; empty when unknown.")
    kind = serializers.ChoiceField(
        choices=["created", "changed", "deleted", "restored", "removed", "recorded"],
        help_text="What happened to the deal; `recorded` is the oldest change known of a "
        "deal older than its history.",
    )
    changes = DealFieldChangeSerializer(many=True, help_text="The fields that changed.")


@contextmanager
def _conflict_as_409():
    try:
        yield
    except DealConflict as error:
        raise Conflict(" ".join(error.messages)) from error


@extend_schema_view(
    list=extend_schema(description="The deals you can see, newest first."),
    retrieve=extend_schema(description="One deal you can see."),
    create=extend_schema(
        description="Add a deal. A rep's deal is theirs; a manager may give it to someone in "
        "their teams, an admin to anyone.",
        request=DealCreateSerializer,
        responses={201: DealSerializer},
    ),
    update=extend_schema(
        description="Edit a deal; a new stage moves it (see `stage`). Send the `version` "
        "you read to be refused (409) rather than overwrite someone else's save."
    ),
    partial_update=extend_schema(
        description="Edit some fields; a new stage moves it. With `version`, a 409 when the "
        "deal was saved since you read it."
    ),
    destroy=extend_schema(
        description="Delete a deal: it is hidden everywhere (pages, API, exports, KPIs) and "
        "kept for an admin to restore. Whoever may edit the deal may delete it."
    ),
)
class DealViewSet(viewsets.ModelViewSet):
    """Deals: a rep's own, a manager's team tree, an admin's all. DELETE is a soft delete."""

    queryset = Deal.objects.none()
    serializer_class = DealSerializer
    filterset_class = DealFilter
    permission_classes = [IsAuthenticated, CanEditObject]
    # The FilterSet sorts too (`sort`, and `ordering` its old name), over its columns.
    filter_backends = [DjangoFilterBackend]

    def get_queryset(self) -> QuerySet[Deal]:
        return (
            Deal.objects.visible_to(self.request.user)
            .select_related("company", "stage")
            .order_by("-created_at", "-pk")
        )

    def get_serializer_class(self):
        return DealCreateSerializer if self.action == "create" else DealSerializer

    def perform_create(self, serializer: DealSerializer) -> None:
        # The defaults (owner, stage, close, team) are deal_create's, as for the pages.
        serializer.instance = deal_create(by=self.request.user, **serializer.validated_data)

    schema_error_responses = {
        action: {409: "The deal was saved by someone else since the `version` you sent."}
        for action in ("update", "partial_update", "move")
    }

    def perform_update(self, serializer: DealSerializer) -> None:
        deal: Deal = serializer.instance
        data = dict(serializer.validated_data)
        stage = data.pop("stage", None)
        expected_version = data.pop("version", None)
        for field, value in data.items():
            setattr(deal, field, value)
        with _conflict_as_409():
            if stage is not None and stage.pk != deal.stage_id:
                deal = deal_move_to_stage(
                    deal=deal,
                    stage=stage,
                    by=self.request.user,
                    at=data.get("closed_at"),
                    lost_reason=deal.lost_reason,
                    expected_version=expected_version,
                )
            else:
                deal = deal_save(deal=deal, by=self.request.user, expected_version=expected_version)
        serializer.instance = deal

    def perform_destroy(self, instance: Deal) -> None:
        deal_delete(deal=instance, by=self.request.user)

    @extend_schema(
        responses={200: DealHistoryEntrySerializer(many=True)},
        description="Every recorded change of the deal, newest first (at most 200): when, "
        "who, and each field's old and new value (related rows by name).",
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request: Request, pk=None) -> Response:
        deal = self.get_object()
        entries = deal_change_history(deal=deal)
        return Response(DealHistoryEntrySerializer(entries, many=True).data)

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
        with _conflict_as_409():
            deal = deal_move_to_stage(
                deal=deal,
                stage=data["stage"],
                by=request.user,
                at=data.get("closed_at"),
                amount=data.get("amount"),
                lost_reason=data.get("lost_reason", "").strip(),
                expected_version=data.get("version"),
            )
        return Response(DealSerializer(deal, context=self.get_serializer_context()).data)
