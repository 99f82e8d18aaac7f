"""A real PostgreSQL streaming replica (`.ci/replica start`, DATABASE_REPLICA_URL): the
tests here see what a lagging replica does to reads. Required in CI (CI=true), skipped
elsewhere when there is no replica.

The `replica` alias is a test mirror of `default`: the same test database name, on the
replica's server, where the WAL brings it. Data must be committed to get there, so every
test is transactional. A test may pause WAL replay to make the replica stale on purpose;
the pause holds the replica for every database, so one test at a time (a lock file shared
by the pytest-xdist workers) and replay always resumed afterwards.
"""

import contextvars
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

from tests.metrics.conftest import org, wide_org  # noqa: F401  (fixtures)

LOCK_FILE = settings.BASE_DIR / "var" / "replica-tests.lock"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture: without the alias, the tests' `databases` would not even load."""
    if "replica" in settings.DATABASES:
        return
    message = "needs a streaming replica in DATABASE_REPLICA_URL (.ci/replica start)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


def replica_sql(sql: str) -> Any:
    with connections["replica"].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def pause_replay() -> None:
    replica_sql("SELECT pg_wal_replay_pause()")
    # Pausing is asked for, then takes effect; wait until replay really stands still.
    deadline = time.monotonic() + 10
    while replica_sql("SELECT pg_get_wal_replay_pause_state()") != "paused":
        assert time.monotonic() < deadline, "WAL replay did not pause"
        time.sleep(0.05)


def resume_replay() -> None:
    replica_sql("SELECT pg_wal_replay_resume()")


def wait_for_replica(seconds: float = 30) -> None:
    """Until the replica has replayed everything the primary had written by now."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        target = cursor.fetchone()[0]
    deadline = time.monotonic() + seconds
    while not replica_sql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
        assert time.monotonic() < deadline, f"the replica did not reach {target} in {seconds}s"
        time.sleep(0.05)


def as_new_request(function: Callable[..., Any], *args: Any) -> Any:
    """Run like a fresh request or task: nothing written yet, so reads go to the replica
    (the test's own setup wrote, in the test's context)."""
    return contextvars.Context().run(function, *args)


@pytest.fixture(autouse=True)
def _replica(transactional_db: None) -> Iterator[None]:
    """One replica test at a time; replay running and caught up before and after."""
    LOCK_FILE.parent.mkdir(exist_ok=True)
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert replica_sql("SELECT pg_is_in_recovery()"), "DATABASE_REPLICA_URL is no replica"
        resume_replay()  # whatever a killed run left behind
        wait_for_replica()
        try:
            yield
        finally:
            resume_replay()
            wait_for_replica()
