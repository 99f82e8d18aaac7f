"""Pieces every API FilterSet uses: ids checked before they reach the database, calendar
days in the project's time zone, and a sort order that pages cleanly."""

import datetime as dt

import django_filters
from django import forms
from django.db.models import F, QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import filters

from periods import calendar

from .errors import MAX_ID

# Days outside the calendar's bounds bound nothing but the field's being set: nothing is
# stored there, and the instants around the ends of Python's calendar do not exist in every
# time zone. So `closed_after=0001-01-01` lists the closed deals, as 1900-01-01 does.
_FIRST_DAY, _LAST_DAY = calendar.FIRST_DAY, calendar.LAST_DAY


class IdFilter(django_filters.Filter):
    """An exact match on an id (or a foreign key's id). Not a number from 1 to 2^63-1 is a
    400 naming the parameter; an id that names no row (or none you may see) matches
    nothing."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


def id_filter(field_name: str, help_text: str, *, minimum: int = 1) -> IdFilter:
    schema = {"type": "integer", "minimum": minimum, "maximum": MAX_ID, "description": help_text}
    filter_ = IdFilter(field_name=field_name, help_text=help_text, min_value=minimum)
    return extend_schema_field(schema)(filter_)


def on_or_after(queryset: QuerySet, name: str, value: dt.date) -> QuerySet:
    if value < _FIRST_DAY:
        return queryset.filter(**{f"{name}__isnull": False})
    return queryset.filter(**{f"{name}__gte": calendar.day_start(value)})


def on_or_before(queryset: QuerySet, name: str, value: dt.date) -> QuerySet:
    if value > _LAST_DAY:
        return queryset.filter(**{f"{name}__isnull": False})
    return queryset.filter(**{f"{name}__lt": calendar.end_of_day(value)})


def day_filters(field_name: str, what: str) -> tuple[django_filters.DateFilter, ...]:
    """`<what>_after` and `<what>_before`: a time field within calendar days, both inclusive,
    in the project's TIME_ZONE (YYYY-MM-DD)."""
    return (
        django_filters.DateFilter(
            field_name=field_name,
            method=on_or_after,
            help_text=f"{what} on or after this day (YYYY-MM-DD, in the server's time zone).",
        ),
        django_filters.DateFilter(
            field_name=field_name,
            method=on_or_before,
            help_text=f"{what} on or before this day (YYYY-MM-DD, in the server's time zone).",
        ),
    )


class OrderingFilter(filters.OrderingFilter):
    """`?ordering=-amount,name` over the view's `ordering_fields`. Empty values sort last on
    every database, and the id breaks ties, so pages never repeat or skip a row."""

    ordering_description = (
        "Comma-separated fields to sort by, `-` before a field for descending order; "
        "unknown fields are ignored."
    )

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        terms = []
        for field in ordering:
            if isinstance(field, str) and field.startswith("-"):
                terms.append(F(field[1:]).desc(nulls_last=True))
            elif isinstance(field, str):
                terms.append(F(field).asc(nulls_last=True))
            else:
                terms.append(field)
        names = {field.lstrip("-") for field in ordering if isinstance(field, str)}
        if not names & {"id", "pk"}:
            terms.append(F("pk").desc())
        return queryset.order_by(*terms)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        fields = getattr(view, "ordering_fields", None)
        if isinstance(fields, list | tuple):
            listed = ", ".join(f"`{field}`" for field in fields)
            for parameter in parameters:
                parameter["description"] = f"{self.ordering_description} Fields: {listed}."
        return parameters
