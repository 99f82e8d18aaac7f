"""The drainer: applies the summary's pending changes as they come, in a process of its own."""

import signal
import threading
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection

from metrics import summary


class Command(BaseCommand):
    help = (
        "Apply the summary's pending changes every --every seconds (all of them at once), "
        "so web workers need not drain after their writes (SUMMARY_DRAINER=true). "
        "Stops on SIGTERM or SIGINT after the drain under way."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--every", type=float, default=0.2, help="seconds between two looks (0.2)"
        )
        parser.add_argument("--once", action="store_true", help="one drain, then exit")

    def handle(self, *args, every: float, once: bool, verbosity: int, **options) -> None:
        stop = threading.Event()
        if not once:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
        applied_total = 0
        while True:
            if not connection.in_atomic_block:  # (a caller's transaction: a test's)
                close_old_connections()  # CONN_MAX_AGE, and a database restarted meanwhile
            try:
                if summary.pending():
                    started = time.perf_counter()
                    # Not waiting: a drain under way elsewhere (a read's) takes them.
                    applied = summary.drain(wait=False)
                    applied_total += applied
                    if verbosity > 1 and applied:
                        ms = (time.perf_counter() - started) * 1000
                        self.stdout.write(f"{applied} changes applied in {ms:.1f} ms")
            except Exception:  # the next look, or the next read, applies them
                summary.logger.exception("summary drain failed; the changes stay pending")
            if once or stop.wait(every):
                break
        if verbosity > 0:
            self.stdout.write(f"Drainer stopped: {applied_total} changes applied.")
