"""The load test's short mode (tests/load/run.py): gunicorn against a scratch database of
the configured engine (PostgreSQL when DATABASE_URL says so, else SQLite), 10 reps and
the managers for 8 seconds: no 5xx, no failed request, no acknowledged write lost."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.load

ROOT = Path(__file__).resolve().parents[2]


def test_short_load_run_has_no_server_error_and_loses_no_write():
    # A process of its own: the runner makes its own database and server, apart from the
    # test database of this run.
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests/load/run.py"), "--duration", "8", "--reps", "10"],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=240,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Server errors (5xx or no answer): 0. Lost writes: NONE." in done.stdout
