"""FilterSets of the deal and lead endpoints (the list pages use pipeline/filters.py, whose
form-shaped filters take names where the API takes ids).

Like those, each narrows a queryset already scoped with visible_to(user): a filter never
widens what a user sees. A malformed value is a 400 naming the parameter.
"""

import django_filters
from django.db.models import QuerySet

from api.filters import day_filters, id_filter

from .choices import IcpFit, LeadStatus, Segment, StageKind
from .models import Company, Deal, Lead, Product, Stage


class DealFilter(django_filters.FilterSet):
    owner = id_filter("owner", "The owner's user id.")
    team = id_filter(
        "team", "The id of the team the deal counts for (that team only, not its sub-teams)."
    )
    stage = id_filter("stage", "The stage's id.")
    status = django_filters.ChoiceFilter(
        field_name="stage__kind",
        choices=StageKind.choices,
        help_text="The kind of the deal's stage: open, won or lost.",
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
    company = id_filter("company", "The company's id.")
    company_name = django_filters.CharFilter(
        field_name="company__name",
        lookup_expr="icontains",
        max_length=200,
        help_text="Part of the company's name, in any case.",
    )
    lead = id_filter("lead", "The id of the lead the deal came from.")
    product = id_filter("product", "The product's id.")
    external_id = django_filters.CharFilter(
        max_length=100, help_text="The id in the system the deal was imported from, exactly."
    )
    q = django_filters.CharFilter(
        method="filter_search",
        max_length=200,
        help_text="Search: part of the deal's name or of its company's name, in any case.",
    )

    class Meta:
        model = Deal
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.search(value)


class LeadFilter(django_filters.FilterSet):
    owner = id_filter("owner", "The owner's user id.")
    team = id_filter(
        "team", "The id of the team the lead counts for (that team only, not its sub-teams)."
    )
    status = django_filters.ChoiceFilter(choices=LeadStatus.choices, help_text="The lead's status.")
    source = id_filter("source", "The lead source's id.")
    company = id_filter("company", "The company's id.")
    created_after, created_before = day_filters("created_at", "Created")
    converted_after, converted_before = day_filters("converted_at", "Converted")
    q = django_filters.CharFilter(
        method="filter_search",
        max_length=200,
        help_text="Search: part of the contact's name or email, or of the company's name.",
    )

    class Meta:
        model = Lead
        fields: list[str] = []

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.search(value)


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
