"""Load test: gunicorn on 127.0.0.1 against a fresh database, N simulated reps logging in
through the login form, creating deals and moving them, a few managers loading the team
and organisation dashboards, and the snapshot job running in a loop, for --duration
seconds. Then checks that every acknowledged write is in the database (deal ids, count,
amount sum; every acknowledged move in StageChange) and prints latency percentiles per
request kind and the throughput. Exit status 1 on any 5xx, failed request or lost write.

    .venv/bin/python tests/load/run.py                       # 50 reps, 60 s (docs/reliability.md)
    .venv/bin/python tests/load/run.py --duration 8 --reps 10  # the CI mode (test_load.py)

The database: a scratch database `<name>_load_<pid>` made next to DATABASE_URL's when it
points to PostgreSQL, else a fresh SQLite file under var/; dropped at the end. No
dependency beyond the standard library and the project's own.
"""

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from decimal import Decimal
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PASSWORD = "load-test-password-7"
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FORM_TOKEN_RE = re.compile(r'name="form_token" value="([^"]+)"')

SETUP_SCRIPT = """
import json, os
from django.contrib.auth.hashers import make_password
from accounts.models import Team, User
from pipeline.models import Stage
reps = int(os.environ["LOAD_REPS"])
teams = list(Team.objects.filter(manager__isnull=False, parent__isnull=False).order_by("pk"))
password = make_password(os.environ["LOAD_PASSWORD"])  # hashed once, shared: fast set-up
users = [
    User(username=f"load.rep.{n:03d}", first_name="Load", last_name=f"Rep {n}",
         role="rep", team=teams[n % len(teams)], password=password)
    for n in range(reps)
]
User.objects.bulk_create(users)
stages = list(Stage.objects.filter(pipeline__is_default=True, kind="open")
              .order_by("order").values_list("pk", flat=True))
print("LOAD-SETUP " + json.dumps({
    "stages": stages,
    "managers": [[t.manager.username, t.pk] for t in teams],
    "admin": "admin",
}))
"""

SNAPSHOT_SCRIPT = """
import os, sys, time
from django.utils import timezone
from metrics.services import kpi_snapshot_create
pause = float(os.environ["LOAD_SNAPSHOT_PAUSE"])
while True:
    started = time.perf_counter()
    rows = kpi_snapshot_create(day=timezone.localdate())
    print(f"SNAPSHOT {time.perf_counter() - started:.4f} {rows}", flush=True)
    time.sleep(pause)
"""

VERIFY_SCRIPT = """
import json, os
from collections import Counter
from django.db.models import Sum
from pipeline.models import Deal, StageChange
acked = json.load(open(os.environ["LOAD_ACKED"]))
deals = Deal._base_manager.filter(owner__username__startswith="load.rep.")
ids = set(deals.values_list("pk", flat=True))
acked_ids = {d for d, _ in acked["deals"]}
total = deals.aggregate(s=Sum("amount"))["s"] or 0
moves = Counter(
    (d, s) for d, s in StageChange.objects.filter(deal__in=deals, from_stage__isnull=False)
    .values_list("deal_id", "to_stage_id")
)
wanted = Counter((d, s) for d, s in acked["moves"])
print("LOAD-VERIFY " + json.dumps({
    "deals_in_db": len(ids),
    "deals_acked": len(acked_ids),
    "missing_deals": sorted(acked_ids - ids)[:20],
    "unacknowledged_deals": len(ids - acked_ids),
    "amount_in_db": str(total),
    "moves_in_db": sum(moves.values()),
    "moves_acked": sum(wanted.values()),
    "missing_moves": [list(k) for k in (wanted - moves)][:20],
}))
"""


