"""Benchmark: the writes reps make most, over HTTP through gunicorn, at N concurrent clients.

    DATABASE_URL=postgres://salesperf:salesperf@127.0.0.1:5432/<scratch db> \
        .venv/bin/python -m tests.benchmarks.writes [--clients 16] [--seconds 30] [--workers N]

What it measures. Migrates the (empty, or --reuse) PostgreSQL database, loads the demo
organisation (or seed_scale's, `--generator scale --deals N`), starts gunicorn on a free
loopback port as docker-compose.yml runs it (2 sync workers unless `--workers` /
`--threads`; DEBUG off, manifest static files, CONN_MAX_AGE 60) and runs `--clients`
threads, each a distinct rep logged in through the login form (session cookie, CSRF
token). For `--seconds` (after `--warmup` untimed ones) each pauses, uniform 0 … 2 ×
`--think` s (a person between two clicks; `--think 0`: back to back, a capacity test),
then does what a browser does, on the rep's own new deals:

- deal_create: GET /deals/new/ (the form and its one-time token), then the timed POST of
  the form (302 to the new deal; the redirect is not followed);
- stage_move: a board card's arrow, the htmx POST /deals/<id>/move/ to the next (or the
  previous) open stage with the card's version, answered by the two columns it touched;
- stage_move (form): the deal page's "Move to" form, the same POST answered by a 302.

Each figure is the whole round trip of the POST, on the machine that also runs PostgreSQL
and the clients, so the summary's upkeep (its triggers, and the on-commit drain under its
advisory lock) is inside it; the server logs every on-commit drain (writes_server.py) and
the report gives their lock wait and duration. Then, gunicorn stopped, the SQL floor: the
same clients and pauses sending the same rows' SQL with psycopg (a deal's INSERT; its
stage's UPDATE with the StageChange INSERT; a transaction each, the database's triggers
firing, no drain), so each figure stands beside its floor.

Nothing lost: every acknowledged deal is in the database with its amount and no other
one was made; every acknowledged move is a StageChange row (deal, from, to) and each deal
is in its last move's stage; once the changes still pending are drained (as every summary
read does first), the summary equals a fresh computation (`summary.rebuild()`: no drift).
Exit status 1 on an error, a lost write or drift; the budget (--budget ms at p95 for each
write) is reported, not enforced. `--drain` runs writes_server's experiments.
"""

import argparse
import datetime as dt
import http.client
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from http.cookies import SimpleCookie
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesperf.settings")
# Production settings in this process too (DEBUG off needs a key; any one will do here).
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(40))
django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from metrics import summary  # noqa: E402
from metrics.models import SummaryChange  # noqa: E402
from pipeline.models import Deal, Stage, StageChange  # noqa: E402
from tests.benchmarks import data  # noqa: E402
from tests.load.run import free_port, percentile, wait_for_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "writes-bench-password-3"
PREFIX = "Bench deal"  # names of the deals the HTTP clients create
FLOOR_PREFIX = "Floor deal"  # and of the rows the SQL floor writes
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FORM_TOKEN_RE = re.compile(r'name="form_token" value="([^"]+)"')
WRITES = ("deal_create", "stage_move", "stage_move (form)")


@dataclass
class Stats:
    """Every operation's latency and errors; shared by the client threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    samples: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)
    deals: dict[int, Decimal] = field(default_factory=dict)  # acknowledged: id → amount
    moves: list[tuple[int, int, int]] = field(default_factory=list)  # (deal, from, to)

    def record(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.samples.setdefault(kind, []).append(seconds)

    def fail(self, kind: str, message: str) -> None:
        with self.lock:
            self.errors[kind] += 1
            if len(self.first_errors) < 10:
                self.first_errors.append(f"{kind}: {message}")


class Browser:
    """One rep's cookies (kept by hand: DEBUG off marks them Secure, the loopback is
    plain HTTP) and a new connection per request, as gunicorn's sync workers close it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.mine: list[list[int]] = []  # its deals: [id, index of the stage, version]

    def request(
        self, method: str, path: str, form: dict | None = None, headers: dict | None = None
    ) -> tuple[int, dict, str, float]:
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        sent = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            seconds = time.perf_counter() - started
        finally:
            conn.close()
        for header in response.msg.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response.status, dict(response.getheaders()), text, seconds

    def login(self, username: str) -> None:
        status, _, text, _ = self.request("GET", "/login/")
        token = CSRF_RE.search(text)
        if status != 200 or not token:
            raise RuntimeError(f"login page: HTTP {status}")
        form = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token[1]}
        status, _, _, _ = self.request("POST", "/login/", form)
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login of {username}: HTTP {status}")


