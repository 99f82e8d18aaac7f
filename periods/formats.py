"""Dates, times and money as people read them, one way for every page, message and history
(the lowest layer, so every app may use it): "3 Dec" in the current year, "27 Feb 2025"
otherwise; "3 Dec, 06:45" with a time, on a 24-hour clock in TIME_ZONE (docs/app.md,
"Dates"); money with the organisation's currency, rounded half up ("$1,235", "CHF 1,234.56";
docs/kpis.md "Money on pages"). Machine formats (inputs, the API, CSV) stay ISO 8601 and
plain decimals."""

import datetime as dt
import functools
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils import timezone

UNDEFINED = "—"
MINUS = "−"
# The currencies written with a symbol; every other one by its ISO 4217 code, as "$" alone
# would be ambiguous between the dollars (and "kr" between the crowns).
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
QUANTUMS = {0: Decimal(1), 2: Decimal("0.01")}


@functools.lru_cache(maxsize=8)
def currency_parts(code: str) -> tuple[str, str]:
    # (before the minus sign, after it): "−$1,234" but "CHF −1,234", as "$-1,234" and
    # "−CHF 1,234" both read oddly.
    symbol = SYMBOLS.get(code)
    return ("", symbol) if symbol else (f"{code}\N{NO-BREAK SPACE}", "")


def is_number(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return number == number and number not in (float("inf"), float("-inf"))


def money_text(value: Any, places: int = 2) -> str:
    """36000 -> "$36,000.00"; places 0 -> "$36,000" (half up: 9,750.50 -> "$9,751");
    -5 -> "−$5.00"; CHF: "CHF 36,000.00"; not a number -> "—"."""
    if not is_number(value):
        return UNDEFINED
    number = value if type(value) is Decimal else Decimal(str(value))
    # Format's own rounding is half even (0.5 -> 0); a figure is rounded half up everywhere.
    try:
        number = number.quantize(QUANTUMS.get(places) or Decimal(1).scaleb(-places), ROUND_HALF_UP)
    except InvalidOperation:  # past 28 digits: no money, left as it is
        pass
    head, symbol = currency_parts(settings.ORGANISATION_CURRENCY)
    if number < 0:
        return f"{head}{MINUS}{symbol}{-number:,.{places}f}"
    return f"{head}{symbol}{abs(number):,.{places}f}"  # abs: -0.4 rounds to "0", not "-0"


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
