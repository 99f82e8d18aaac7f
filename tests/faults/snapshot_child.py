"""A snapshot run that stops, inside its transaction, after writing its rows: the parent
test (test_snapshot_killed.py) kills it there with SIGKILL. Test-only: the pause is
patched in here, the service itself has no hook.

Usage: python tests/faults/snapshot_child.py YYYY-MM-DD   (DATABASE_URL from the env)
"""

import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesperf.settings")


def main() -> None:
    import django

    django.setup()
    from django.db.models import QuerySet

    from metrics.services import kpi_snapshot_create

    original = QuerySet.bulk_create

    def bulk_create_then_hang(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        print(f"WROTE {len(result)}", flush=True)
        time.sleep(600)  # killed here, the transaction still open
        return result

    QuerySet.bulk_create = bulk_create_then_hang
    kpi_snapshot_create(day=dt.date.fromisoformat(sys.argv[1]))
    print("COMMITTED", flush=True)  # never reached when killed


if __name__ == "__main__":
    main()
