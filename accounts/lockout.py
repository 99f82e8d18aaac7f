"""What a locked-out login sees (django-axes, AXES_LOCKOUT_CALLABLE): a page or, from the
API, JSON, both saying when to try again. docs/security.md describes the rule."""

from datetime import datetime

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from periods.formats import moment_text

LOCKED_STATUS = 429


def locked_until(username: str) -> datetime | None:
    """When the lockout of `username` ends: its last counted failure plus the cool-off."""
    cool_off = get_cool_off()
    last = (
        AccessAttempt.objects.filter(username=username)
        .order_by("-attempt_time")
        .values_list("attempt_time", flat=True)
        .first()
    )
    if last is None or cool_off is None:
        return None
    return last + cool_off


def lockout_message(until: datetime | None) -> str:
    if until is None:
        return "Too many failed logins: this account is locked. Try again later."
    local = timezone.localtime(until)
    return (
        "Too many failed logins: this account is locked until "
        f"{moment_text(local)} ({local.tzname()}). Try again after that."
    )


def lockout_json(username: str) -> JsonResponse:
    until = locked_until(username)
    response = JsonResponse(
        {
            "detail": lockout_message(until),
            "locked_until": until.isoformat() if until else None,
        },
        status=LOCKED_STATUS,
    )
    if until is not None:
        seconds = max(0, int((until - timezone.now()).total_seconds()))
        response["Retry-After"] = str(seconds)
    return response


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """The 429 answer to a login of a locked account: JSON under /api/, else a page."""
    username = get_client_username(request, credentials) or ""
    if request.path.startswith("/api/"):
        return lockout_json(username)
    until = locked_until(username)
    return render(
        request,
        "registration/locked_out.html",
        {"locked_until": until, "message": lockout_message(until)},
        status=LOCKED_STATUS,
    )
