"""A 503 "come back in a minute" instead of a 500 when the database is away.

Wiring only: it knows nothing of the apps. It sits right after SecurityMiddleware so that
every layer below it is covered: a view's database error reaches `process_exception`;
one raised by a middleware below (sessions, authentication, django-axes) or while saving
the session is turned into a 500 by Django before it gets here, so a `got_request_exception`
receiver marks the request and the 500 is swapped for the 503 on the way out.

Recovery needs nothing from here: with CONN_HEALTH_CHECKS a dead persistent connection is
dropped at the next request, which opens a new one once PostgreSQL is back.
"""

import logging
import sys
from collections.abc import Callable

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
DATABASE_ERRORS = (OperationalError, InterfaceError)
MESSAGE = "The service is briefly unavailable (its database does not answer). Try again soon."


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """The 503 itself: built without the database (no request context, no context
    processors, no session), JSON for the API, a static page otherwise."""
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": MESSAGE}, status=503)
    else:
        html = loader.get_template("503.html").render({"retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    # Never cache the outage, and do not store a half-made session.
    response["Cache-Control"] = "no-store"
    return response


@receiver(got_request_exception, dispatch_uid="salesperf.middleware.mark_database_error")
def _mark_database_error(sender, request: HttpRequest | None = None, **kwargs) -> None:
    """Called inside Django's `except` block, so sys.exc_info() is the error."""
    error = sys.exc_info()[1]
    if request is not None and isinstance(error, DATABASE_ERRORS):
        request._salesperf_database_error = error  # type: ignore[attr-defined]


class DatabaseUnavailableMiddleware:
    """OperationalError / InterfaceError anywhere below → 503 with Retry-After, logged."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        error = getattr(request, "_salesperf_database_error", None)
        if error is not None and response.status_code >= 500:
            return self._unavailable(request, error)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_ERRORS):
            return self._unavailable(request, exception)
        return None

    def _unavailable(self, request: HttpRequest, error: Exception) -> HttpResponse:
        logger.warning(
            "Database unavailable, answered 503 to %s %s: %s",
            request.method,
            request.path,
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__,
        )
        return unavailable_response(request)
