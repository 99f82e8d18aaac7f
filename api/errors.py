"""How the API refuses bad input: one error shape, never a 500.

Every refusal is JSON. A 400 names the fields it is about (`{"amount": ["…"]}`, with
`non_field_errors` for the body as a whole); every other error is `{"detail": "…"}`.
docs/api.md describes both; api/schema.py puts them in the OpenAPI schema.
"""

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)
# DRF imports this module while it defines its views (DEFAULT_PARSER_CLASSES): no import of
# rest_framework.views, .decorators or .generics here.

# The largest id a bigint primary key holds; a bigger number names no row.
MAX_ID = 2**63 - 1


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"

    def __init__(self) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        super().__init__(f"The request body is larger than {limit} bytes." if limit else None)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the data."
    default_code = "conflict"


class ValueOutOfRange(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "A number or a date in the request is out of range."
    default_code = "out_of_range"


# The deepest JSON body the API parses. No endpoint takes more than 2 levels; 32 leaves room
# for any future one. Deeper was a 500 (RecursionError at ~1,000 levels), even anonymous.
MAX_JSON_DEPTH = 32
TOO_DEEP = f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep."


def _too_deep(data: Any) -> bool:
    """Whether parsed JSON nests lists and objects more than MAX_JSON_DEPTH levels; walked
    with a stack, not recursion, so the check itself cannot overflow."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        elif not isinstance(value, list):
            continue
        if depth > MAX_JSON_DEPTH:
            return True
        stack.extend((item, depth + 1) for item in value if isinstance(item, dict | list))
    return False


class LimitedJSONParser(JSONParser):
    """JSON, at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes and MAX_JSON_DEPTH levels of it.

    Django checks the size only when a view reads request.body or request.POST; DRF's
    parsers read the stream directly, so without this a client could post any size. Too
    deep is a 400 `{detail}` like any other unparsable body; too big stays a 413, the
    status a proxy's body limit answers too (docs/api.md).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        if limit is not None and request is not None:
            meta = request.META
            try:
                length = int(meta.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                raise RequestTooLarge()
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # The decoder guards its own recursion: this is raised cleanly, stack intact.
            raise ParseError(TOO_DEEP) from None
        if _too_deep(data):
            raise ParseError(TOO_DEEP)
        return data


def _as_lists(detail: Any) -> Any:
    """A field error is always a list of strings, whoever raised it."""
    if isinstance(detail, Mapping):
        return {key: _as_lists(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return detail
    return [detail]


def django_errors(error: DjangoValidationError, *, rename: Mapping[str, str] | None = None):
    """A model's or a service's ValidationError as API field errors: `{field: [messages]}`,
    `non_field_errors` for messages about no one field. `rename` maps a model's field names
    to the names the endpoint uses."""
    rename = rename or {}
    non_field = api_settings.NON_FIELD_ERRORS_KEY
    if not hasattr(error, "error_dict"):
        return {non_field: error.messages}
    errors: dict[str, list[str]] = {}
    for field, messages in error.message_dict.items():
        key = non_field if field == NON_FIELD_ERRORS else rename.get(field, field)
        errors.setdefault(key, []).extend(messages)
    return errors


def _is_out_of_range(exc: Exception) -> bool:
    """A value the database cannot hold (a number past bigint, a date past year 9999),
    which input validation should have caught: answer 400, and log it, since it means a
    validator is missing somewhere."""
    if isinstance(exc, OverflowError):
        return True
    if isinstance(exc, DataError):
        # psycopg: numeric_value_out_of_range (22003), datetime_field_overflow (22008)
        sqlstate = getattr(exc.__cause__, "sqlstate", None)
        return sqlstate in {"22003", "22008"}
    return False


def exception_handler(exc: Exception, context: dict) -> Any:
    """DRF's handler, plus: a Django ValidationError (from a service or a model's
    full_clean) is a 400 with field errors; a body over the size limit a 413; a number the
    database cannot hold a 400. Anything else unexpected stays a 500, so bugs show."""
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(django_errors(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif _is_out_of_range(exc):
        # Answered as the client's error, but logged with its traceback: it means a
        # validator is missing, and the log says where.
        view = type(context.get("view")).__name__
        logger.warning("Out-of-range value got past validation in %s", view, exc_info=exc)
        exc = ValueOutOfRange()
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, ValidationError):
        if isinstance(response.data, Mapping):
            response.data = _as_lists(response.data)
        else:
            response.data = {api_settings.NON_FIELD_ERRORS_KEY: _as_lists(response.data)}
    return response


class RejectUnknownFieldsMixin:
    """A write serializer that refuses keys it would otherwise ignore: a misspelt field
    (`ammount`) or a read-only one (`status`) is a 400 naming it, not a silent no-op."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            errors = {
                key: ["This field is read-only." if key in self.fields else "Unknown field."]
                for key in data
                if key not in writable
            }
            if errors:
                raise ValidationError(errors)
        return super().to_internal_value(data)