@dataclass
class Stats:
    """Every request's kind, status and latency; shared by the client threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    samples: dict[str, list[float]] = field(default_factory=dict)
    ends: dict[str, list[float]] = field(default_factory=dict)  # when each one finished
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    deals: list[tuple[int, str]] = field(default_factory=list)  # (id, amount) acknowledged
    moves: list[tuple[int, int]] = field(default_factory=list)  # (deal id, stage id)

    def record(self, kind: str, status: int, seconds: float) -> None:
        with self.lock:
            self.samples.setdefault(kind, []).append(seconds)
            self.ends.setdefault(kind, []).append(time.monotonic())
            by_status = self.statuses.setdefault(kind, {})
            by_status[status] = by_status.get(status, 0) + 1

    def fail(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


class Browser:
    """One person's cookies and requests: a new connection per request (no keep-alive
    surprises), cookies kept by hand (the dev settings may mark them Secure)."""

    def __init__(self, port: int, stats: Stats) -> None:
        self.port = port
        self.stats = stats
        self.cookies: dict[str, str] = {}

    def request(
        self, kind: str, method: str, path: str, form: dict | None = None
    ) -> tuple[int, dict, str]:
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as error:
            self.stats.record(kind, 0, time.perf_counter() - started)
            self.stats.fail(f"{kind} {method} {path}: {error!r}")
            return 0, {}, ""
        finally:
            connection.close()
        self.stats.record(kind, response.status, time.perf_counter() - started)
        for header in response.msg.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        if response.status >= 500:
            self.stats.fail(f"{kind} {method} {path}: {response.status} {text[:200]!r}")
        return response.status, dict(response.getheaders()), text

    def post(self, kind: str, path: str, form: dict) -> tuple[int, dict, str]:
        return self.request(
            kind, "POST", path, {**form, "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")}
        )

    def login(self, username: str) -> bool:
        status, _, text = self.request("login_form", "GET", "/login/")
        match = CSRF_RE.search(text)
        if status != 200 or not match:
            self.stats.fail(f"login page for {username}: {status}")
            return False
        status, headers, _ = self.request(
            "login",
            "POST",
            "/login/",
            {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": match[1]},
        )
        if status != 302 or "sessionid" not in self.cookies:
            self.stats.fail(f"login of {username}: {status}")
            return False
        return True


def rep_loop(
    n: int,
    port: int,
    stats: Stats,
    stages: list[int],
    stop: threading.Event,
    think: float,
    ramp: float,
) -> None:
    rng = random.Random(n)
    # People do not all log in in the same second: spread the logins over a ramp-up.
    if stop.wait(rng.uniform(0, ramp)):
        return
    browser = Browser(port, stats)
    if not browser.login(f"load.rep.{n:03d}"):
        return
    mine: list[list[int]] = []  # [deal id, index of its stage in `stages`]
    while not stop.is_set():
        action = rng.random()
        if action < 0.45 or not mine:
            amount = Decimal(rng.randrange(1000, 90000)) + Decimal(rng.randrange(100)) / 100
            # As a browser does: open the form, whose one-time token the POST sends back.
            _, _, form_page = browser.request("deal_form", "GET", "/deals/new/")
            token = FORM_TOKEN_RE.search(form_page)
            status, headers, _ = browser.post(
                "deal_create",
                "/deals/new/",
                {
                    "name": f"Load deal {n}-{len(mine)}",
                    "company_name": f"Load Co {rng.randrange(40)}",
                    "amount": str(amount),
                    "expected_close_date": "2026-12-15",
                    "stage": stages[0],
                    "product": "",
                    "form_token": token[1] if token else "",
                },
            )
            match = re.fullmatch(r"/deals/(\d+)/", headers.get("Location", ""))
            if status == 302 and match:
                with stats.lock:
                    stats.deals.append((int(match[1]), str(amount)))
                mine.append([int(match[1]), 0])
            elif status and status < 500:
                stats.fail(f"deal_create answered {status} without a deal")
        elif action < 0.85:
            movable = [deal for deal in mine if deal[1] + 1 < len(stages)]
            if not movable:
                continue
            deal = rng.choice(movable)
            stage = stages[deal[1] + 1]
            status, _, _ = browser.post(
                "deal_move", f"/deals/{deal[0]}/move/", {"stage": stage, "next": "/deals/"}
            )
            if status == 302:
                with stats.lock:
                    stats.moves.append((deal[0], stage))
                deal[1] += 1
            elif status and status < 500:
                stats.fail(f"deal_move answered {status}")
        else:
            browser.request("my_dashboard", "GET", "/me/")
        stop.wait(rng.uniform(0, 2 * think))


def manager_loop(
    username: str, path: str, kind: str, port: int, stats: Stats, stop: threading.Event
) -> None:
    browser = Browser(port, stats)
    if not browser.login(username):
        return
    while not stop.is_set():
        browser.request(kind, "GET", path)
        stop.wait(0.5)


def snapshot_loop(env: dict, stats: Stats, stop: threading.Event, pause: float) -> None:
    """The nightly job, again and again, while the load runs: one long-lived process (as a
    worker would be) calling the service, each run timed and reported on a line."""
    process = subprocess.Popen(
        [PYTHON, "manage.py", "shell"],
        cwd=ROOT,
        env=env | {"LOAD_SNAPSHOT_PAUSE": str(pause)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdin.write(SNAPSHOT_SCRIPT)
    process.stdin.close()  # the shell runs the script, which loops until it is stopped
    watcher = threading.Thread(target=lambda: (stop.wait(), process.terminate()))
    watcher.start()
    for line in process.stdout:
        if line.startswith("SNAPSHOT "):
            _, seconds, rows = line.split()
            stats.record("snapshot_job", 200 if int(rows) > 0 else 500, float(seconds))
    process.wait()
    watcher.join()
    if process.returncode not in (0, -signal.SIGTERM):
        stats.fail(f"snapshot loop failed: {process.stderr.read()[-500:]}")


def gunicorn_command(port: int, *, workers: int = 2, threads: int = 4) -> list[str]:
    """The web server the load and fault scripts run: gunicorn, threaded, on loopback."""
    return [
        # This interpreter's gunicorn: the one of whichever virtualenv runs the script.
        sys.executable,
        "-m",
        "gunicorn",
        "salesperf.wsgi",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        str(workers),
        "-k",
        "gthread",
        "--threads",
        str(threads),
        "--timeout",
        "60",
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _admin_url(url: str) -> str:
    """The same server's `postgres` database, for CREATE / DROP DATABASE."""
    parts = urllib.parse.urlsplit(url)
    return parts._replace(scheme="postgresql", path="/postgres").geturl()


