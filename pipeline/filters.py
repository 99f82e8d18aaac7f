"""Every FilterSet of the pipeline: one per resource, used by its list page and by its API
endpoint alike, so a query string means the same rows on /deals/ and /api/v1/deals/.

Each narrows a queryset the caller has already scoped with visible_to(user): a filter never
widens what a user sees. Ids (`owner`, `company`, `stage`, ...) are checked to be whole
numbers before they reach the database; one that names no row, or none the user may see,
matches nothing. A malformed value is a form error on a page (that filter is left out, never
a 500) and a 400 naming the parameter in the API.

The table's sortable columns are declared beside each FilterSet (`DEAL_COLUMNS`,
`LEAD_COLUMNS`): the page's sort headers and the `sort` parameter both read them.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.choices import BaseChoiceIterator
from drf_spectacular.utils import extend_schema_field
from rest_framework import views  # noqa: F401  (before api.errors: see below)

from accounts.access import restrict

# api.errors imports rest_framework.views, which imports it back through DRF's
# settings: DRF's views must load first when a page is the first to import these.
from api.errors import MAX_ID
from api.filters import IdFilter, day_filters, id_filter
from periods import calendar
from periods.calendar import named_period as period_range

from .choices import IcpFit, LeadStatus, Segment, StageKind
from .models import Company, Deal, Lead, Product, Stage
from .selectors import lead_sources, stage_ids_of_kind, stages_for_filters

SEARCH_WIDGET = forms.TextInput(attrs={"type": "search", "placeholder": "Search…"})
# The owner's name as the page shows it (User.__str__: the full name, else the username).
OWNER_SORT = ("owner__first_name", "owner__last_name", "owner__username")


@dataclass(frozen=True)
class Column:
    """A sortable column: `?sort=<key>` (or `-<key>`) orders by `fields`. `css` is the
    page's class for its header; a column that is not `shown` is a sort the API offers
    but the page's table has no column for."""

    key: str
    label: str
    fields: tuple[str, ...]
    css: str = ""
    shown: bool = True


DEAL_COLUMNS: tuple[Column, ...] = (
    Column("name", "Deal", ("name",)),
    Column("company", "Company", ("company__name",)),
    Column("owner", "Owner", OWNER_SORT, css="team-only"),
    Column("stage", "Stage", ("stage__order",)),
    Column("amount", "Amount", ("amount",), css="num"),
    Column("expected_close_date", "Expected close", ("expected_close_date",), css="hide-sm"),
    Column("closed_at", "Closed", ("closed_at",), css="hide-sm"),
    Column("created_at", "Created", ("created_at",), shown=False),
    Column("id", "Id", ("pk",), shown=False),
)
LEAD_COLUMNS: tuple[Column, ...] = (
    Column("company", "Lead", ("company__name",)),
    Column("owner", "Owner", OWNER_SORT, css="team-only"),
    Column("source", "Source", ("source__name",), css="hide-sm"),
    Column("status", "Status", ("status",)),
    Column("created_at", "Added", ("created_at",), css="hide-sm"),
    Column("converted_at", "Converted", ("converted_at",), shown=False),
    Column("contact_name", "Contact", ("contact_name",), shown=False),
    Column("id", "Id", ("pk",), shown=False),
)


class SortFilter(django_filters.OrderingFilter):
    """`?sort=-amount,name` over the declared columns; a key off the list is a form error
    (a 400 in the API). Empty values sort last on every database, and the id breaks ties,
    so pages never repeat or skip a row."""

    def __init__(self, *, columns: tuple[Column, ...], **kwargs) -> None:
        self.columns = {column.key: column.fields for column in columns}
        kwargs["fields"] = [(column.key, column.key) for column in columns]
        kwargs["field_labels"] = {column.key: column.label for column in columns}
        kwargs.setdefault(
            "help_text",
            "Comma-separated columns to sort by, `-` before one for descending order: "
            + ", ".join(f"`{column.key}`" for column in columns)
            + ". Default newest first.",
        )
        super().__init__(**kwargs)

    def filter(self, qs: QuerySet, value) -> QuerySet:
        terms, keys = [], set()
        for param in value or ():
            if not param:
                continue
            key = param.lstrip("-")
            keys.add(key)
            for field in self.columns[key]:
                # NULLS LAST only where a value can be empty: the same order, and the plain
                # `amount DESC, id DESC` is what the sort indexes are (pipeline.indexes).
                nulls_last = True if _nullable(qs.model, field) else None
                term = F(field)
                if param.startswith("-"):
                    terms.append(term.desc(nulls_last=nulls_last))
                else:
                    terms.append(term.asc(nulls_last=nulls_last))
        if not terms:
            return qs
        if "id" not in keys:
            terms.append(F("pk").desc())
        return qs.order_by(*terms)