def think(rng: random.Random, mean: float, stop: threading.Event) -> bool:
    """Pause like a person between two clicks; True once the run is over."""
    return stop.wait(rng.uniform(0, 2 * mean)) if mean > 0 else stop.is_set()


def http_client(
    n: int, browser: Browser, stages: list[int], args, stats: Stats, stop: threading.Event
) -> None:
    rng = random.Random(n + len(browser.mine))
    mine = browser.mine
    while not think(rng, args.think, stop):
        try:
            if not mine or rng.random() < args.create_share:
                status, _, page, seconds = browser.request("GET", "/deals/new/")
                stats.record("deal_form (GET)", seconds)
                token = FORM_TOKEN_RE.search(page)
                if status != 200 or not token:
                    stats.fail("deal_form (GET)", f"HTTP {status}, token {bool(token)}")
                    continue
                amount = Decimal(rng.randrange(100_000, 9_000_000)) / 100
                form = {
                    "csrfmiddlewaretoken": browser.cookies.get("csrftoken", ""),
                    "form_token": token[1],
                    "name": f"{PREFIX} {n}-{len(mine)}",
                    "company_name": f"Bench Co {rng.randrange(40)}",
                    "amount": str(amount),
                    "expected_close_date": str(timezone.localdate() + dt.timedelta(days=60)),
                    "stage": stages[0],
                    "product": "",
                }
                status, headers, text, seconds = browser.request("POST", "/deals/new/", form)
                stats.record("deal_create", seconds)
                match = re.fullmatch(r"/deals/(\d+)/", headers.get("Location", ""))
                if status == 302 and match:
                    with stats.lock:
                        stats.deals[int(match[1])] = amount
                    mine.append([int(match[1]), 0, 1])
                else:
                    stats.fail("deal_create", f"HTTP {status} {text[:200]!r}")
            else:
                deal = rng.choice(mine)
                board = rng.random() < args.board_share
                kind = "stage_move" if board else "stage_move (form)"
                pk, index, version = deal
                to = index + 1 if index + 1 < len(stages) else index - 1
                form = {
                    "csrfmiddlewaretoken": browser.cookies.get("csrftoken", ""),
                    "stage": stages[to],
                    "version": version,
                }
                if board:  # a card's arrow: htmx adds its headers and base.html's CSRF one
                    headers = {
                        "HX-Request": "true",
                        "HX-Target": "board",
                        "HX-Current-URL": f"http://127.0.0.1:{browser.port}/deals/board/",
                        "X-CSRFToken": form["csrfmiddlewaretoken"],
                    }
                else:  # the deal page's "Move to" form, answered by a redirect back
                    headers, form["next"] = {}, f"/deals/{pk}/"
                status, _, text, seconds = browser.request(
                    "POST", f"/deals/{pk}/move/", form, headers
                )
                stats.record(kind, seconds)
                # A move from the board answers with the two columns it touched (a refused
                # one with the whole board and its reason).
                moved = 'hx-swap-oob="outerHTML"' in text
                if (status == 200 and moved and "board-error" not in text) or (
                    not board and status == 302
                ):
                    with stats.lock:
                        stats.moves.append((pk, stages[index], stages[to]))
                    deal[1], deal[2] = to, version + 1
                else:
                    error = re.search(r'class="board-error"[^>]*>([^<]*)<', text)
                    stats.fail(kind, f"HTTP {status} {error[1] if error else text[:200]!r}")
        except (OSError, http.client.HTTPException) as problem:
            stats.fail("connection", repr(problem))


