"""The read replica's router and middleware (salesperf/db_router.py) without a replica:
where reads and writes go, the pin cookie after a write, the reset per request and per
task, and the settings with and without DATABASE_REPLICA_URL. tests/replica/ runs the same
against a real streaming replica."""

import contextvars
import datetime as dt
import json

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.http import HttpResponse
from django.test import RequestFactory
from rest_framework.authtoken.models import Token

from pipeline.models import Deal
from salesperf import db_router
from salesperf.db_router import (
    PIN_COOKIE,
    PrimaryReplicaRouter,
    ReadYourWritesMiddleware,
    reads_primary,
)
from tests.test_settings import PRODUCTION_ENV, manage

ROUTER = PrimaryReplicaRouter()


@pytest.fixture(autouse=True)
def _the_real_router(monkeypatch):
    """The router itself under test, also when tests/conftest.py pins reads to the
    primary (DATABASE_REPLICA_URL set for the whole suite)."""
    monkeypatch.setattr("salesperf.db_router.reads_primary", reads_primary)


POSTGRES_ENV = {
    **PRODUCTION_ENV,
    # Settings are only read here; nothing connects.
    "DATABASE_URL": "postgres://app:secret@db.internal:5432/salesperf",
}


def fresh(function, *args):
    """Run in an empty context, as a new request or task starts."""
    return contextvars.Context().run(function, *args)


def test_reads_go_to_the_replica_and_writes_to_the_primary():
    def reads_then_writes():
        before = ROUTER.db_for_read(Deal)
        write = ROUTER.db_for_write(Deal)
        return before, write, ROUTER.db_for_read(Deal)

    assert fresh(reads_then_writes) == ("replica", "default", "default")


def test_sessions_and_api_tokens_are_always_read_on_the_primary():
    assert fresh(lambda: [ROUTER.db_for_read(m) for m in (Session, Token, Deal)]) == [
        "default",
        "default",
        "replica",
    ]


def test_primary_pins_every_read_inside_it():
    def pinned():
        with db_router.primary():
            inside = ROUTER.db_for_read(Deal)
        return inside, ROUTER.db_for_read(Deal)

    assert fresh(pinned) == ("default", "replica")


def test_migrations_only_on_the_primary_and_relations_across_both():
    assert ROUTER.allow_migrate("default", "pipeline") is True
    assert ROUTER.allow_migrate("replica", "pipeline") is False

    class Obj:
        def __init__(self, db):
            self._state = type("S", (), {"db": db})()

    assert ROUTER.allow_relation(Obj("default"), Obj("replica")) is True
    assert ROUTER.allow_relation(Obj("other"), Obj("replica")) is None


def middleware_call(view, cookies=None, settings_override=None):
    request = RequestFactory().get("/")
    request.COOKIES.update(cookies or {})
    return fresh(ReadYourWritesMiddleware(view), request)


def writing_view(request):
    ROUTER.db_for_write(Deal)
    return HttpResponse(ROUTER.db_for_read(Deal))


def reading_view(request):
    return HttpResponse(ROUTER.db_for_read(Deal))


def test_a_request_that_writes_reads_the_primary_after_and_gets_the_pin_cookie(settings):
    settings.DATABASE_REPLICA_PIN_SECONDS = 5
    response = middleware_call(writing_view)
    assert response.content == b"default"
    cookie = response.cookies[PIN_COOKIE]
    assert cookie["max-age"] == 5 and cookie["httponly"] and cookie["samesite"] == "Lax"


def test_a_read_only_request_reads_the_replica_and_sets_no_cookie():
    response = middleware_call(reading_view)
    assert response.content == b"replica"
    assert PIN_COOKIE not in response.cookies


def test_the_pin_cookie_sends_the_next_requests_to_the_primary_until_it_expires(settings):
    settings.DATABASE_REPLICA_PIN_SECONDS = 5
    with time_machine.travel(dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC), tick=False) as clock:
        cookie = middleware_call(writing_view).cookies[PIN_COOKIE].value
        clock.shift(4)
        assert middleware_call(reading_view, {PIN_COOKIE: cookie}).content == b"default"
        clock.shift(2)
        assert middleware_call(reading_view, {PIN_COOKIE: cookie}).content == b"replica"


def test_a_forged_pin_cookie_is_ignored():
    assert middleware_call(reading_view, {PIN_COOKIE: "1"}).content == b"replica"


