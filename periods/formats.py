"""Dates and times as people read them, one way for every page and message: "3 Dec" in the
current year, "27 Feb 2025" otherwise; "3 Dec, 06:45" with a time, on a 24-hour clock in
TIME_ZONE (docs/app.md, "Dates"). Machine formats (inputs, the API, CSV) stay ISO 8601."""

import datetime as dt

from django.utils import timezone

UNDEFINED = "—"
# Written out rather than strftime's %b, which follows the process's locale.
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_text(value: dt.date | dt.datetime | None) -> str:
    """A day: "3 Dec" this year (in TIME_ZONE), "3 Dec 2025" otherwise; a date-time gives its
    local day; anything else "—"."""
    if isinstance(value, dt.datetime):
        value = (timezone.localtime(value) if timezone.is_aware(value) else value).date()
    if not isinstance(value, dt.date):
        return UNDEFINED
    month = MONTHS[value.month - 1]
    if value.year == timezone.localdate().year:
        return f"{value.day} {month}"
    return f"{value.day} {month} {value.year}"


def moment_text(value: dt.datetime | None) -> str:
    """A date-time in TIME_ZONE: "3 Dec, 06:45" this year, "3 Dec 2025, 06:45" otherwise."""
    if not isinstance(value, dt.datetime):
        return UNDEFINED
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{day_text(local)}, {local.hour:02}:{local.minute:02}"