def floor_client(
    n: int, dsn: str, owner: tuple[int, int], stages: list[int], args, stats: Stats, stop
) -> None:
    """The same writes as bare SQL: what PostgreSQL alone needs for them, triggers on."""
    rng = random.Random(1000 + n)
    owner_id, team_id = owner
    mine: list[list[int]] = []
    with psycopg.connect(dsn) as db:
        while not think(rng, args.think, stop):
            if not mine or rng.random() < args.create_share:
                amount = Decimal(rng.randrange(100_000, 9_000_000)) / 100
                started = time.perf_counter()
                row = db.execute(
                    "INSERT INTO pipeline_deal (name, owner_id, team_id, stage_id, amount,"
                    " expected_close_date, created_at, lost_reason, updated_at, version)"
                    " VALUES (%s, %s, %s, %s, %s, current_date + 60, now(), '', now(), 1)"
                    " RETURNING id",
                    [f"{FLOOR_PREFIX} {n}", owner_id, team_id, stages[0], amount],
                ).fetchone()
                db.commit()
                stats.record("deal_create", time.perf_counter() - started)
                mine.append([row[0], 0])
            else:
                deal = rng.choice(mine)
                to = deal[1] + 1 if deal[1] + 1 < len(stages) else deal[1] - 1
                started = time.perf_counter()
                db.execute(
                    "UPDATE pipeline_deal SET stage_id = %s, version = version + 1,"
                    " updated_at = now() WHERE id = %s",
                    [stages[to], deal[0]],
                )
                db.execute(
                    "INSERT INTO pipeline_stagechange (deal_id, from_stage_id, to_stage_id,"
                    " changed_at, changed_by_id) VALUES (%s, %s, %s, now(), %s)",
                    [deal[0], stages[deal[1]], stages[to], owner_id],
                )
                db.commit()
                stats.record("stage_move", time.perf_counter() - started)
                deal[1] = to


def run_threads(targets: list, seconds: float) -> float:
    stop = threading.Event()
    threads = [threading.Thread(target=t, args=(stop,)) for t in targets]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    return time.perf_counter() - started


def reps(count: int) -> list[User]:
    """`count` distinct reps with the benchmark's password: the organisation's own first
    (they have deals: their boards are real), then new ones in its leaf teams."""
    chosen = list(User.objects.filter(role="rep", is_active=True).order_by("pk")[:count])
    teams = [rep.team for rep in chosen]
    if not teams:
        sys.exit("The organisation has no reps: load one (seed_demo or seed_scale) first.")
    for n in range(len(chosen), count):
        chosen.append(
            User.objects.create(
                username=f"bench.rep.{n:03d}", role="rep", team=teams[n % len(teams)]
            )
        )
    User.objects.filter(pk__in=[rep.pk for rep in chosen]).update(password=make_password(PASSWORD))
    return chosen


def static_manifest(env: dict) -> None:
    """DEBUG off serves hashed static files from a manifest, as the Docker image bakes it."""
    if not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )


def gunicorn(port: int, args, env: dict, log) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", args.app, "-b", f"127.0.0.1:{port}"]
    # No control socket: its default path is one per user, shared with any other gunicorn.
    command += ["-w", str(args.workers), "--timeout", "60", "--no-control-socket"]
    if args.threads > 1:
        command += ["-k", "gthread", "--threads", str(args.threads)]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def table(title: str, stats: Stats, elapsed: float, kinds) -> list[str]:
    lines = [
        title,
        f"  {'operation':<16} {'count':>6} {'per s':>6} {'p50':>7} {'p95':>7} {'p99':>7}"
        f" {'max':>7}  errors  (ms)",
    ]
    for kind in kinds:
        values = stats.samples.get(kind, [])
        if not values:
            lines.append(f"  {kind:<16} {0:>6}")
            continue
        ms = [percentile(values, share) * 1000 for share in (0.5, 0.95, 0.99)]
        lines.append(
            f"  {kind:<16} {len(values):>6} {len(values) / elapsed:>6.1f} {ms[0]:>7.1f}"
            f" {ms[1]:>7.1f} {ms[2]:>7.1f} {max(values) * 1000:>7.1f}  {stats.errors[kind]}"
        )
    return lines


