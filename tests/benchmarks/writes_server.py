"""The WSGI app `tests.benchmarks.writes` serves (its --app default): salesperf.wsgi with
each on-commit drain timed, and optionally an experiment on when and how it runs.

Every on-commit drain appends "<ms waiting for the advisory lock> <ms in all> <changes>"
to the file named by WRITES_BENCH_DRAIN_LOG (one short append: safe across workers); the
benchmark summarises it. WRITES_BENCH_DRAIN picks the on-commit drain:

- "shipped" (default): as shipped, metrics.summary: in a web request the drain runs once
  the response is sent (request_finished), and it only tries the advisory lock (another
  drain running: the changes stay pending for it or the next read);
- "block": EXPERIMENT, the code before 3 December: the drain runs in the request, before
  the response, waiting for the lock;
- "off": EXPERIMENT: no on-commit drain (the changes wait for the next read).

Summary reads (summary.readable), rebuilds and drains outside a request are unchanged.
"""

import os
import threading
import time

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesperf.settings")
application = get_wsgi_application()  # what gunicorn serves; sets Django up first


from metrics import summary  # noqa: E402

MODE = os.environ.get("WRITES_BENCH_DRAIN", "shipped")
LOG = os.environ.get("WRITES_BENCH_DRAIN_LOG", "")
_state = threading.local()
_real_lock = summary._lock


def _timed_lock(*, wait: bool = True, draining: bool = False) -> bool:
    started = time.perf_counter()
    taken = _real_lock(wait=wait, draining=draining)
    _state.lock_ms = (time.perf_counter() - started) * 1000
    return taken


def _drain_on_commit() -> None:
    if MODE == "off":
        return
    _state.lock_ms = 0.0
    started = time.perf_counter()
    applied: int | str = 0
    try:
        applied = summary.drain(wait=MODE == "block")
    except Exception:  # as the shipped one: the next read applies the changes
        summary.logger.exception("summary drain failed; the changes stay pending")
        applied = "failed"
    if LOG:
        line = f"{_state.lock_ms:.2f} {(time.perf_counter() - started) * 1000:.2f} {applied}\n"
        with open(LOG, "a") as out:
            out.write(line)


summary._lock = _timed_lock
summary._drain_on_commit = _drain_on_commit
if MODE == "block":
    summary._drain_once_committed = _drain_on_commit  # in the request, before the response