def _nullable(model, path: str) -> bool:
    """Can `path` (`company__name`) be empty for a row of `model`: a nullable field, or one
    reached through a nullable relation."""
    for name in path.split("__"):
        if name == "pk":
            return False
        field = model._meta.get_field(name)
        if field.null:
            return True
        model = field.related_model
    return False


def sort_filters(columns: tuple[Column, ...]) -> tuple[SortFilter, SortFilter]:
    """`sort`, and `ordering`: its old name in the API, kept so existing clients work."""
    return (
        SortFilter(columns=columns, label="Sort"),
        SortFilter(columns=columns, label="Sort", help_text="The same as `sort` (its old name)."),
    )


class PickedIdFilter(IdFilter):
    """An id the page offers as a drop-down of `options(request)`: (id, label) pairs read
    only when the form is drawn, so the API pays no query for them."""

    def __init__(self, *args, options, empty_label: str, **kwargs) -> None:
        self.options, self.empty_label = options, empty_label
        super().__init__(*args, **kwargs)


def picked_id_filter(
    field_name: str, help_text: str, *, label: str, options, empty_label: str
) -> PickedIdFilter:
    schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID, "description": help_text}
    picked = PickedIdFilter(
        field_name=field_name,
        help_text=help_text,
        label=label,
        options=options,
        empty_label=empty_label,
    )
    return extend_schema_field(schema)(picked)


def _owners(request) -> list[tuple[int, str]]:
    """Owners a user may filter by: the people they can see (nobody without a request)."""
    if request is None:
        return []
    users = restrict(get_user_model().objects.filter(is_active=True), request.user)
    return [(user.pk, str(user)) for user in users]


def _stages(request) -> list[tuple[int, str]]:
    return [(stage.pk, str(stage)) for stage in stages_for_filters()]


def _sources(request) -> list[tuple[int, str]]:
    return [(source.pk, str(source)) for source in lead_sources()]


class _Options(BaseChoiceIterator):
    """A drop-down's choices, read once and only when the form is drawn (a Select reads
    its choices more than once; the API never draws the form)."""

    def __init__(self, picked: PickedIdFilter, request) -> None:
        self.picked, self.request = picked, request
        self.choices: list[tuple] | None = None

    def __iter__(self):
        if self.choices is None:
            self.choices = [("", self.picked.empty_label), *self.picked.options(self.request)]
        return iter(self.choices)


class PipelineFilterSet(django_filters.FilterSet):
    """What the deal and lead FilterSets share: drop-downs for picked ids, the search, and
    the errors of filters the page's form does not show (a hand-edited URL)."""

    # The filters the list page's form shows (`owner` to managers and admins only); the
    # others still work from the URL.
    page_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for filter_ in self.filters.values():
            if isinstance(filter_, PickedIdFilter):
                options = _Options(filter_, self.request)
                filter_.extra["widget"] = forms.Select(choices=options)

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.search(value)

    def errors_outside(self, shown: Iterable[str]) -> list[str]:
        """`Label: message` for each bad value of a filter the page's form does not show
        (its own fields show their errors beside them)."""
        shown = set(shown)
        return [
            f"{self.form.fields[name].label or name}: {message}"
            for name, messages in self.errors.items()
            if name not in shown
            for message in messages
        ]


PERIOD_CHOICES = [
    ("this_month", "This month"),
    ("next_month", "Next month"),
    ("last_month", "Last month"),
    ("this_quarter", "This quarter"),
    ("next_quarter", "Next quarter"),
    ("last_quarter", "Last quarter"),
    ("this_year", "This year"),
    ("last_year", "Last year"),
]


