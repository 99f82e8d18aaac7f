"""FilterSets for deals and leads: the list pages use them, and the API will too.

Each one narrows a queryset the caller has already scoped with visible_to(user); a filter
never widens what a user sees. Bad values (an unknown stage, a sort column off the list)
are form errors that leave the queryset unfiltered, never an exception.
"""

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.selectors import visible_users
from periods import calendar
from periods.calendar import named_period as period_range

from .choices import LeadStatus, StageKind
from .models import Deal, Lead
from .selectors import lead_sources, stages_for_filters

SEARCH_WIDGET = forms.TextInput(attrs={"type": "search", "placeholder": "Search…"})


def _owners(request) -> QuerySet:
    """Owners a user may filter by: the people they can see (nobody without a request)."""
    if request is None:
        return get_user_model().objects.none()
    return visible_users(user=request.user).filter(is_active=True)


class SortFilter(django_filters.OrderingFilter):
    """A whitelist of sort columns (?sort=amount, ?sort=-amount); empty values sort last on
    every database, and the primary key breaks ties so pages never repeat or skip a row."""

    def filter(self, qs: QuerySet, value) -> QuerySet:
        if not value:
            return qs
        ordering = []
        for param in value:
            field = self.get_ordering_value(param)
            if field.startswith("-"):
                ordering.append(F(field[1:]).desc(nulls_last=True))
            else:
                ordering.append(F(field).asc(nulls_last=True))
        return qs.order_by(*ordering, "-pk")


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


class DealFilter(django_filters.FilterSet):
    """Deals by stage, outcome, closing period, company, owner and free text; sortable."""

    q = django_filters.CharFilter(method="filter_search", label="Search", widget=SEARCH_WIDGET)
    status = django_filters.ChoiceFilter(
        field_name="stage__kind", choices=StageKind.choices, label="Status", empty_label="Any"
    )
    stage = django_filters.ModelChoiceFilter(
        queryset=stages_for_filters(), label="Stage", empty_label="Any stage"
    )
    period = django_filters.ChoiceFilter(
        choices=PERIOD_CHOICES,
        method="filter_period",
        label="Closing",
        empty_label="Any time",
        help_text="Expected close date of open deals, close date of won and lost ones.",
    )
    company = django_filters.CharFilter(
        field_name="company__name", lookup_expr="icontains", label="Company"
    )
    owner = django_filters.ModelChoiceFilter(queryset=_owners, label="Owner", empty_label="Anyone")
    sort = SortFilter(
        fields=(
            ("name", "name"),
            ("company__name", "company"),
            ("owner__first_name", "owner"),
            ("stage__order", "stage"),
            ("amount", "amount"),
            ("expected_close_date", "expected_close_date"),
            ("created_at", "created_at"),
            ("closed_at", "closed_at"),
        ),
        label="Sort",
    )

    class Meta:
        model = Deal
        fields = ["q", "status", "stage", "period", "company", "owner"]

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.search(value)

    def filter_period(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        days = period_range(value, today=timezone.localdate())
        if days is None:
            return queryset
        start, end = days
        closing = Q(stage__kind=StageKind.OPEN, expected_close_date__range=(start, end))
        first, after = calendar.day_bounds(start, end)
        closed = ~Q(stage__kind=StageKind.OPEN) & Q(closed_at__gte=first, closed_at__lt=after)
        return queryset.filter(closing | closed)


class LeadFilter(django_filters.FilterSet):
    """Leads by status, source, owner and free text (contact, email, company); sortable."""

    q = django_filters.CharFilter(method="filter_search", label="Search", widget=SEARCH_WIDGET)
    status = django_filters.ChoiceFilter(
        choices=LeadStatus.choices, label="Status", empty_label="Any"
    )
    source = django_filters.ModelChoiceFilter(
        queryset=lead_sources(), label="Source", empty_label="Any source"
    )
    owner = django_filters.ModelChoiceFilter(queryset=_owners, label="Owner", empty_label="Anyone")
    sort = SortFilter(
        fields=(
            ("company__name", "company"),
            ("status", "status"),
            ("created_at", "created_at"),
        ),
        label="Sort",
    )

    class Meta:
        model = Lead
        fields = ["q", "status", "source", "owner"]

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.search(value)
