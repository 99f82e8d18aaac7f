"""KPI, snapshot and target endpoints. Figures come from metrics.kpis, like every page;
targets are written through metrics.services.targets_set, which keeps their history."""

import django_filters
from django.db import IntegrityError
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import Capability, can, restrict, scope_or_404
from accounts.models import Team, User
from api.errors import Conflict, RejectUnknownFieldsMixin
from api.fields import CurrencyField, RelatedIdField, money_field
from api.filters import id_filter
from periods import calendar
from periods.calendar import is_period_start

from .choices import PeriodKind, ScopeKind, TargetMetric
from .dashboards.trends import FROZEN, LIVE, MAX_TREND_MONTHS, MISSING, TREND_MONTHS, monthly_trend
from .definitions import DEFINITIONS
from .kpis import KPI_KEYS, kpis_for_scope
from .models import KPISnapshot, Target
from .services import TargetCell, targets_set
from .targets import YEAR_MAX, YEAR_MIN

MONEY = {"max_digits": 20, "decimal_places": 2, "coerce_to_string": True}
# The calendar's bounds: KPI queries reach past `end` (the end of its day, the period
# around it), which overflows at the ends of Python's calendar.
FIRST_DAY, LAST_DAY = calendar.FIRST_DAY, calendar.LAST_DAY


class KPIQuerySerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=ScopeKind.choices)
    id = serializers.IntegerField(
        required=False, min_value=1, help_text="The team's or user's id; not for scope=org."
    )
    start = serializers.DateField(
        help_text=f"First day, inclusive (YYYY-MM-DD), from {FIRST_DAY}.",
    )
    end = serializers.DateField(
        help_text=f"Last day, inclusive (YYYY-MM-DD), at most ten years after start and "
        f"until {LAST_DAY}."
    )
    period = serializers.ChoiceField(
        choices=PeriodKind.choices,
        required=False,
        help_text="The period to date whose whole target applies (attainment to date); "
        "default: the range's own target (whole periods summed, parts of months prorated "
        "by days; docs/kpis.md, Targets).",
    )

    def validate(self, attrs):
        if attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": "end must not be before start."})
        if attrs["scope"] != ScopeKind.ORG and "id" not in attrs:
            raise serializers.ValidationError({"id": f"id is required for scope={attrs['scope']}."})
        if (attrs["end"] - attrs["start"]).days > 366 * 10:
            raise serializers.ValidationError({"end": "A range is at most ten years."})
        outside = [name for name in ("start", "end") if not FIRST_DAY <= attrs[name] <= LAST_DAY]
        if outside:
            message = f"Dates run from {FIRST_DAY} to {LAST_DAY}."
            raise serializers.ValidationError({name: message for name in outside})
        return attrs


UNITS = {
    "count": "A count.",
    "money": "Money: a string with 2 decimals.",
    "rate": "A rate from 0 to 1.",
    "days": "Days, a decimal number.",
    "money_per_day": "Money per day: a string with 2 decimals.",
}


class DescribedKPIsMixin:
    """Each KPI field's schema description comes from metrics.definitions, in the words of
    docs/kpis.md, with its unit; null is always "undefined", never 0."""

    def get_fields(self):
        fields = super().get_fields()
        for name, field in fields.items():
            definition = DEFINITIONS.get(name)
            if definition is not None and not field.help_text:
                nullable = " Null when undefined." if field.allow_null else ""
                field.help_text = f"{definition.short} {UNITS[definition.unit]}{nullable}"
        return fields


class KPISerializer(DescribedKPIsMixin, serializers.Serializer):
    """Every KPI of docs/kpis.md: money as strings with 2 decimals, rates 0..1, null
    where undefined."""

    scope = serializers.CharField(help_text="org, team or user, as asked.")
    id = serializers.IntegerField(
        allow_null=True, help_text="The team's or user's id; null for the organisation."
    )
    start = serializers.DateField(help_text="The period's first day, as asked.")
    end = serializers.DateField(help_text="The period's last day, as asked.")
    as_of = serializers.DateTimeField(help_text="When the figures were computed (now).")
    currency = CurrencyField()
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


