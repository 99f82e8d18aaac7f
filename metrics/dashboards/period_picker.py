"""The period a dashboard shows, picked from its GET parameters."""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django import forms

from metrics.choices import PeriodKind
from periods import calendar as periods

CUSTOM = "custom"
PERIOD_CHOICES = [*PeriodKind.choices, (CUSTOM, "Custom")]
DEFAULT_PERIOD = PeriodKind.QUARTER
MAX_RANGE_DAYS = 366 * 10


class PeriodForm(forms.Form):
    """The period picker: a calendar month, quarter or year (the one containing `start`,
    default today), or a custom range start..end."""

    period = forms.ChoiceField(choices=PERIOD_CHOICES, required=False)
    start = forms.DateField(required=False)
    end = forms.DateField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # Days outside the calendar's bounds fall back with a message: at the ends of
        # Python's calendar the period before or after (which the page compares with and
        # links to) does not exist, and nothing is stored there anyway.
        outside = [
            name
            for name in ("start", "end")
            if (day := data.get(name)) is not None and not periods.in_bounds(day)
        ]
        if outside:
            self.add_error(outside[0], periods.BOUNDS_MESSAGE)  # one message for both
            return data
        if data.get("period") == CUSTOM:
            start, end = data.get("start"), data.get("end")
            if not start or not end:
                self.add_error("start", "Choose the first and the last day of the range.")
            elif end < start:
                self.add_error("end", "The last day must not be before the first.")
            elif (end - start).days > MAX_RANGE_DAYS:
                self.add_error("end", "A range is at most ten years.")
        return data


@dataclass(frozen=True)
class Period:
    """The days a page shows, both inclusive: a calendar period or a custom range."""

    kind: str
    start: dt.date
    end: dt.date

    @property
    def is_calendar(self) -> bool:
        return self.kind != CUSTOM

    @property
    def target_period(self) -> str | None:
        """Whose target applies: the calendar kind; None lets the KPI engine choose."""
        return self.kind if self.is_calendar else None

    @property
    def label(self) -> str:
        if self.kind == PeriodKind.MONTH:
            return self.start.strftime("%B %Y")
        if self.kind == PeriodKind.QUARTER:
            return f"Q{(self.start.month - 1) // 3 + 1} {self.start.year}"
        if self.kind == PeriodKind.YEAR:
            return str(self.start.year)
        return self.range_label

    @property
    def range_label(self) -> str:
        end = f"{self.end.day} {self.end:%b %Y}"
        if self.start.year != self.end.year:
            return f"{self.start.day} {self.start:%b %Y} – {end}"
        return f"{self.start.day} {self.start:%b} – {end}"

    @property
    def compare_label(self) -> str:
        """How a figure's change names the period before: "Q3 2026", "previous 27 days"."""
        return self.label if self.is_calendar else f"previous {self.days} days"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period":
        """The calendar period before, or the range of the same length just before."""
        if self.is_calendar:
            start = periods.period_start(self.start - dt.timedelta(days=1), self.kind)
            return Period(self.kind, start, periods.period_end(start, self.kind))
        return Period(
            CUSTOM, self.start - dt.timedelta(days=self.days), self.start - dt.timedelta(days=1)
        )

    def following(self) -> "Period":
        if self.is_calendar:
            start = self.end + dt.timedelta(days=1)
            return Period(self.kind, start, periods.period_end(start, self.kind))
        return Period(
            CUSTOM, self.end + dt.timedelta(days=1), self.end + dt.timedelta(days=self.days)
        )

    @property
    def query(self) -> str:
        """The query string that selects this period."""
        params = {"period": self.kind, "start": self.start.isoformat()}
        if not self.is_calendar:
            params["end"] = self.end.isoformat()
        return urlencode(params)


def calendar_period(kind: str, day: dt.date) -> Period:
    start = periods.period_start(day, kind)
    return Period(kind, start, periods.period_end(start, kind))


def period_from_params(params: Mapping[str, Any], *, today: dt.date) -> tuple[Period, PeriodForm]:
    """The period a page's GET parameters ask for (period=month|quarter|year|custom, start,
    end), and the bound form; a missing or invalid choice falls back to this quarter (the
    form then carries the error to show)."""
    form = PeriodForm(params)
    if not form.is_valid():
        return calendar_period(DEFAULT_PERIOD, today), form
    kind = form.cleaned_data.get("period") or DEFAULT_PERIOD
    start = form.cleaned_data.get("start")
    if kind == CUSTOM:
        return Period(CUSTOM, start, form.cleaned_data["end"]), form
    return calendar_period(kind, start or today), form


@dataclass(frozen=True)
class PeriodPicker:
    """What the picker shows: the period, links to each kind and to the periods around it."""

    period: Period
    form: PeriodForm
    tabs: list[tuple[str, str, bool]]
    previous: Period | None
    following: Period | None
    today: dt.date


def period_picker(period: Period, form: PeriodForm, *, today: dt.date) -> PeriodPicker:
    tabs = [
        (label, calendar_period(kind, today).query, period.kind == kind)
        for kind, label in PeriodKind.choices
    ]
    previous, following = period.previous(), period.following()
    return PeriodPicker(
        period=period,
        form=form,
        tabs=tabs,
        previous=previous if periods.in_bounds(previous.start) else None,
        following=following if following.start <= min(today, periods.LAST_DAY) else None,
        today=today,
    )
