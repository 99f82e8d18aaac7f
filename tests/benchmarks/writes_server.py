"""The WSGI app `tests.benchmarks.writes` serves (its --app default): salesperf.wsgi with
each on-commit drain timed, and optionally an experiment on when and how it runs.

Every on-commit drain appends "<ms waiting for the advisory lock> <ms in all> <changes>"
to the file named by WRITES_BENCH_DRAIN_LOG (one short append: safe across workers); the
benchmark summarises it. WRITES_BENCH_DRAIN picks the on-commit drain:

- "block" (default): as shipped, metrics.summary.drain, waiting for the advisory lock;
- "try": EXPERIMENT, not the shipped code: the same drain, but the on-commit one takes the
  lock with pg_try_advisory_xact_lock and, when another drain holds it, returns at once,
  its changes left pending for the next drain or summary read (every read drains first,
  waiting for the lock, so what a page shows stays exact);
- "after", "after-try": EXPERIMENT: the drain ("block" or "try") of a web request runs
  once its response is sent (request_finished, sent when gunicorn closes the response),
  not before; the worker still does it;
- "off": EXPERIMENT: no on-commit drain (the changes wait for the next read).

Summary reads (summary.readable), rebuilds and drains outside a request are unchanged.
"""

import os
import threading
import time

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesperf.settings")
application = get_wsgi_application()  # what gunicorn serves; sets Django up first

from django.core.signals import request_finished, request_started  # noqa: E402
from django.db import connection  # noqa: E402

from metrics import summary  # noqa: E402

MODE = os.environ.get("WRITES_BENCH_DRAIN", "block")
LOG = os.environ.get("WRITES_BENCH_DRAIN_LOG", "")
_state = threading.local()
_blocking_lock = summary._lock


class _Busy(Exception):
    """Another drain holds the lock (the "try" experiments)."""


def _timed_lock() -> None:
    started = time.perf_counter()
    if getattr(_state, "try_lock", False) and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [summary._LOCK_ID])
            if not cursor.fetchone()[0]:
                _state.lock_ms = (time.perf_counter() - started) * 1000
                raise _Busy  # drain's atomic block rolls back: nothing taken, nothing written
    else:
        _blocking_lock()
    _state.lock_ms = (time.perf_counter() - started) * 1000


def _drain_now() -> None:
    _state.lock_ms, _state.try_lock = 0.0, MODE.endswith("try")
    started = time.perf_counter()
    applied: int | str = 0
    try:
        applied = summary.drain()
    except _Busy:
        applied = "busy"
    except Exception:  # as the shipped one: the next read applies the changes
        summary.logger.exception("summary drain failed; the changes stay pending")
        applied = "failed"
    finally:
        _state.try_lock = False
    if LOG:
        line = f"{_state.lock_ms:.2f} {(time.perf_counter() - started) * 1000:.2f} {applied}\n"
        with open(LOG, "a") as out:
            out.write(line)


def _drain_on_commit() -> None:
    if MODE == "off":
        return
    if MODE.startswith("after") and getattr(_state, "in_request", False):
        _state.deferred = True
        return
    _drain_now()


def _started(**kwargs) -> None:
    _state.in_request, _state.deferred = True, False


def _finished(**kwargs) -> None:
    _state.in_request = False
    if getattr(_state, "deferred", False):
        _state.deferred = False
        _drain_now()


summary._lock = _timed_lock
summary._drain_on_commit = _drain_on_commit
if MODE.startswith("after"):
    request_started.connect(_started, dispatch_uid="writes-bench-started")
    # After Django's close_old_connections (connected first), which keeps a connection
    # younger than CONN_MAX_AGE; the drain opens a new one otherwise.
    request_finished.connect(_finished, dispatch_uid="writes-bench-finished")