def drainer_report(output: str) -> str:
    """drain_summary -v2's lines: "<n> changes applied in <ms> ms", then its total."""
    runs = [line.split() for line in output.splitlines() if " changes applied in " in line]
    if not runs:
        return "Drainer (drain_summary): no drain logged"
    ms = sorted(float(run[4]) for run in runs)
    changes = sum(int(run[0]) for run in runs)
    return (
        f"Drainer (drain_summary, a process apart, warm-up included): {len(runs)} drains of "
        f"{changes} changes, {changes / len(runs):.1f} a drain; p50 {percentile(ms, 0.5):.1f} "
        f"p95 {percentile(ms, 0.95):.1f} ms"
    )


def drains(path: str, elapsed: float) -> list[str]:
    """The server's on-commit drains of the timed run (writes_server's log)."""
    rows = [line.split() for line in Path(path).read_text().splitlines()]
    if not rows:
        return ["On-commit drains: none logged (--app without writes_server, or --drain off)"]
    waits = [float(r[0]) / 1000 for r in rows]
    totals = [float(r[1]) / 1000 for r in rows]
    busy = sum(r[2] == "busy" for r in rows)
    failed = sum(r[2] == "failed" for r in rows)
    empty = sum(r[2] == "0" for r in rows)
    ms = [f"{percentile(v, q) * 1000:.1f}" for v in (waits, totals) for q in (0.5, 0.95)]
    return [
        f"On-commit drains (in the server, {len(rows) / elapsed:.1f}/s): {len(rows)}, "
        f"{empty} found nothing, {busy} skipped (lock busy), {failed} failed; lock wait p50 "
        f"{ms[0]} p95 {ms[1]} ms; whole drain p50 {ms[2]} p95 {ms[3]} ms; "
        f"{sum(totals) / elapsed:.2f} s of drain per second"
    ]


