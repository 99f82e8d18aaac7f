"""The audit trail (django-simple-history) as people read it, and forms that write only
what changed: shared by every app's admin and history panel (accounts is the lowest app
that has models, so pipeline and metrics may import it)."""

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime
from django.db import models
from django.utils import timezone
from django.utils.html import conditional_escape
from simple_history.admin import SimpleHistoryAdmin
from simple_history.template_utils import HistoricalRecordContextHelper

from periods.formats import day_text, moment_text, money_text

# Bookkeeping, not a change a person makes.
BOOKKEEPING_FIELDS = frozenset({"version", "updated_at"})
EMPTY = "—"


def shown_value(field: Any, value: Any, *, money: bool = True) -> str | None:
    """A field's value as the pages write it (periods.formats): money with its currency
    ("$40,000.00"), date-times to the minute in TIME_ZONE ("3 Dec, 06:44"), choices by
    label, related rows by name; None for an empty value."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if field is not None and field.choices and not isinstance(value, models.Model):
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, dt.datetime):
        return moment_text(value)
    if isinstance(value, dt.date):
        return day_text(value)
    if isinstance(value, Decimal) and isinstance(field, models.DecimalField):
        if money and field.decimal_places == 2:
            return money_text(value)
        return f"{value:,}"
    return str(value)


class KeepsStoredValues(forms.BaseForm):
    """A ModelForm mixin: a field submitted as the form showed it keeps the value stored,
    so a date-time shown to the minute and sent back unchanged keeps its seconds and
    microseconds, and only the fields a person changed are written."""

    instance: models.Model

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        if getattr(self.instance, "pk", None) is None:
            return cleaned
        for field in self.instance._meta.concrete_fields:
            if field.name not in cleaned:
                continue
            stored = getattr(self.instance, field.name)
            if field.name not in self.changed_data or _shown_alike(
                self.fields[field.name].widget, stored, cleaned[field.name]
            ):
                cleaned[field.name] = stored
        return cleaned


def _shown_alike(widget: forms.Widget, stored: Any, submitted: Any) -> bool:
    """Whether two date-times read the same in `widget` (Django's own comparison is to the
    second, while the inputs show minutes)."""
    if not isinstance(stored, dt.datetime) or not isinstance(submitted, dt.datetime):
        return False
    return _as_shown(widget, stored) == _as_shown(widget, submitted)


def _as_shown(widget: forms.Widget, value: dt.datetime) -> list[Any]:
    if isinstance(widget, forms.MultiWidget):
        parts = widget.decompress(value) or []
        return [w.format_value(part) for w, part in zip(widget.widgets, parts, strict=True)]
    return [widget.format_value(timezone.localtime(value))]


class KeepsStoredValuesModelForm(KeepsStoredValues, forms.ModelForm):
    """A plain ModelForm that keeps the stored value of every field submitted as shown."""


class MinuteSplitDateTime(AdminSplitDateTime):
    """The admin's date and time inputs, the time to the minute as the pages show it."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.widgets[1].format = "%H:%M"


class AuditRecordContextHelper(HistoricalRecordContextHelper):
    """The admin's History page: each change formatted by shown_value, bookkeeping fields
    and changes that read the same before and after (a date-time's lost microseconds) left
    out."""

    def context_for_delta_changes(self, delta) -> list[dict[str, Any]]:
        rows = []
        for change in delta.changes:
            if change.field in BOOKKEEPING_FIELDS:
                continue
            field = self.model._meta.get_field(change.field)
            # A target of deals won or opportunities created is a count, not money.
            money = getattr(self.record, "metric", "revenue") == "revenue"
            old = shown_value(field, change.old, money=money)
            new = shown_value(field, change.new, money=money)
            if old == new:
                continue
            label = str(getattr(field, "verbose_name", change.field))
            rows.append(
                {
                    "field": label[:1].upper() + label[1:],
                    "old": conditional_escape(old or EMPTY),
                    "new": conditional_escape(new or EMPTY),
                }
            )
        return rows


class AuditedAdmin(SimpleHistoryAdmin):
    """A model admin with a readable History page whose forms write only changed fields."""

    formfield_overrides = {models.DateTimeField: {"widget": MinuteSplitDateTime}}

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if issubclass(form, KeepsStoredValues):
            return form
        return type(form.__name__, (KeepsStoredValues, form), {})

    def get_historical_record_context_helper(self, request, historical_record):
        return AuditRecordContextHelper(self.model, historical_record)
