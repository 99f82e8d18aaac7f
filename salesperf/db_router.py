"""Reads to the PostgreSQL streaming replica, writes to the primary (DATABASE_REPLICA_URL).

Wiring only; settings.py installs the router and the middleware when, and only when, the
`replica` alias exists. Read-your-own-writes, because a replica lags the primary by a few
milliseconds to seconds:

- Once a request or a Celery task writes (the router's db_for_write is asked), every later
  read of that request or task goes to the primary. The flag is a context variable, set
  afresh for each request (ReadYourWritesMiddleware) and each task (Celery signals).
- A read inside an atomic block on the primary reads the primary: the transaction must
  see its own rows, and `select_for_update` only means something there.
- A request that wrote answers with a short-lived signed cookie; while it is valid
  (DATABASE_REPLICA_PIN_SECONDS, 5 s by default) that browser's requests read the primary
  too, so the page after a POST's redirect shows what the POST wrote.
- Sessions and API tokens are always read on the primary: one primary-key lookup per
  request, so that a token fresh from `auth/token/` or a session just saved is never
  refused for the replica's lag (API clients keep no pin cookie).
- `primary()` pins every read inside it to the primary (tests, or code that needs the
  freshest figures).
"""

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse

REPLICA_DB_ALIAS = "replica"
PIN_COOKIE = "salesperf_primary"
PIN_SALT = "salesperf.db_router.pin"
# Who is asking: read where it was just written (module docstring).
PRIMARY_MODELS = frozenset({"sessions.session", "authtoken.token"})

# Defaults are False, so code outside any request or task (a shell, a management command)
# reads the replica until it writes, like a request.
_wrote: ContextVar[bool] = ContextVar("salesperf_db_wrote", default=False)
_pinned: ContextVar[bool] = ContextVar("salesperf_db_pinned", default=False)


def reads_primary() -> bool:
    """Whether a read made now goes to the primary."""
    return _pinned.get() or _wrote.get() or connections[DEFAULT_DB_ALIAS].in_atomic_block


@contextlib.contextmanager
def primary() -> Iterator[None]:
    """Every read inside goes to the primary, requests made inside included."""
    token = _pinned.set(True)
    try:
        yield
    finally:
        _pinned.reset(token)


class PrimaryReplicaRouter:
    """Writes and migrations on `default`; reads on `replica` unless read-your-own-writes
    (module docstring) sends them to `default`."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        if reads_primary() or model._meta.label_lower in PRIMARY_MODELS:
            return DEFAULT_DB_ALIAS
        return REPLICA_DB_ALIAS

    def db_for_write(self, model: Any, **hints: Any) -> str:
        _wrote.set(True)
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # The two aliases hold the same rows: an object read from the replica may be
        # linked to one saved on the primary.
        aliases = {DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS}
        if obj1._state.db in aliases and obj2._state.db in aliases:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS  # the replica follows the primary's WAL


def pin_seconds() -> int:
    return settings.DATABASE_REPLICA_PIN_SECONDS


class ReadYourWritesMiddleware:
    """A fresh read-your-own-writes state per request; the pin cookie after a write.

    Sits above SessionMiddleware, so the session saved on the way out (a login, a message)
    counts as the request's write."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        seconds = pin_seconds()
        recent = request.get_signed_cookie(PIN_COOKIE, default=None, salt=PIN_SALT, max_age=seconds)
        wrote_token = _wrote.set(False)
        # `or`: a request made inside primary() (a test client's) stays pinned.
        pinned_token = _pinned.set(_pinned.get() or recent is not None)
        try:
            response = self.get_response(request)
            if _wrote.get():
                response.set_signed_cookie(
                    PIN_COOKIE,
                    "1",
                    salt=PIN_SALT,
                    max_age=seconds,
                    secure=settings.SESSION_COOKIE_SECURE,
                    httponly=True,
                    samesite="Lax",
                )
        finally:
            _pinned.reset(pinned_token)
            _wrote.reset(wrote_token)
        return response


# Celery: a task starts reading the replica, whatever the task before it in this process
# wrote; the caller's state comes back after an eager (in-process) task.
_task_tokens: dict[str, Token[bool]] = {}


def task_started(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id is not None:
        _task_tokens[task_id] = _wrote.set(False)


def task_finished(task_id: str | None = None, **kwargs: Any) -> None:
    token = _task_tokens.pop(task_id, None) if task_id is not None else None
    if token is None:
        return
    try:
        _wrote.reset(token)
    except ValueError:  # finished in another context than it started (a thread pool)
        _wrote.set(False)