def scratch_database(base_url: str | None) -> tuple[str, str]:
    """(DATABASE_URL of a fresh, empty database, a label for the report). Named after this
    process, so two runs on one server never touch each other's database."""
    if base_url and base_url.startswith(("postgres://", "postgresql://")):
        import psycopg

        parts = urllib.parse.urlsplit(base_url)
        name = f"{parts.path.lstrip('/')}_load_{os.getpid()}"
        with psycopg.connect(_admin_url(base_url), autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            db.execute(f'CREATE DATABASE "{name}"')
        return parts._replace(path=f"/{name}").geturl(), f"PostgreSQL ({name})"
    path = ROOT / "var" / f"load-{os.getpid()}.sqlite3"
    drop_scratch_database(f"sqlite:///{path}")
    return f"sqlite:///{path}", f"SQLite ({path.name})"


def drop_scratch_database(url: str) -> None:
    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url[len('sqlite:///') :]}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    name = urllib.parse.urlsplit(url).path.lstrip("/")
    with psycopg.connect(_admin_url(url), autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def tagged(output: str, tag: str) -> dict:
    line = next(line for line in output.splitlines() if line.startswith(tag + " "))
    return json.loads(line[len(tag) + 1 :])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def wait_for_server(port: int, server: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited at start; see its log")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/login/")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not answer")


def report(stats: Stats, elapsed: float, verify: dict, label: str, args) -> tuple[str, bool]:
    lines = [
        f"Load test: {args.reps} reps, {args.managers} "
        f"managers + 1 admin, {args.duration:.0f} s, gunicorn -w {args.workers} "
        f"--threads {args.threads}, {label}",
        "",
        "| request | count | p50 ms | p95 ms | p99 ms | max ms | statuses |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    http_total = 0
    for kind in sorted(stats.samples):
        values = stats.samples[kind]
        if kind != "snapshot_job":
            http_total += len(values)
        statuses = ", ".join(f"{s}×{c}" for s, c in sorted(stats.statuses[kind].items()))
        lines.append(
            f"| {kind} | {len(values)} | {percentile(values, 0.5) * 1000:.0f} | "
            f"{percentile(values, 0.95) * 1000:.0f} | {percentile(values, 0.99) * 1000:.0f} | "
            f"{max(values) * 1000:.0f} | {statuses} |"
        )
    all_http = [v for k, vs in stats.samples.items() if k != "snapshot_job" for v in vs]
    # Steady state: what the reps' clicks cost once every login (PBKDF2, on purpose slow)
    # is over.
    logins_over = max(stats.ends.get("login", [0.0]))
    steady = [
        seconds
        for kind in ("deal_create", "deal_move", "my_dashboard", "team_dashboard", "org_dashboard")
        for seconds, end in zip(stats.samples.get(kind, []), stats.ends.get(kind, []), strict=True)
        if end - seconds > logins_over
    ]
    server_errors = sum(
        c for k, by in stats.statuses.items() for s, c in by.items() if s >= 500 or s == 0
    )
    lost_deals = verify["missing_deals"] or verify["deals_in_db"] != verify["deals_acked"]
    acked_sum = sum((Decimal(a) for _, a in stats.deals), Decimal(0))
    amount_ok = Decimal(verify["amount_in_db"]) == acked_sum
    moves_ok = not verify["missing_moves"] and verify["moves_in_db"] == verify["moves_acked"]
    lines += [
        "",
        f"All HTTP requests: {len(all_http)} in {elapsed:.1f} s = "
        f"{len(all_http) / elapsed:.1f} requests/s; "
        f"p50 {percentile(all_http, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(all_http, 0.95) * 1000:.0f} ms, "
        f"p99 {percentile(all_http, 0.99) * 1000:.0f} ms"
        if all_http
        else "No HTTP requests.",
        f"After the last login: {len(steady)} requests, "
        f"p50 {percentile(steady, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(steady, 0.95) * 1000:.0f} ms, "
        f"p99 {percentile(steady, 0.99) * 1000:.0f} ms"
        if steady
        else "After the last login: no requests.",
        f"Writes acknowledged: {len(stats.deals)} deals (amount {acked_sum}), "
        f"{len(stats.moves)} moves; in the database: {verify['deals_in_db']} deals "
        f"(amount {verify['amount_in_db']}), {verify['moves_in_db']} moves.",
        f"Server errors (5xx or no answer): {server_errors}. Lost writes: "
        f"{'NONE' if not lost_deals and amount_ok and moves_ok else 'YES ' + json.dumps(verify)}.",
    ]
    if stats.errors:
        lines += ["", f"Errors ({len(stats.errors)}, first 10):", *stats.errors[:10]]
    ok = (
        not stats.errors
        and server_errors == 0
        and not lost_deals
        and amount_ok
        and moves_ok
        and len(stats.deals) > 0
    )
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--managers", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--think", type=float, default=0.5, help="mean pause between actions")
    parser.add_argument("--scale", type=float, default=0.1, help="seed_demo --scale")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--no-snapshots", action="store_true")
    parser.add_argument("--snapshot-pause", type=float, default=0.5, help="between two runs")
    parser.add_argument(
        "--ramp", type=float, default=None, help="logins spread over (default: duration / 4)"
    )
    args = parser.parse_args(argv)

    ramp = args.duration / 4 if args.ramp is None else args.ramp
    database_url, label = scratch_database(args.database_url)
    env = {**os.environ, "DATABASE_URL": database_url, "DEBUG": "true", "LOG_LEVEL": "WARNING"}
    env.pop("SECRET_KEY", None)
    print(
        f"Preparing {label}: migrate, seed_demo --scale {args.scale}, {args.reps} reps…", flush=True
    )
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo", "--password", PASSWORD, "--scale", str(args.scale), "--no-snapshots")
    setup = tagged(
        manage(
            env | {"LOAD_REPS": str(args.reps), "LOAD_PASSWORD": PASSWORD},
            "shell",
            stdin=SETUP_SCRIPT,
        ),
        "LOAD-SETUP",
    )

    port = free_port()
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (kept open for the server's life)
        "w+", prefix="salesperf-load-gunicorn-", suffix=".log", delete=False
    )
    server = subprocess.Popen(
        gunicorn_command(port, workers=args.workers, threads=args.threads),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stats, stop = Stats(), threading.Event()
    try:
        wait_for_server(port, server)
        threads = [
            threading.Thread(
                target=rep_loop, args=(n, port, stats, setup["stages"], stop, args.think, ramp)
            )
            for n in range(args.reps)
        ]
        for username, team_id in setup["managers"][: args.managers]:
            threads.append(
                threading.Thread(
                    target=manager_loop,
                    args=(username, f"/teams/{team_id}/", "team_dashboard", port, stats, stop),
                )
            )
        threads.append(
            threading.Thread(
                target=manager_loop,
                args=(setup["admin"], "/org/", "org_dashboard", port, stats, stop),
            )
        )
        if not args.no_snapshots:
            threads.append(
                threading.Thread(target=snapshot_loop, args=(env, stats, stop, args.snapshot_pause))
            )
        print(f"Running for {args.duration:.0f} s on port {port}…", flush=True)
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        stop.wait(args.duration)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        elapsed = time.perf_counter() - started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as acked:
        json.dump({"deals": stats.deals, "moves": stats.moves}, acked)
    verify = tagged(
        manage(env | {"LOAD_ACKED": acked.name}, "shell", stdin=VERIFY_SCRIPT), "LOAD-VERIFY"
    )
    os.unlink(acked.name)
    text, ok = report(stats, elapsed, verify, label, args)
    print(text)
    if not ok:
        log.seek(0)
        print("\ngunicorn log (last 3000 characters):\n" + log.read()[-3000:])
    log.close()
    os.unlink(log.name)
    drop_scratch_database(database_url)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
