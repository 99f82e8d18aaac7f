"""The value rules of deals and leads, each written once and used by the model's fields
(so forms, the admin and the API serializers check them), the services and the import.

A page, the API and an import refuse the same values: a row one of them accepts must
survive the manager's export and import round trip.
"""

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils import timezone

from periods.calendar import FIRST_DAY, LAST_DAY, in_bounds

# What the export writes for a deal without an external id of its own (pipeline.exports),
# and what the import matches to that deal's primary key: no deal may hold it as its own.
RESERVED_EXTERNAL_ID = re.compile(r"salesperf-(\d+)")
# Where the import keeps a reserved id that names no deal here (a file from another
# instance, or from before the database was emptied): no longer reserved, still unique.
IMPORTED_PREFIX = "imported-"

# Aware bounds: converting an instant of year 1 or 9999 to a local zone can overflow.
_FIRST_MOMENT = dt.datetime.combine(FIRST_DAY, dt.time.min, tzinfo=dt.UTC)
_LAST_MOMENT = dt.datetime.combine(LAST_DAY, dt.time.max, tzinfo=dt.UTC)
# In the pages' words (periods.formats), as the calendar's own message writes its bounds.
OUT_OF_BOUNDS = (
    f"Enter a date from {FIRST_DAY.day} {FIRST_DAY:%b %Y} to {LAST_DAY.day} {LAST_DAY:%b %Y}."
)
IN_THE_FUTURE = "A deal cannot close in the future."
RESERVED = (
    "salesperf-<number> is how exports name a deal without an id of its own; "
    "choose another external id."
)


def validate_day_in_bounds(value: dt.date) -> None:
    """A date within the calendar's bounds (periods.calendar), as period inputs are."""
    if value is not None and not in_bounds(value):
        raise ValidationError(OUT_OF_BOUNDS, code="out_of_bounds")


def validate_moment_in_bounds(value: dt.datetime) -> None:
    """An instant whose day is within the calendar's bounds."""
    if value is None:
        return
    if timezone.is_naive(value):
        inside = in_bounds(value.date())
    else:
        inside = _FIRST_MOMENT <= value <= _LAST_MOMENT
    if not inside:
        raise ValidationError(OUT_OF_BOUNDS, code="out_of_bounds")


def validate_not_in_future(value: dt.datetime) -> None:
    """A close (or a conversion) has happened: it is not later than now."""
    if value is not None and timezone.is_aware(value) and value > timezone.now():
        raise ValidationError(IN_THE_FUTURE, code="future")


def is_reserved_external_id(value: str | None) -> bool:
    return value is not None and RESERVED_EXTERNAL_ID.fullmatch(value) is not None


def validate_external_id(value: str | None) -> None:
    """Not the reserved salesperf-<n>: a deal holding it would be matched, on the next
    import of an export, to the row of deal <n> and overwritten with it."""
    if is_reserved_external_id(value):
        raise ValidationError(RESERVED, code="reserved")


class MaxCharacters(MaxLengthValidator):
    """Django's length limit, in words that say what was typed: "At most 200 characters
    (you entered 10,000)." Forms and the API swap theirs for it (plain_length_errors)."""

    message = "At most %(limit_value)s characters (you entered %(show_value)s)."

    def __call__(self, value) -> None:
        length = len(value)
        if length > self.limit_value:
            params = {"limit_value": f"{self.limit_value:,}", "show_value": f"{length:,}"}
            raise ValidationError(self.message, code=self.code, params=params | {"value": value})


def plain_length_errors(fields: Iterable[Any]) -> None:
    """Swap each field's length validator for MaxCharacters, in place: form fields and
    serializer fields alike keep their validators in a `validators` list."""
    for field in fields:
        field.validators = [
            MaxCharacters(validator.limit_value)
            if isinstance(validator, MaxLengthValidator)
            and not isinstance(validator, MaxCharacters)
            else validator
            for validator in field.validators
        ]
