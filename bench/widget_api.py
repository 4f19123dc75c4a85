"""Widget API benchmark: gunicorn serving Hearth on loopback, N concurrent widget clients
posting and polling messages for a fixed time, against a baseline measured in the same run.

    .venv/bin/python bench/widget_api.py [--clients 16] [--seconds 15] [--workers 3]

Uses its own database (`hearth_bench`) on the embedded PostgreSQL (or on DATABASE_URL's
server) and the embedded Redis, so development data is untouched. Throttles are lifted for
the run: it measures the server, not the rate limits.

Baseline: `POST /__baseline` on the same gunicorn, answered by a bare WSGI function that
inserts one row with raw SQL through Django's connection: no middleware, tenant lookup,
authentication, validation or serialisation. Ratios = Hearth / baseline.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from config import embedded  # noqa: E402

BENCH_DB = "hearth_bench"
SLUG = "bench"


def bench_database_url() -> str:
    base = os.environ.get("DATABASE_URL") or embedded.postgres_location().url
    parts = urlsplit(base)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone():
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def prepare(env: dict) -> str:
    """Migrate the bench database, make the tenant and its inbox; return the widget token."""
    run = lambda *args: subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True, capture_output=True, text=True)  # noqa: E731
    run("migrate_schemas", "--noinput")
    script = f"""
from accounts.models import Account
from accounts.services import account_create
from django_tenants.utils import schema_context
from django.db import connection
if not Account.objects.filter(schema_name="{SLUG}").exists():
    account_create(name="Bench", slug="{SLUG}", owner_email="owner@bench.example", owner_password="bench-password-1")
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS public.bench_baseline (id bigserial PRIMARY KEY, content text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())")
with schema_context("{SLUG}"):
    from conversations.models import Inbox
    inbox = Inbox.objects.filter(name="Bench chat").first() or Inbox.objects.create(name="Bench chat", auto_assign=False)
    print(inbox.widget_token)
"""
    return run("shell", "-c", script).stdout.strip().splitlines()[-1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}

    def add(self, op: str, seconds: float, ok: bool):
        with self.lock:
            self.latencies.setdefault(op, []).append(seconds)
            if not ok:
                self.errors[op] = self.errors.get(op, 0) + 1


def widget_client(base: str, widget_token: str, stop_at: float, recorder: Recorder):
    with httpx.Client(base_url=base, timeout=30) as client:
        token = client.post("/api/widget/v1/sessions", json={"widget_token": widget_token}).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        number = client.post("/api/widget/v1/conversations", json={"content": "hello"}).json()["number"]
        cursor = None
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            response = client.post(f"/api/widget/v1/conversations/{number}/messages", json={"content": "Where is my parcel?"},
                                   headers={"Idempotency-Key": uuid.uuid4().hex})
            recorder.add("POST message", time.perf_counter() - started, response.status_code == 201)
            started = time.perf_counter()
            response = client.get(f"/api/widget/v1/conversations/{number}/messages", params={"after": cursor} if cursor else None)
            recorder.add("poll", time.perf_counter() - started, response.status_code == 200)
            if response.status_code == 200:
                cursor = response.json()["next_cursor"] or cursor


def baseline_client(root: str, stop_at: float, recorder: Recorder):
    with httpx.Client(base_url=root, timeout=30) as client:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            response = client.post("/__baseline", content=b'{"content": "Where is my parcel?"}')
            recorder.add("baseline insert", time.perf_counter() - started, response.status_code == 201)


def run_phase(target, clients: int, seconds: float, *args) -> tuple[Recorder, float]:
    recorder = Recorder()
    stop_at = time.monotonic() + seconds
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for future in [pool.submit(target, *args, stop_at, recorder) for _ in range(clients)]:
            future.result()
    return recorder, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    env = {**os.environ, "DATABASE_URL": bench_database_url(), "REDIS_URL": os.environ.get("REDIS_URL") or embedded.redis_url(),
           "DEBUG": "false", "SECURE_SSL_REDIRECT": "false", "SECRET_KEY": "bench-only-not-secret", "ALLOWED_HOSTS": "localhost,127.0.0.1",
           "WIDGET_SESSION_RATE": "1000000/min", "WIDGET_ADDRESS_RATE": "1000000/min", "WIDGET_SESSION_CREATE_RATE": "1000000/min",
           "CACHE_KEY_PREFIX": "hearth-bench", "LOG_LEVEL": "WARNING", "DB_CONN_MAX_AGE": "60"}
    print("preparing the bench database ...", flush=True)
    widget_token = prepare(env)

    import socket

    port = args.port
    if not port:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "bench.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
         "--log-level", "warning"], cwd=REPO, env=env,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{root}/t/{SLUG}/api/widget/v1/config?widget_token={widget_token}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                print("gunicorn did not come up", file=sys.stderr)
                return 1
            time.sleep(0.2)

        print(f"{args.clients} clients x {args.seconds:.0f} s per phase, gunicorn {args.workers} workers, {os.cpu_count()} cores, "
              f"{platform.processor() or platform.machine()}, Python {platform.python_version()}\n", flush=True)
        baseline, baseline_time = run_phase(baseline_client, args.clients, args.seconds, root)
        hearth, hearth_time = run_phase(widget_client, args.clients, args.seconds, f"{root}/t/{SLUG}", widget_token)
    finally:
        server.terminate()
        server.wait(timeout=30)

    rows = []
    for recorder, elapsed in [(baseline, baseline_time), (hearth, hearth_time)]:
        for op, values in recorder.latencies.items():
            rows.append((op, len(values) / elapsed, percentile(values, 50), percentile(values, 95), percentile(values, 99), recorder.errors.get(op, 0), len(values)))
    print(f"{'operation':<18}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'errors':>9}{'requests':>10}")
    for op, rate, p50, p95, p99, errors, count in rows:
        print(f"{op:<18}{rate:>10.1f}{p50 * 1000:>10.1f}{p95 * 1000:>10.1f}{p99 * 1000:>10.1f}{errors:>9}{count:>10}")
    base = {row[0]: row for row in rows}["baseline insert"]
    print("\nratios against the baseline insert (Hearth / baseline; throughput < 1 and latency > 1 mean slower):")
    for op, rate, p50, p95, p99, _, _ in rows:
        if op != "baseline insert":
            print(f"  {op:<16} throughput x{rate / base[1]:.2f}   p50 x{p50 / base[2]:.2f}   p95 x{p95 / base[3]:.2f}   p99 x{p99 / base[4]:.2f}")
    print("\nmean latency: " + ", ".join(f"{op} {statistics.mean(v) * 1000:.1f} ms" for op, v in {**baseline.latencies, **hearth.latencies}.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
