"""KPI and snapshot endpoints. Figures come from metrics.kpis, like every page."""

import django_filters
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Team, User
from accounts.permissions import can_view_scope
from accounts.selectors import visible_team_ids

from .choices import PeriodKind, ScopeKind
from .kpis import kpis_for_scope
from .models import KPISnapshot

MONEY = {"max_digits": 20, "decimal_places": 2, "coerce_to_string": True}


class KPIQuerySerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=ScopeKind.choices)
    id = serializers.IntegerField(
        required=False, min_value=1, help_text="The team's or user's id; not for scope=org."
    )
    start = serializers.DateField(help_text="First day, inclusive (YYYY-MM-DD).")
    end = serializers.DateField(help_text="Last day, inclusive (YYYY-MM-DD).")
    period = serializers.ChoiceField(
        choices=PeriodKind.choices,
        required=False,
        help_text="Whose target applies; default: the smallest calendar period that "
        "begins on start and contains end.",
    )

    def validate(self, attrs):
        if attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": "end must not be before start."})
        if attrs["scope"] != ScopeKind.ORG and "id" not in attrs:
            raise serializers.ValidationError({"id": f"id is required for scope={attrs['scope']}."})
        if (attrs["end"] - attrs["start"]).days > 366 * 10:
            raise serializers.ValidationError({"end": "A range is at most ten years."})
        return attrs


class KPISerializer(serializers.Serializer):
    """Every KPI of docs/kpis.md: money as strings with 2 decimals, rates 0..1, null
    where undefined."""

    scope = serializers.CharField()
    id = serializers.IntegerField(allow_null=True)
    start = serializers.DateField()
    end = serializers.DateField()
    as_of = serializers.DateTimeField()
    leads_created = serializers.IntegerField()
    opportunities_created = serializers.IntegerField()
    deals_won = serializers.IntegerField()
    deals_lost = serializers.IntegerField()
    revenue = serializers.DecimalField(**MONEY)
    win_rate = serializers.FloatField(allow_null=True)
    close_rate = serializers.FloatField(allow_null=True)
    opportunity_close_rate = serializers.FloatField(allow_null=True)
    avg_deal_size = serializers.DecimalField(**MONEY, allow_null=True)
    sales_cycle_days_mean = serializers.FloatField(allow_null=True)
    sales_cycle_days_median = serializers.FloatField(allow_null=True)
    open_deals = serializers.IntegerField()
    pipeline_value = serializers.DecimalField(**MONEY)
    weighted_pipeline = serializers.DecimalField(**MONEY)
    sales_velocity = serializers.DecimalField(**MONEY, allow_null=True)
    clv = serializers.DecimalField(**MONEY, allow_null=True)
    target = serializers.DecimalField(**MONEY, allow_null=True)
    attainment = serializers.FloatField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class KPIView(APIView):
    @extend_schema(
        parameters=[KPIQuerySerializer],
        responses={
            200: KPISerializer,
            400: OpenApiResponse(description="A bad parameter; the body names it."),
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def get(self, request: Request) -> Response:
        """Every KPI of a scope (org, a team with its sub-teams, a user) for start..end."""
        query = KPIQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        kind, scope_id = params["scope"], params.get("id")
        scope_team_id = None
        if kind == ScopeKind.TEAM:
            get_object_or_404(Team, pk=scope_id)
        elif kind == ScopeKind.USER:
            scope_team_id = get_object_or_404(User, pk=scope_id).team_id
        else:
            scope_id = None
        team_ids = visible_team_ids(user=request.user)
        if not can_view_scope(
            request.user,
            kind=kind,
            scope_id=scope_id,
            team_ids=team_ids,
            scope_team_id=scope_team_id,
        ):
            raise PermissionDenied("You may not see the figures of this scope.")
        as_of = timezone.now()
        kpis = kpis_for_scope(
            kind=kind,
            scope_id=scope_id,
            start=params["start"],
            end=params["end"],
            as_of=as_of,
            period=params.get("period"),
        )
        body = {
            "scope": kind,
            "id": scope_id,
            "start": params["start"],
            "end": params["end"],
            "as_of": as_of,
            **kpis.as_dict(),
        }
        return Response(KPISerializer(body).data)


class SnapshotSerializer(serializers.ModelSerializer):
    scope = serializers.CharField(source="scope_kind")
    id = serializers.IntegerField(source="scope_id")
    period = serializers.CharField(source="period_kind")
    revenue = serializers.DecimalField(**MONEY)
    avg_deal_size = serializers.DecimalField(**MONEY, allow_null=True)
    pipeline_value = serializers.DecimalField(**MONEY)
    weighted_pipeline = serializers.DecimalField(**MONEY)
    sales_velocity = serializers.DecimalField(**MONEY, allow_null=True)
    clv = serializers.DecimalField(**MONEY, allow_null=True)
    target = serializers.DecimalField(**MONEY, allow_null=True)

    class Meta:
        model = KPISnapshot
        exclude = ["scope_kind", "scope_id", "period_kind"]


class SnapshotFilter(django_filters.FilterSet):
    scope = django_filters.ChoiceFilter(field_name="scope_kind", choices=ScopeKind.choices)
    id = django_filters.NumberFilter(field_name="scope_id")
    period = django_filters.ChoiceFilter(field_name="period_kind", choices=PeriodKind.choices)
    date = django_filters.DateFromToRangeFilter(
        help_text="date_after / date_before: an inclusive range of snapshot dates."
    )

    class Meta:
        model = KPISnapshot
        fields = ["scope", "id", "period", "date"]


class SnapshotViewSet(viewsets.ReadOnlyModelViewSet):
    """Frozen KPI rows the caller may see, newest first."""

    queryset = KPISnapshot.objects.none()
    serializer_class = SnapshotSerializer
    filterset_class = SnapshotFilter
    ordering_fields = ["date", "scope_id"]

    def get_queryset(self):
        user = self.request.user
        rows = KPISnapshot.objects.order_by("-date", "scope_kind", "scope_id", "period_kind")
        team_ids = visible_team_ids(user=user)
        if team_ids is None:
            return rows
        user_ids = User.objects.filter(team_id__in=team_ids).values("pk")
        return rows.filter(
            Q(scope_kind=ScopeKind.TEAM, scope_id__in=team_ids)
            | Q(scope_kind=ScopeKind.USER, scope_id__in=user_ids)
            | Q(scope_kind=ScopeKind.USER, scope_id=user.pk)
        )