def test_each_request_starts_afresh_even_in_a_context_that_wrote():
    def wrote_then_request():
        ROUTER.db_for_write(Deal)
        request = RequestFactory().get("/")
        response = ReadYourWritesMiddleware(reading_view)(request)
        return response.content, reads_primary()

    # The request reads the replica; the caller's own state comes back after it.
    assert fresh(wrote_then_request) == (b"replica", True)


def test_each_task_starts_reading_the_replica_and_gives_back_its_callers_state():
    def task_after_a_write():
        ROUTER.db_for_write(Deal)
        db_router.task_started(task_id="t1")
        in_task = ROUTER.db_for_read(Deal)
        ROUTER.db_for_write(Deal)
        after_write = ROUTER.db_for_read(Deal)
        db_router.task_finished(task_id="t1")
        return in_task, after_write, reads_primary()

    assert fresh(task_after_a_write) == ("replica", "default", True)


def test_the_celery_app_resets_the_state_around_every_task():
    from celery.signals import task_postrun, task_prerun

    import salesperf.celery  # noqa: F401  (connects the receivers)

    def around_a_task():
        ROUTER.db_for_write(Deal)
        task_prerun.send(sender=None, task_id="t2", task=None, args=(), kwargs={})
        in_task = ROUTER.db_for_read(Deal)
        task_postrun.send(sender=None, task_id="t2", task=None, args=(), kwargs={}, retval=0)
        return in_task, ROUTER.db_for_read(Deal)

    assert fresh(around_a_task) == ("replica", "default")


def settings_of(env: dict) -> dict:
    code = (
        "import json; from django.conf import settings; print(json.dumps({"
        "'databases': settings.DATABASES, 'routers': settings.DATABASE_ROUTERS, "
        "'middleware': settings.MIDDLEWARE}, default=str))"
    )
    result = manage("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_without_a_replica_url_there_is_no_router_and_no_middleware():
    values = settings_of(POSTGRES_ENV)
    assert list(values["databases"]) == ["default"]
    assert values["routers"] == []
    assert "salesperf.db_router.ReadYourWritesMiddleware" not in values["middleware"]


def test_a_replica_url_adds_the_alias_the_router_and_the_middleware():
    env = {
        **POSTGRES_ENV,
        "DATABASE_REPLICA_URL": "postgres://app:secret@replica.internal:5432/salesperf",
        "CONN_MAX_AGE": "30",
    }
    values = settings_of(env)
    replica, default = values["databases"]["replica"], values["databases"]["default"]
    assert (replica["HOST"], replica["NAME"]) == ("replica.internal", "salesperf")
    assert replica["CONN_MAX_AGE"] == default["CONN_MAX_AGE"] == 30
    assert replica["CONN_HEALTH_CHECKS"] is True
    assert replica["OPTIONS"]["options"] == "-c jit=off"
    assert replica["TEST"]["MIRROR"] == "default"
    assert values["routers"] == ["salesperf.db_router.PrimaryReplicaRouter"]
    middleware = values["middleware"]
    position = middleware.index("salesperf.db_router.ReadYourWritesMiddleware")
    assert middleware[position + 1] == "django.contrib.sessions.middleware.SessionMiddleware"


def test_a_replica_needs_postgresql_on_both_sides():
    replica = "postgres://app:secret@replica.internal:5432/salesperf"
    on_sqlite = manage("check", env={**PRODUCTION_ENV, "DATABASE_REPLICA_URL": replica})
    assert on_sqlite.returncode != 0
    assert "needs a PostgreSQL DATABASE_URL" in on_sqlite.stderr
    sqlite_replica = {**POSTGRES_ENV, "DATABASE_REPLICA_URL": "sqlite:////tmp/x.sqlite3"}
    refused = manage("check", env=sqlite_replica)
    assert refused.returncode != 0
    assert "must be a PostgreSQL URL" in refused.stderr


@pytest.mark.parametrize("value", ["-1", "soon"])
def test_a_bad_pin_window_is_refused(value):
    env = {
        **POSTGRES_ENV,
        "DATABASE_REPLICA_URL": "postgres://app:secret@replica.internal:5432/salesperf",
        "DATABASE_REPLICA_PIN_SECONDS": value,
    }
    assert manage("check", env=env).returncode != 0