class KPIView(APIView):
    # Error responses (400 naming the parameter) come from api.schema.
    schema_error_responses = {
        "get": {
            404: "No team or user you may see has this id (one that does not exist and one "
            "you may not see get the same answer), or the organisation, for a non-admin."
        }
    }
    # Every signed-in user may ask; what they may not see is the 404 above.
    schema_omitted_responses = {"get": {403}}

    @extend_schema(parameters=[KPIQuerySerializer], responses={200: KPISerializer})
    def get(self, request: Request) -> Response:
        """Every KPI of a scope (org, a team with its sub-teams, a user) for start..end."""
        query = KPIQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        kind = params["scope"]
        # A scope the caller may not see is a 404, like one that does not exist.
        scope_id = getattr(scope_or_404(request.user, kind, params.get("id")), "pk", None)
        as_of = timezone.now()
        kpis = kpis_for_scope(
            kind=kind,
            scope_id=scope_id,
            start=params["start"],
            end=params["end"],
            as_of=as_of,
            period=params.get("period"),
            live=True,
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


class TrendQuerySerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=ScopeKind.choices)
    id = serializers.IntegerField(
        required=False, min_value=1, help_text="The team's or user's id; not for scope=org."
    )
    kpi = serializers.ChoiceField(
        choices=[(key, key) for key in KPI_KEYS], help_text="The KPI (docs/kpis.md) to trace."
    )
    months = serializers.IntegerField(
        required=False,
        default=TREND_MONTHS,
        min_value=1,
        max_value=MAX_TREND_MONTHS,
        help_text=f"How many months, this one included; default {TREND_MONTHS}, at most "
        f"{MAX_TREND_MONTHS}.",
    )

    def validate(self, attrs):
        if attrs["scope"] != ScopeKind.ORG and "id" not in attrs:
            raise serializers.ValidationError({"id": f"id is required for scope={attrs['scope']}."})
        return attrs


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "number"}],
        "nullable": True,
        "description": "The KPI's value, typed as in kpis/: money a string with 2 decimals, "
        "rates 0..1, counts integers, days decimal numbers; null where undefined (a win "
        "rate with no decided deal) or not frozen (state missing).",
    }
)
class KPIValueField(serializers.Field):
    """One KPI's value in the shape of the same field of KPISerializer."""

    def to_representation(self, value):
        kpi, figure = value
        return None if figure is None else KPISerializer().fields[kpi].to_representation(figure)


STATE_HELP = (
    f"{FROZEN}: as the nightly snapshot froze it at `date`, the month's last day (or its "
    f"latest night before that, when the month's end is not frozen yet); {LIVE}: this "
    f"month to `date` (today), computed now, equal to kpis/ for the month to date; "
    f"{MISSING}: never frozen (before the scope's first snapshot), value null."
)


class TrendPointSerializer(serializers.Serializer):
    month = serializers.DateField(help_text="The month's first day.")
    state = serializers.ChoiceField(choices=[FROZEN, LIVE, MISSING], help_text=STATE_HELP)
    date = serializers.DateField(
        allow_null=True,
        help_text="The day the figure is as of (end of that day); null when missing.",
    )
    value = KPIValueField()


class TrendSerializer(serializers.Serializer):
    scope = serializers.CharField(help_text="org, team or user, as asked.")
    id = serializers.IntegerField(
        allow_null=True, help_text="The team's or user's id; null for the organisation."
    )
    kpi = serializers.CharField(help_text="The KPI, as asked.")
    unit = serializers.ChoiceField(choices=list(UNITS), help_text="The KPI's unit.")
    as_of = serializers.DateTimeField(help_text="When the live point was computed (now).")
    points = TrendPointSerializer(many=True, help_text="One per month, oldest first.")


class TrendView(APIView):
    schema_error_responses = KPIView.schema_error_responses
    schema_omitted_responses = KPIView.schema_omitted_responses

    @extend_schema(parameters=[TrendQuerySerializer], responses={200: TrendSerializer})
    def get(self, request: Request) -> Response:
        """One KPI of a scope month by month: each closed month as frozen at its end, then
        this month live to today (the same figure as kpis/ for the month to date)."""
        query = TrendQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        kind, kpi = params["scope"], params["kpi"]
        # A scope the caller may not see is a 404, like one that does not exist.
        scope_id = getattr(scope_or_404(request.user, kind, params.get("id")), "pk", None)
        as_of = timezone.now()
        trend = monthly_trend(
            scope_kind=kind,
            scope_id=scope_id or 0,
            last_day=timezone.localdate(as_of),
            as_of=as_of,
            months=params["months"],
            quarters=False,
        )
        body = {
            "scope": kind,
            "id": scope_id,
            "kpi": kpi,
            "unit": DEFINITIONS[kpi].unit,
            "as_of": as_of,
            "points": [
                {
                    "month": m.month,
                    "state": m.state,
                    "date": m.as_of,
                    "value": (kpi, m.figures.get(kpi)),
                }
                for m in trend.months
            ],
        }
        return Response(TrendSerializer(body).data)


