"""Serializer fields the API's write endpoints share: money, and related objects by id,
limited to what the caller may pick."""

import re
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .errors import MAX_ID

_DIGITS = re.compile(r"[0-9]{1,19}")


def money_messages(*, max_digits: int = 14, decimal_places: int = 2) -> dict[str, str]:
    """What an amount's refusals say, in words a user reads ("at most 999,999,999,999.99",
    not "no more than 14 digits in total"), keyed by the error codes Django's and DRF's
    decimal fields share: the deal form, the API and the CSV import say the same."""
    largest = Decimal(10) ** (max_digits - decimal_places) - Decimal(1).scaleb(-decimal_places)
    too_large = f"Enter an amount of at most {largest:,}."
    return {
        "invalid": "Enter an amount such as 1234.50.",
        "max_digits": too_large,
        "max_whole_digits": too_large,
        "max_decimal_places": f"Enter an amount with at most {decimal_places} decimals.",
        "min_value": "Enter an amount of 0 or more.",
        "max_string_length": too_large,
    }


def money_field(**kwargs) -> serializers.DecimalField:
    """An amount of money: a string with 2 decimals, at least 0, under 10^12 (the columns
    hold 14 digits). A JSON number is accepted too."""
    kwargs.setdefault("max_digits", 14)
    kwargs.setdefault("decimal_places", 2)
    kwargs.setdefault("min_value", Decimal("0"))
    messages = money_messages(
        max_digits=kwargs["max_digits"], decimal_places=kwargs["decimal_places"]
    )
    kwargs["error_messages"] = {**messages, **kwargs.get("error_messages", {})}
    return serializers.DecimalField(coerce_to_string=True, **kwargs)


@extend_schema_field(OpenApiTypes.STR)
class CurrencyField(serializers.Field):
    """The currency of an answer's amounts: the organisation's ISO 4217 code
    (ORGANISATION_CURRENCY), read-only, so a consumer need not know the server's settings."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault(
            "help_text",
            "The ISO 4217 code of the amounts (the organisation's currency), e.g. USD.",
        )
        super().__init__(read_only=True, source="*", **kwargs)

    def to_representation(self, value) -> str:
        return settings.ORGANISATION_CURRENCY


class RelatedIdField(serializers.PrimaryKeyRelatedField):
    """A related object by its id.

    `scope(user)` narrows the choice to what the caller may pick (their people, the leads
    they see); the object already linked stays a valid choice, so an edit need not change
    it. An id outside the scope answers like one that names no row, so the error tells
    nothing about other people's data. Only whole numbers within the database's range are
    looked up.
    """

    def __init__(self, *, scope: Callable[..., QuerySet] | None = None, **kwargs) -> None:
        self.scope = scope
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet:
        queryset = super().get_queryset()
        assert queryset is not None, "RelatedIdField needs a queryset"
        if self.scope is None:
            return queryset
        scoped = self.scope(user=self.context["request"].user)
        instance = getattr(self.parent, "instance", None)
        current_id = getattr(instance, f"{self.source}_id", None) if instance else None
        if current_id is not None:
            scoped = scoped | queryset.filter(pk=current_id)
        return scoped

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if isinstance(data, str):
            if not _DIGITS.fullmatch(data):
                self.fail("incorrect_type", data_type="str")
            data = int(data)
        if not 1 <= data <= MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)
