"""Fault script: PostgreSQL stopped and started again under load.

gunicorn (2 workers) serves a scratch database on a PostgreSQL cluster; signed-in users
load pages continuously; the cluster is stopped for --outage seconds, then started. The
status of every answer is recorded over time. Expected: 503 (the static page) while the
database is away, never a 500, and 200s again within a few seconds of the restart, with
nothing restarted but PostgreSQL (CONN_HEALTH_CHECKS drops the dead connections).

    .venv/bin/python tests/faults/postgres_restart.py   # private cluster 15/faults, :5440
    .venv/bin/python tests/faults/postgres_restart.py --cluster "15 main" --port 5432

It stops and starts that cluster with pg_ctlcluster (run as root): never point it at a
cluster others are using. Exit status 1 when a 500 or a lasting failure is seen.
"""

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.load.run import (  # noqa: E402
    PASSWORD,
    Browser,
    Stats,
    drop_scratch_database,
    free_port,
    gunicorn_command,
    manage,
    scratch_database,
    wait_for_server,
)

PAGES = ["/deals/", "/me/", "/deals/board/"]


def hammer(browser: Browser, paths: list[str], log: list, stop: threading.Event) -> None:
    while not stop.is_set():
        for path in paths:
            status, _, text = browser.request("page", "GET", path)
            log.append((time.monotonic(), status, "Back in a moment" in text))
        stop.wait(0.1)


def pg_ctl(cluster: str, action: str) -> None:
    subprocess.run(["pg_ctlcluster", *cluster.split(), action], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster", default="15 faults", help="pg_ctlcluster VERSION NAME")
    parser.add_argument("--port", type=int, default=5440)
    parser.add_argument("--outage", type=float, default=8.0, help="seconds PostgreSQL is down")
    parser.add_argument("--users", type=int, default=6)
    parser.add_argument("--recover-within", type=float, default=10.0)
    args = parser.parse_args(argv)

    base = f"postgres://salesperf:salesperf@127.0.0.1:{args.port}/salesperf_faults"
    database_url, label = scratch_database(base)
    env = {**os.environ, "DATABASE_URL": database_url, "DEBUG": "true", "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    print(f"Preparing {label}…", flush=True)
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo", "--password", PASSWORD, "--scale", "0.05", "--no-snapshots")
    usernames = (
        manage(
            env,
            "shell",
            "-c",
            "from accounts.models import User; print(' '.join(User.objects.filter(role='rep')"
            ".order_by('pk').values_list('username', flat=True)))",
        )
        .splitlines()[-1]
        .split()
    )

    port = free_port()
    server_log = open(ROOT / "var" / f"faults-postgres-{os.getpid()}.log", "w+")  # noqa: SIM115
    server = subprocess.Popen(
        gunicorn_command(port),
        cwd=ROOT,
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stats, stop, log = Stats(), threading.Event(), []
    try:
        wait_for_server(port, server)
        browsers = []
        for username in usernames[: args.users]:
            browser = Browser(port, stats)
            if not browser.login(username):
                raise SystemExit(f"could not log in {username}: {stats.errors}")
            browsers.append(browser)
        # One anonymous visitor too: the login page touches no table until it is posted.
        threads = [threading.Thread(target=hammer, args=(b, PAGES, log, stop)) for b in browsers]
        for thread in threads:
            thread.start()
        t0 = time.monotonic()
        time.sleep(4)
        print(f"Stopping PostgreSQL ({args.cluster}) for {args.outage:.0f} s…", flush=True)
        down_at = time.monotonic()
        pg_ctl(args.cluster, "stop")
        stopped_at = time.monotonic()
        time.sleep(args.outage)
        pg_ctl(args.cluster, "start")
        up_at = time.monotonic()
        print("PostgreSQL started again.", flush=True)
        time.sleep(args.recover_within + 2)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        stop.set()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        subprocess.run(["pg_ctlcluster", *args.cluster.split(), "start"], capture_output=True)

    log.sort()
    before = Counter(s for t, s, _ in log if t < down_at)
    # pg_ctlcluster start returns once PostgreSQL accepts connections: the last 200s of
    # this window are the recovery, not answers without a database.
    during = Counter(s for t, s, _ in log if stopped_at <= t < up_at)
    after = [(t, s) for t, s, _ in log if t >= up_at]
    first_ok = next((t - up_at for t, s in after if s == 200), None)
    last_bad = max((t - up_at for t, s in after if s != 200), default=None)
    pages_503 = sum(1 for _, s, page in log if s == 503 and page)
    all_503 = sum(1 for _, s, _ in log if s == 503)
    errors_500 = sum(1 for _, s, _ in log if s == 500)
    no_answer = sum(1 for _, s, _ in log if s == 0)
    print("\nStatus codes per second (t=0 at the start of the load):")
    for second in range(int(log[-1][0] - t0) + 1):
        window = Counter(s for t, s, _ in log if second <= t - t0 < second + 1)
        marks = (
            " <- stopped, until pg_ctlcluster start returned"
            if down_at - t0 <= second < up_at - t0
            else ""
        )
        print(
            f"  {second:3d}s  " + ", ".join(f"{s}×{c}" for s, c in sorted(window.items())) + marks
        )
    summary = [
        f"Requests: {len(log)}; before the stop {dict(before)}; from the stop until "
        f"pg_ctlcluster start returned {dict(during)}; "
        f"after the start {dict(Counter(s for _, s in after))}.",
        f"503 answers: {all_503} (of them the static page: {pages_503}); 500 answers: "
        f"{errors_500}; no answer: {no_answer}.",
        f"After PostgreSQL started: first 200 after {first_ok:.1f} s; last non-200 at "
        f"{last_bad if last_bad is None else round(last_bad, 1)} s."
        if first_ok is not None
        else "After PostgreSQL started: no 200 at all.",
    ]
    print("\n" + "\n".join(summary))
    ok = (
        errors_500 == 0
        and no_answer == 0
        and during.get(503, 0) > 0
        and during.get(500, 0) == 0
        and first_ok is not None
        and (last_bad is None or last_bad < args.recover_within)
    )
    if not ok:
        server_log.seek(0)
        print("\nFAILED. gunicorn log (end):\n" + server_log.read()[-3000:])
    server_log.close()
    if ok:
        os.unlink(server_log.name)
    drop_scratch_database(database_url)
    print("\nRESULT: " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