class SnapshotSerializer(DescribedKPIsMixin, serializers.ModelSerializer):
    scope = serializers.CharField(source="scope_kind", help_text="org, team or user.")
    id = serializers.IntegerField(
        source="scope_id", help_text="The team's or user's id; 0 for the organisation."
    )
    period = serializers.CharField(
        source="period_kind", help_text="month, quarter or year: the period to date."
    )
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
        extra_kwargs = {
            "period_start": {"help_text": "The first day of the period the figures cover."},
            "computed_at": {"help_text": "When the nightly job computed the row."},
        }


class SnapshotFilter(django_filters.FilterSet):
    scope = django_filters.ChoiceFilter(field_name="scope_kind", choices=ScopeKind.choices)
    id = id_filter("scope_id", "The user's or team's id; 0 for the organisation.", minimum=0)
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
        rows = KPISnapshot.objects.order_by("-date", "scope_kind", "scope_id", "period_kind")
        return restrict(rows, self.request.user)


# --- Targets --------------------------------------------------------------------------------


class ManagesTargetsOrReadOnly(BasePermission):
    """Everyone reads the targets they see; managers and admins set them."""

    message = "Only managers and admins set targets."

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or can(request.user, Capability.MANAGE_TARGETS)


SCOPE_CHOICES = [(ScopeKind.USER, "User"), (ScopeKind.TEAM, "Team")]


class TargetSerializer(serializers.ModelSerializer):
    scope = serializers.SerializerMethodField(help_text="Whose target: a user's or a team's.")
    value = money_field(help_text="The goal: money for revenue, a count for the others.")
    period_end = serializers.DateField(read_only=True, help_text="The period's last day.")

    class Meta:
        model = Target
        fields = [
            "id",
            "scope",
            "user",
            "team",
            "metric",
            "period_kind",
            "period_start",
            "period_end",
            "value",
            "set_by",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "user": {"help_text": "The user's id, for a user's target; else null."},
            "team": {"help_text": "The team's id, for a team's target; else null."},
            "metric": {"help_text": "What the goal counts."},
            "period_kind": {"help_text": "A month, a quarter or a year."},
            "set_by": {"help_text": "Who last set it."},
            "updated_at": {"help_text": "When it was last set."},
        }

    @extend_schema_field(serializers.ChoiceField(choices=SCOPE_CHOICES))
    def get_scope(self, target: Target) -> str:
        return ScopeKind.USER if target.user_id is not None else ScopeKind.TEAM


class TargetCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    user = RelatedIdField(
        queryset=User.objects.all(),
        scope=lambda user: restrict(User.objects.all(), user),
        required=False,
        allow_null=True,
        error_messages={"does_not_exist": "Not one of your people."},
        help_text="For a user's target: the user's id. Give a user or a team.",
    )
    team = RelatedIdField(
        queryset=Team.objects.all(),
        scope=lambda user: restrict(Team.objects.all(), user),
        required=False,
        allow_null=True,
        error_messages={"does_not_exist": "Not one of your teams."},
        help_text="For a team's target: the team's id. Give a user or a team.",
    )
    metric = serializers.ChoiceField(
        choices=TargetMetric.choices, default=TargetMetric.REVENUE, help_text="Default revenue."
    )
    period_kind = serializers.ChoiceField(choices=PeriodKind.choices, help_text="The period.")
    period_start = serializers.DateField(
        help_text=f"The period's first day (the 1st of a month, of a quarter's first month, "
        f"or 1 January), from {YEAR_MIN} to {YEAR_MAX}."
    )
    value = money_field(help_text="The goal: money for revenue, a count for the others.")

    def validate(self, attrs: dict) -> dict:
        if (attrs.get("user") is None) == (attrs.get("team") is None):
            raise ValidationError({"non_field_errors": ["Give a user or a team, not both."]})
        start, kind = attrs["period_start"], attrs["period_kind"]
        if not YEAR_MIN <= start.year <= YEAR_MAX:
            raise ValidationError({"period_start": [f"A year from {YEAR_MIN} to {YEAR_MAX}."]})
        if not is_period_start(start, kind):
            raise ValidationError({"period_start": [f"Not the first day of a {kind}."]})
        return attrs


class TargetValueSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    value = money_field(help_text="The new goal.")


