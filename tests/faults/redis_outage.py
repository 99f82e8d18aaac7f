"""Fault script: Redis (cache and Celery broker) down, then back.

gunicorn, a Celery worker and beat run against a scratch PostgreSQL database and a private
Redis (started here on --redis-port, default 6390, so no one else's Redis is touched). An
import goes through the worker; Redis is shut down; pages are loaded and a second import
is uploaded while it is down; Redis is started again. Expected: pages answer 200 while
Redis is down (no 500), the upload is accepted and shown as "Waiting for a worker", and
once Redis is back the worker reconnects by itself and beat's requeue task sends the
waiting job, which then completes.

    .venv/bin/python tests/faults/redis_outage.py
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
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

HEADER = (
    "external_id,name,company,owner,stage,amount,created_at,closed_at,"
    "expected_close_date,lead_source,product\n"
)


def redis(port: int, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["redis-cli", "-p", str(port), *command], capture_output=True, text=True, timeout=10
    )


def start_redis(port: int) -> None:
    subprocess.run(
        [
            "redis-server",
            "--port",
            str(port),
            "--daemonize",
            "yes",
            "--dir",
            "/tmp",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    for _ in range(50):
        if redis(port, "ping").stdout.strip() == "PONG":
            return
        time.sleep(0.1)
    raise SystemExit(f"redis on port {port} did not start")


def upload(browser: Browser, name: str, content: str) -> tuple[int, str]:
    """POST a CSV to the import page (multipart, by hand); (status, Location)."""
    import http.client

    boundary = uuid.uuid4().hex
    fields = {"kind": "deals", "csrfmiddlewaretoken": browser.cookies.get("csrftoken", "")}
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: text/csv\r\n\r\n{content}\r\n--{boundary}--\r\n"
    )
    body = "".join(parts).encode()
    connection = http.client.HTTPConnection("127.0.0.1", browser.port, timeout=60)
    connection.request(
        "POST",
        "/import/",
        body=body,
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items()),
        },
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, response.getheader("Location", "")


def job_state(browser: Browser, location: str) -> tuple[int, str]:
    status, _, text = browser.request("import_job", "GET", location)
    if "Imported" in text:
        return status, "imported"
    if "Waiting for a worker" in text:
        return status, "waiting"
    if "Importing" in text:
        return status, "running"
    return status, "other"


def wait_state(browser: Browser, location: str, wanted: str, seconds: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if job_state(browser, location)[1] == wanted:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-port", type=int, default=6390)
    parser.add_argument(
        "--database-url", default="postgres://salesperf:salesperf@127.0.0.1:5432/salesperf_faults"
    )
    parser.add_argument("--outage", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.redis_port == 6379:
        raise SystemExit("Refusing to shut down the shared Redis on 6379; use a private port.")

    if redis(args.redis_port, "ping").stdout.strip() != "PONG":
        start_redis(args.redis_port)
    database_url, label = scratch_database(args.database_url)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{args.redis_port}/0",
        "DEBUG": "true",
        "LOG_LEVEL": "WARNING",
        "IMPORT_INLINE_MAX_BYTES": "100",  # every upload goes to the worker
        "IMPORT_REQUEUE_SECONDS": "3",
    }
    print(f"Preparing {label} and Redis on :{args.redis_port}…", flush=True)
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo", "--password", PASSWORD, "--scale", "0.05", "--no-snapshots")
    rep = (
        manage(
            env,
            "shell",
            "-c",
            "from accounts.models import User; "
            "print(User.objects.filter(role='rep').order_by('pk').first().username)",
        )
        .splitlines()[-1]
        .strip()
    )

    port = free_port()
    log = open(ROOT / "var" / f"faults-redis-{os.getpid()}.log", "w+")  # noqa: SIM115
    celery = [sys.executable, "-m", "celery", "-A", "salesperf"]
    processes = {
        "gunicorn": gunicorn_command(port),
        "worker": [
            *celery,
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        "beat": [*celery, "beat", "--loglevel=INFO"],
    }
    running = {
        name: subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        for name, command in processes.items()
    }
    stats, results, ok = Stats(), [], True
    try:
        wait_for_server(port, running["gunicorn"])
        admin = Browser(port, stats)
        if not admin.login("admin"):
            raise SystemExit(f"login failed: {stats.errors}")
        rows = "".join(
            f"RF1-{n},Deal {n},Company {n % 20},{rep},Won,{n + 1},2026-01-05,2026-02-01,,,\n"
            for n in range(200)
        )
        status, first = upload(admin, "before.csv", HEADER + rows)
        took = wait_state(admin, first, "imported", 60) if status == 302 else None
        results.append(
            f"Redis up: upload {status}, imported by the worker in "
            f"{'never' if took is None else f'{took:.1f} s'}."
        )
        ok &= took is not None

        print("Shutting Redis down…", flush=True)
        redis(args.redis_port, "shutdown", "nosave")
        statuses: Counter = Counter()
        stop = threading.Event()

        def browse() -> None:
            while not stop.is_set():
                for path in ("/deals/", "/org/", "/me/", first, "/import/"):
                    statuses[admin.request("page", "GET", path)[0]] += 1
                stop.wait(0.2)

        browsing = threading.Thread(target=browse)
        browsing.start()
        time.sleep(1)
        rows = rows.replace("RF1-", "RF2-")
        status, second = upload(admin, "during.csv", HEADER + rows)
        state = job_state(admin, second) if status == 302 else (status, "none")
        results.append(
            f"Redis down: upload answered {status}; its page {state[0]}, state '{state[1]}'."
        )
        ok &= status == 302 and state == (200, "waiting")
        time.sleep(args.outage)
        stop.set()
        browsing.join()
        results.append(f"Redis down for {args.outage:.0f} s: page answers {dict(statuses)}.")
        ok &= set(statuses) == {200}

        print("Starting Redis again…", flush=True)
        start_redis(args.redis_port)
        took = wait_state(admin, second, "imported", 120)
        results.append(
            "Redis back: the waiting import was "
            + ("never run (120 s)" if took is None else f"imported {took:.1f} s later")
            + "; nothing restarted but Redis."
        )
        ok &= took is not None
        alive = {name: process.poll() is None for name, process in running.items()}
        results.append(f"Processes still running: {alive}.")
        ok &= all(alive.values())
    finally:
        for process in running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in running.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        redis(args.redis_port, "shutdown", "nosave")

    print("\n" + "\n".join(results))
    if not ok or stats.errors:
        log.seek(0)
        text = log.read()
        print("\nFAILED. Process log (end):\n" + text[-4000:])
        print(re.findall(r".*(?:Error|error).*", text)[-10:])
    log.close()
    if ok and not stats.errors:
        os.unlink(log.name)
    drop_scratch_database(database_url)
    print("\nRESULT: " + ("OK" if ok and not stats.errors else "FAILED"))
    return 0 if ok and not stats.errors else 1


if __name__ == "__main__":
    sys.exit(main())
