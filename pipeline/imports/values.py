"""Turning one cell's text into a value, or a CellError whose message names the fix."""

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils import timezone

from api.fields import money_messages
from periods.calendar import FIRST_DAY, LAST_DAY

from ..services import company_name_clean
from ..validators import validate_day_in_bounds, validate_moment_in_bounds

CENT = Decimal("0.01")
# Deal.amount is max_digits=14, decimal_places=2.
AMOUNT_LIMIT = Decimal("1000000000000")
# The words the deal form and the API use, so a row error reads like a form's.
AMOUNT_MESSAGES = money_messages(max_digits=14, decimal_places=2)
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
MOMENT_FORMAT = "YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS with an optional offset such as +02:00"
YEARS = (FIRST_DAY.year, LAST_DAY.year)  # the calendar's bounds, as pages and the API


class CellError(ValueError):
    """A cell that cannot be read; str() is the message for the user."""


def key(name: str) -> str:
    """How names are matched: without regard to case or runs of spaces."""
    return " ".join(name.split()).casefold()


def text_cell(text: str, *, max_length: int) -> str:
    """A cell taken as written (the reader strips its ends)."""
    if len(text) > max_length:
        raise CellError(f"Too long: {len(text)} characters, at most {max_length}.")
    return text


def clean_name(text: str, *, max_length: int) -> str:
    """A name with its runs of spaces collapsed, as company_get_or_create stores it."""
    name = company_name_clean(text)
    if len(name) > max_length:
        raise CellError(f"Too long: {len(name)} characters, at most {max_length}.")
    return name


def parse_amount(text: str, *, decimal_comma: bool) -> Decimal:
    """A plain non-negative number with at most 2 decimals: "1234.5". With `decimal_comma`
    (semicolon-separated files, as European spreadsheets write them) "1234,5" too."""
    number = text
    if decimal_comma and "," in number and "." not in number:
        number = number.replace(",", ".")
    if not PLAIN_NUMBER.fullmatch(number):
        raise CellError(f"Not a number: '{text}'. {AMOUNT_MESSAGES['invalid']}")
    try:
        amount = Decimal(number)
    except InvalidOperation as error:  # pragma: no cover - the pattern admits only numbers
        raise CellError(f"Not a number: '{text}'. {AMOUNT_MESSAGES['invalid']}") from error
    if amount < 0:
        raise CellError("The amount cannot be negative.")
    if amount >= AMOUNT_LIMIT:
        raise CellError(f"Too large: '{text}'. {AMOUNT_MESSAGES['max_digits']}")
    if amount != amount.quantize(CENT):
        raise CellError(f"Too many decimals: '{text}'. {AMOUNT_MESSAGES['max_decimal_places']}")
    return amount.quantize(CENT) if amount else Decimal("0.00")


class MomentParser:
    """ISO 8601 dates and date-times as aware datetimes: a date is midnight, and a time
    without an offset is local time, in the project's TIME_ZONE. Remembers what it read:
    a file repeats the same dates many times."""

    def __init__(self) -> None:
        self.zone = timezone.get_default_timezone()
        self.seen: dict[str, dt.datetime] = {}

    def __call__(self, text: str) -> dt.datetime:
        moment = self.seen.get(text)
        if moment is None:
            moment = self.seen[text] = self._parse(text)
        return moment

    def _parse(self, text: str) -> dt.datetime:
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError as error:
            raise CellError(f"Not a date: '{text}' (use {MOMENT_FORMAT}).") from error
        if not YEARS[0] <= moment.year <= YEARS[1]:
            raise CellError(f"Out of range: '{text}' (years {YEARS[0]} to {YEARS[1]}).")
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, self.zone)
        _check(validate_moment_in_bounds, moment, text)
        return moment


def parse_date(text: str) -> dt.date:
    """An ISO 8601 date; of a date-time, the date as written (the time is ignored)."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        try:
            day = dt.datetime.fromisoformat(text).date()
        except ValueError as error:
            raise CellError(f"Not a date: '{text}' (use YYYY-MM-DD).") from error
    _check(validate_day_in_bounds, day, text)
    return day


def _check(validator, value, text: str) -> None:
    """The rule the model's field applies (pipeline.validators), as a cell's error."""
    try:
        validator(value)
    except ValidationError as error:
        raise CellError(f"Out of range: '{text}' (years {YEARS[0]} to {YEARS[1]}).") from error