class DealFilter(PipelineFilterSet):
    """Deals by outcome, stage, closing period, company, owner, dates, amount and free
    text; sortable by DEAL_COLUMNS."""

    columns = DEAL_COLUMNS
    page_fields = ("q", "status", "stage", "period", "company_name", "owner")

    q = django_filters.CharFilter(
        method="filter_search",
        max_length=200,
        label="Search",
        widget=SEARCH_WIDGET,
        help_text="Search: part of the deal's name or of its company's name, in any case.",
    )
    status = django_filters.ChoiceFilter(
        field_name="stage__kind",
        method="filter_status",
        choices=StageKind.choices,
        label="Status",
        empty_label="Any",
        help_text="The kind of the deal's stage: open, won or lost.",
    )
    stage = picked_id_filter(
        "stage", "The stage's id.", label="Stage", options=_stages, empty_label="Any stage"
    )
    period = django_filters.ChoiceFilter(
        choices=PERIOD_CHOICES,
        method="filter_period",
        label="Closing",
        empty_label="Any time",
        help_text="A closing period around today: the expected close date of open deals, "
        "the close date of won and lost ones.",
    )
    company = id_filter("company", "The company's id.")
    company_name = django_filters.CharFilter(
        field_name="company__name",
        lookup_expr="icontains",
        max_length=200,
        label="Company",
        help_text="Part of the company's name, in any case.",
    )
    owner = picked_id_filter(
        "owner", "The owner's user id.", label="Owner", options=_owners, empty_label="Anyone"
    )
    team = id_filter(
        "team", "The id of the team the deal counts for (that team only, not its sub-teams)."
    )
    created_after, created_before = day_filters("created_at", "Created")
    closed_after, closed_before = day_filters("closed_at", "Closed (won or lost)")
    amount_min = django_filters.NumberFilter(
        field_name="amount",
        lookup_expr="gte",
        max_digits=14,
        decimal_places=2,
        help_text="Amount at least this (inclusive).",
    )
    amount_max = django_filters.NumberFilter(
        field_name="amount",
        lookup_expr="lte",
        max_digits=14,
        decimal_places=2,
        help_text="Amount at most this (inclusive).",
    )
    lead = id_filter("lead", "The id of the lead the deal came from.")
    product = id_filter("product", "The product's id.")
    external_id = django_filters.CharFilter(
        max_length=100, help_text="The id in the system the deal was imported from, exactly."
    )
    sort, ordering = sort_filters(DEAL_COLUMNS)

    class Meta:
        model = Deal
        fields: list[str] = []

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # By the deal's own stage column, the kind's stage ids read first (one small
        # query): through the join PostgreSQL takes a kind for one stage in six, where
        # lost is two thirds of the deals, and read and sorted a manager's 22,000 lost deals
        # instead of walking the team's amount index (docs/performance.md).
        stages = stage_ids_of_kind(kind=value)
        return queryset.filter(stage_id__in=stages) if stages else queryset.none()

    def filter_period(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        days = period_range(value, today=timezone.localdate())
        if days is None:
            return queryset
        start, end = days
        # Open deals expected to close in the period, or deals closed in it. The deal's own
        # columns say which is which: closed_at is set exactly when the stage is won or lost
        # (a database rule, pipeline.db_rules), so no join on the stage's kind, which
        # PostgreSQL misjudges (see filter_status).
        closing = Q(closed_at__isnull=True, expected_close_date__range=(start, end))
        first, after = calendar.day_bounds(start, end)
        return queryset.filter(closing | Q(closed_at__gte=first, closed_at__lt=after))


class LeadFilter(PipelineFilterSet):
    """Leads by status, source, company, owner, dates and free text (contact, email,
    company); sortable by LEAD_COLUMNS."""

    columns = LEAD_COLUMNS
    page_fields = ("q", "status", "source", "owner")

    q = django_filters.CharFilter(
        method="filter_search",
        max_length=200,
        label="Search",
        widget=SEARCH_WIDGET,
        help_text="Search: part of the contact's name or email, or of the company's name.",
    )
    status = django_filters.ChoiceFilter(
        choices=LeadStatus.choices, label="Status", empty_label="Any", help_text="The status."
    )
    source = picked_id_filter(
        "source",
        "The lead source's id.",
        label="Source",
        options=_sources,
        empty_label="Any source",
    )
    owner = picked_id_filter(
        "owner", "The owner's user id.", label="Owner", options=_owners, empty_label="Anyone"
    )
    team = id_filter(
        "team", "The id of the team the lead counts for (that team only, not its sub-teams)."
    )
    company = id_filter("company", "The company's id.")
    company_name = django_filters.CharFilter(
        field_name="company__name",
        lookup_expr="icontains",
        max_length=200,
        label="Company",
        help_text="Part of the company's name, in any case.",
    )
    created_after, created_before = day_filters("created_at", "Created")
    converted_after, converted_before = day_filters("converted_at", "Converted")
    sort, ordering = sort_filters(LEAD_COLUMNS)

    class Meta:
        model = Lead
        fields: list[str] = []


# --- The catalogue's endpoints (no list page) ---------------------------------------------


class CompanyFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(
        lookup_expr="icontains", max_length=200, help_text="Part of the name, in any case."
    )
    segment = django_filters.ChoiceFilter(choices=Segment.choices, help_text="The segment.")
    icp_fit = django_filters.ChoiceFilter(
        choices=IcpFit.choices, help_text="How well it fits the ideal customer profile."
    )

    class Meta:
        model = Company
        fields: list[str] = []


class StageFilter(django_filters.FilterSet):
    pipeline = id_filter("pipeline", "The pipeline's id.")
    kind = django_filters.ChoiceFilter(choices=StageKind.choices, help_text="open, won or lost.")
    default = django_filters.BooleanFilter(
        field_name="pipeline__is_default", help_text="Only the default pipeline's stages."
    )

    class Meta:
        model = Stage
        fields: list[str] = []


class ProductFilter(django_filters.FilterSet):
    is_active = django_filters.BooleanFilter(help_text="Only products still sold (or not).")
    name = django_filters.CharFilter(
        lookup_expr="icontains", max_length=200, help_text="Part of the name, in any case."
    )

    class Meta:
        model = Product
        fields: list[str] = []