def verify(stats: Stats, stages: list[int], after_pk: int) -> tuple[list[str], bool]:
    """Nothing lost: the acknowledged writes are all there, and the summary is exact."""
    made = Deal.all_objects.filter(name__startswith=PREFIX, pk__gt=after_pk)
    found = dict(made.values_list("pk", "amount"))
    missing = [pk for pk in stats.deals if pk not in found]
    unacked = [pk for pk in found if pk not in stats.deals]
    wrong = [pk for pk, amount in stats.deals.items() if pk in found and found[pk] != amount]
    total = made.aggregate(s=Sum("amount"))["s"] or Decimal(0)
    acked_total = sum(stats.deals.values(), Decimal(0))
    wanted = Counter(stats.moves)
    recorded = Counter(
        StageChange.objects.filter(deal__in=made, from_stage__isnull=False).values_list(
            "deal_id", "from_stage_id", "to_stage_id"
        )
    )
    missing_moves = list((wanted - recorded).elements())
    extra_moves = list((recorded - wanted).elements())
    last: dict[int, int] = {pk: stages[0] for pk in stats.deals}
    for pk, _, to in stats.moves:  # in acknowledgement order; one client per deal
        last[pk] = to
    stage_of = dict(made.values_list("pk", "stage_id"))
    wrong_stage = [pk for pk, stage in last.items() if stage_of.get(pk) != stage]
    pending = SummaryChange.objects.count()
    started = time.perf_counter()
    drained = summary.drain()
    drain_ms = (time.perf_counter() - started) * 1000
    drift = summary.rebuild()
    ok = not (missing or unacked or wrong or wrong_stage or missing_moves or extra_moves)
    ok = ok and total == acked_total and drift.total == 0
    lines = [
        "Nothing lost:",
        f"  deals: {len(stats.deals)} acknowledged, {len(found)} in the database, "
        f"{len(missing)} missing, {len(unacked)} unacknowledged, {len(wrong)} wrong amount; "
        f"amount {total} in the database vs {acked_total} acknowledged",
        f"  moves: {sum(wanted.values())} acknowledged, {sum(recorded.values())} StageChange "
        f"rows, {len(missing_moves)} missing, {len(extra_moves)} extra; "
        f"{len(wrong_stage)} deals not in their last move's stage",
        f"  summary: {pending} changes pending after the run (the floor's SQL and any "
        f"deferred drain), drained in {drain_ms:.0f} ms ({drained} applied); rebuild drift "
        f"{drift.day_figures} day rows, {drift.open_deals} open-pipeline rows, "
        f"{drift.won_deals} won deals, {drift.funnel_days} funnel rows, "
        f"{drift.cycle_buckets} cycle buckets, {drift.month_figures + drift.funnel_months} "
        f"month rows (total {drift.total}, every table)",
        f"  {'OK' if ok else 'FAILED'}",
    ]
    return lines, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="gunicorn workers (docker-compose.yml: WEB_CONCURRENCY, 2)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per worker; > 1 runs gthread (sync: 1)"
    )
    parser.add_argument(
        "--think", type=float, default=1.0, help="mean pause of a client between two writes (s)"
    )
    parser.add_argument("--create-share", type=float, default=0.5, help="share of creates")
    parser.add_argument(
        "--board-share", type=float, default=0.5, help="share of the moves made on the board"
    )
    parser.add_argument("--warmup", type=float, default=5, help="untimed seconds first")
    parser.add_argument("--floor-seconds", type=float, default=10)
    parser.add_argument("--budget", type=float, default=50, help="p95 budget per write (ms)")
    parser.add_argument(
        "--app",
        default="tests.benchmarks.writes_server",
        help="the WSGI module gunicorn serves (default: the project's, its drains timed)",
    )
    parser.add_argument(
        "--drain",
        choices=["shipped", "block", "off"],
        default="shipped",
        help="the on-commit drain: shipped, or the EXPERIMENTS of writes_server",
    )
    parser.add_argument(
        "--drainer",
        action="store_true",
        help="SUMMARY_DRAINER on: web workers leave the drains to `manage.py drain_summary`, "
        "run beside gunicorn (as docker-compose.yml's drainer)",
    )
    parser.add_argument("--reuse", action="store_true")
    data.add_arguments(parser)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Point DATABASE_URL at a scratch PostgreSQL database.")
    call_command("migrate", verbosity=0)
    if Deal.all_objects.exists() and not args.reuse:
        sys.exit("The database has data: point DATABASE_URL at a scratch database or --reuse.")
    if not Deal.all_objects.exists():
        data.load(args)
    summary.drain()  # whatever loading left pending, so the run starts with none
    people = reps(args.clients)
    stages = list(
        Stage.objects.filter(pipeline__is_default=True, kind="open")
        .order_by("order")
        .values_list("pk", flat=True)
    )
    before = Deal.all_objects.count()
    after_pk = Deal.all_objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
    }
    drain_log = tempfile.NamedTemporaryFile(  # noqa: SIM115
        "w", prefix="writes-bench-drains-", suffix=".txt", delete=False
    )
    drain_log.close()
    env |= {"WRITES_BENCH_DRAIN": args.drain, "WRITES_BENCH_DRAIN_LOG": drain_log.name}
    env["SUMMARY_DRAINER"] = "true" if args.drainer else "false"
    static_manifest(env)
    port = free_port()
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (open for the server's life)
        "w+", prefix="writes-bench-gunicorn-", suffix=".log", delete=False
    )
    load = os.getloadavg()
    server = gunicorn(port, args, env, log)
    drainer = None
    if args.drainer:
        drainer = subprocess.Popen(
            [sys.executable, "manage.py", "drain_summary", "-v2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
    stats = Stats()
    try:
        wait_for_server(port, server)
        browsers = []
        for rep in people:
            browser = Browser(port)
            browser.login(rep.username)
            browser.request("GET", "/deals/board/")  # where the moves are made from
            browsers.append(browser)
        # Every worker's first requests load templates and open its connection: untimed.
        warm = Stats()
        run_threads(
            [
                lambda stop, n=n, b=b: http_client(n, b, stages, args, warm, stop)
                for n, b in enumerate(browsers)
            ],
            args.warmup,
        )
        stats.deals, stats.moves = warm.deals, warm.moves  # verified with the rest
        stats.errors.update(warm.errors)
        stats.first_errors += warm.first_errors
        open(drain_log.name, "w").close()  # the drains of the timed run only
        elapsed = run_threads(
            [
                lambda stop, n=n, b=b: http_client(n, b, stages, args, stats, stop)
                for n, b in enumerate(browsers)
            ],
            args.seconds,
        )
    except BaseException:
        log.seek(0)
        print("gunicorn log (last 3000 characters):\n" + log.read()[-3000:])
        raise
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        os.unlink(log.name)  # still open: read below
        drained = ""
        if drainer is not None:
            drainer.terminate()
            drained = drainer.communicate(timeout=30)[0]
    floor = Stats()
    dsn = connection.get_connection_params()
    dsn_text = psycopg.conninfo.make_conninfo(
        **{k: v for k, v in dsn.items() if k in ("host", "port", "dbname", "user", "password")}
    )
    owners = [(rep.pk, rep.team_id) for rep in people]
    floor_elapsed = run_threads(
        [
            lambda stop, n=n: floor_client(n, dsn_text, owners[n], stages, args, floor, stop)
            for n in range(args.clients)
        ],
        args.floor_seconds,
    )
    mode = f"gthread --threads {args.threads}" if args.threads > 1 else "sync"
    print(
        f"PostgreSQL {connection.settings_dict['NAME']}: {before:,} deals before the run; "
        f"gunicorn {args.app} -w {args.workers} ({mode}), DEBUG off, CONN_MAX_AGE 60, "
        f"on-commit drain: {args.drain}{'' if args.drain == 'shipped' else ' (EXPERIMENT)'}"
        f"{', left to the drainer (SUMMARY_DRAINER)' if args.drainer else ''}; "
        f"{args.clients} clients, think {args.think} s mean, {args.seconds:.0f} s; "
        f"load average {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after "
        f"({os.cpu_count()} cores, shared)"
    )
    lines = table(f"HTTP ({elapsed:.1f} s):", stats, elapsed, (*WRITES, "deal_form (GET)"))
    if stats.errors["connection"]:
        lines.append(f"  connection errors: {stats.errors['connection']}")
    lines += table(
        f"SQL floor, psycopg, same clients ({floor_elapsed:.1f} s):",
        floor,
        floor_elapsed,
        WRITES[:2],
    )
    lines += drains(drain_log.name, elapsed)
    os.unlink(drain_log.name)
    if drainer is not None:
        lines.append(drainer_report(drained))
    over = [
        kind
        for kind in WRITES
        if stats.samples.get(kind) and percentile(stats.samples[kind], 0.95) * 1000 >= args.budget
    ]
    lines.append(
        f"Budget p95 < {args.budget:.0f} ms: " + (f"OVER for {', '.join(over)}" if over else "met")
    )
    checks, ok = verify(stats, stages, after_pk)
    print("\n".join(lines + checks))
    if stats.first_errors:
        print("First errors:\n  " + "\n  ".join(stats.first_errors))
    if stats.errors or not ok:
        log.seek(0)
        print("gunicorn log (last 2000 characters):\n" + log.read()[-2000:])
    log.close()
    sys.exit(0 if ok and not stats.errors else 1)


if __name__ == "__main__":
    main()