class TargetFilter(django_filters.FilterSet):
    scope = django_filters.ChoiceFilter(
        choices=SCOPE_CHOICES, method="filter_scope", help_text="Users' or teams' targets."
    )
    user = id_filter("user", "The user's id.")
    team = id_filter("team", "The team's id (that team only, not its sub-teams).")
    metric = django_filters.ChoiceFilter(choices=TargetMetric.choices, help_text="The metric.")
    period_kind = django_filters.ChoiceFilter(
        choices=PeriodKind.choices, help_text="The kind of period."
    )
    period_start = django_filters.DateFromToRangeFilter(
        help_text="period_start_after / period_start_before: an inclusive range of first days."
    )

    class Meta:
        model = Target
        fields: list[str] = []

    def filter_scope(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(user__isnull=value != ScopeKind.USER)


def _cell(target: Target, value) -> TargetCell:
    return TargetCell(
        period_kind=target.period_kind,
        period_start=target.period_start,
        value=value,
        user_id=target.user_id,
        team_id=target.team_id,
        metric=target.metric,
    )


@extend_schema_view(
    list=extend_schema(description="The targets you can see, latest period first."),
    retrieve=extend_schema(description="One target you can see."),
    create=extend_schema(
        description="Set a new target for a user or a team of yours (managers: your team "
        "tree; admins: anyone). The change is kept in the targets' history.",
        request=TargetCreateSerializer,
        responses={201: TargetSerializer},
    ),
    update=extend_schema(
        description="Change a target's value.",
        request=TargetValueSerializer,
        responses={200: TargetSerializer},
    ),
    partial_update=extend_schema(
        description="Change a target's value.",
        request=TargetValueSerializer,
        responses={200: TargetSerializer},
    ),
    destroy=extend_schema(description="Clear a target; the history keeps its last value."),
)
class TargetViewSet(viewsets.ModelViewSet):
    """Revenue (and other) goals. Reps read their own and their team's; managers read and set
    their team tree's; admins everyone's. Every write goes through targets_set, which
    records who changed what in the targets' history (simple-history)."""

    queryset = Target.objects.none()
    serializer_class = TargetSerializer
    filterset_class = TargetFilter
    permission_classes = [IsAuthenticated, ManagesTargetsOrReadOnly]
    ordering_fields = ["period_start", "value", "updated_at", "id"]
    schema_error_responses = {
        "create": {409: "This target exists already, or was just created by someone else."}
    }

    def get_queryset(self) -> QuerySet[Target]:
        rows = Target.objects.order_by("-period_start", "period_kind", "pk")
        return restrict(rows, self.request.user)

    def _answer(self, target: Target, code: int = status.HTTP_200_OK) -> Response:
        return Response(TargetSerializer(target, context=self.get_serializer_context()).data, code)

    def create(self, request: Request, *args, **kwargs) -> Response:
        wanted = TargetCreateSerializer(data=request.data, context=self.get_serializer_context())
        wanted.is_valid(raise_exception=True)
        data = wanted.validated_data
        key = {
            "user": data.get("user"),
            "team": data.get("team"),
            "metric": data["metric"],
            "period_kind": data["period_kind"],
            "period_start": data["period_start"],
        }
        existing = Target.objects.filter(**key).values_list("pk", flat=True).first()
        if existing is not None:
            raise Conflict(
                f"Target {existing} is this one; change it with PUT targets/{existing}/."
            )
        cell = TargetCell(
            period_kind=data["period_kind"],
            period_start=data["period_start"],
            value=data["value"],
            user_id=key["user"].pk if key["user"] else None,
            team_id=key["team"].pk if key["team"] else None,
            metric=data["metric"],
        )
        try:
            targets_set(by=request.user, changes=[cell])
        except IntegrityError as error:
            raise Conflict("Someone created this target at the same time.") from error
        return self._answer(Target.objects.get(**key), status.HTTP_201_CREATED)

    def update(self, request: Request, *args, **kwargs) -> Response:
        target = self.get_object()
        change = TargetValueSerializer(data=request.data, partial=kwargs.get("partial", False))
        change.is_valid(raise_exception=True)
        if "value" in change.validated_data:
            targets_set(by=request.user, changes=[_cell(target, change.validated_data["value"])])
            target.refresh_from_db()
        return self._answer(target)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        target = self.get_object()
        targets_set(by=request.user, changes=[_cell(target, None)])
        return Response(status=status.HTTP_204_NO_CONTENT)
