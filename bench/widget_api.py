"""Widget API benchmark: gunicorn serving Hearth on loopback, N concurrent widget clients
posting messages, then polling for them, for a fixed time, against a baseline measured in the
same run.

    .venv/bin/python bench/widget_api.py [--clients 32] [--seconds 10] [--rounds 2]
    .venv/bin/python bench/widget_api.py --profile [--requests 300]

Three phases, each with every client doing one thing: the baseline, POST message (with an
Idempotency-Key), and poll (GET messages after the client's cursor). `--rounds` repeats the
three phases in turn and adds them up, so a neighbour's load on a shared machine falls on
every phase alike rather than on whichever ran while it was busy.

`--profile` serves nothing: it runs the same two requests through Hearth's WSGI application in
one process under cProfile and prints, per operation, CPU per request, queries per request and
the profile's top lines.

Uses its own database (`hearth_bench`) on the embedded PostgreSQL (or on DATABASE_URL's
server) and the embedded Redis, so development data is untouched. Throttles are lifted for
the run: it measures the server, not the rate limits.

Baseline: `POST /__baseline` on the same gunicorn, answered by a bare WSGI function that
inserts one row with raw SQL through Django's connection: no middleware, tenant lookup,
authentication, validation or serialisation. Ratios = Hearth / baseline.
"""

from __future__ import annotations

import argparse
import atexit
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
import redis  # noqa: E402

from config import embedded  # noqa: E402

BENCH_DB = "hearth_bench"
BENCH_QUEUE = "hearth-bench"
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


def widget_session(client: httpx.Client, widget_token: str) -> int:
    """Open a session and a conversation on `client`; return the conversation's number."""
    token = client.post("/api/widget/v1/sessions", json={"widget_token": widget_token}).json()["token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client.post("/api/widget/v1/conversations", json={"content": "hello"}).json()["number"]


def post_client(client: httpx.Client, number: int, stop_at: float, recorder: Recorder):
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        response = client.post(f"/api/widget/v1/conversations/{number}/messages", json={"content": "Where is my parcel?"},
                               headers={"Idempotency-Key": uuid.uuid4().hex})
        recorder.add("POST message", time.perf_counter() - started, response.status_code == 201)


def poll_client(client: httpx.Client, number: int, stop_at: float, recorder: Recorder):
    """The widget's poll: the newest page first, then only what came after the cursor."""
    cursor = None
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        response = client.get(f"/api/widget/v1/conversations/{number}/messages", params={"after": cursor} if cursor else None)
        recorder.add("poll", time.perf_counter() - started, response.status_code == 200)
        if response.status_code == 200:
            cursor = response.json()["next_cursor"] or cursor


def baseline_client(client: httpx.Client, _number, stop_at: float, recorder: Recorder):
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        response = client.post("/__baseline", content=b'{"content": "Where is my parcel?"}')
        recorder.add("baseline insert", time.perf_counter() - started, response.status_code == 201)


def run_phase(target, sessions: list[tuple[httpx.Client, int]], seconds: float, recorder: Recorder, cpu: "CPUMeter") -> float:
    """Every client runs `target` for `seconds`; returns the phase's wall time. `cpu` adds up
    what each part of the stack spent on the phase."""
    stop_at = time.monotonic() + seconds
    started = time.monotonic()
    before = cpu.snapshot()
    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        for future in [pool.submit(target, client, number, stop_at, recorder) for client, number in sessions]:
            future.result()
    cpu.add(before, cpu.snapshot())
    return time.monotonic() - started


class CPUMeter:
    """CPU seconds spent by each part of the stack, from /proc: the gunicorn workers, the
    PostgreSQL server (every process of it: backends, WAL writer; children reaped meanwhile
    included), Redis, and this client. Unlike req/s, a neighbour's load does not move these
    much: they are the machine's cost of one request, whoever else is using the cores."""

    PARTS = ("gunicorn", "postgres", "redis", "client")

    def __init__(self, gunicorn_pid: int):
        self.gunicorn_pid = gunicorn_pid
        self.postgres_pid = self._pidfile(embedded.DATA_DIR / "postgres" / "postmaster.pid")
        self.redis_pid = self._pidfile(embedded.DATA_DIR / "redis" / "redis.pid")
        self.spent = dict.fromkeys(self.PARTS, 0.0)

    @staticmethod
    def _pidfile(path: Path) -> int | None:
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None  # DATABASE_URL/REDIS_URL elsewhere: not measured

    @staticmethod
    def _times(pid: int | None, with_children: bool) -> float:
        """utime + stime of `pid` and its live children (+ reaped children's, if asked)."""
        if pid is None:
            return 0.0
        tick = os.sysconf("SC_CLK_TCK")
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        total = 0.0
        for index, each in enumerate([str(pid), *children]):
            try:
                fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
            if index == 0 and with_children:
                total += (int(fields[13]) + int(fields[14])) / tick
        return total

    def snapshot(self) -> dict[str, float]:
        own = os.times()
        return {
            "gunicorn": self._times(self.gunicorn_pid, True), "postgres": self._times(self.postgres_pid, True),
            "redis": self._times(self.redis_pid, False), "client": own.user + own.system,
        }

    def add(self, before: dict[str, float], after: dict[str, float]) -> None:
        for part in self.PARTS:
            self.spent[part] += after[part] - before[part]


# ----------------------------------------------------------------------------- profile


def bench_env() -> dict:
    return {**os.environ, "DATABASE_URL": bench_database_url(), "REDIS_URL": os.environ.get("REDIS_URL") or embedded.redis_url(),
            "DEBUG": "false", "SECURE_SSL_REDIRECT": "false", "SECRET_KEY": "bench-only-not-secret", "ALLOWED_HOSTS": "localhost,127.0.0.1",
            # A fixed Fernet key (32 zero bytes, base64): the bench stores no real provider key.
            "HEARTH_ENCRYPTION_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "WIDGET_SESSION_RATE": "1000000/min", "WIDGET_ADDRESS_RATE": "1000000/min", "WIDGET_SESSION_CREATE_RATE": "1000000/min",
            "CACHE_KEY_PREFIX": "hearth-bench", "LOG_LEVEL": "WARNING", "DB_CONN_MAX_AGE": "60",
            # Each POST queues its follow-up task (the publish is part of what is measured); no
            # worker runs here, so they go to a queue of the bench's own, emptied at the end.
            "CELERY_QUEUE": BENCH_QUEUE}


def profile_in_process(widget_token: str, requests: int, top: int, dump: str = "") -> None:
    """Runs in a child process with bench_env(): each request goes through Hearth's WSGI
    application (every middleware, the real connection handling), one at a time."""
    import cProfile
    import io
    import json
    import pstats

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from bench.wsgi import application  # noqa: E402  (sets Django up)
    import redis.connection  # noqa: E402
    from django.db import connection  # noqa: E402

    # What one request sends: SQL statements (through Django's connection) and Redis round trips.
    sent: dict[str, list[str]] = {"sql": [], "redis": []}

    def record_sql(execute, sql, params, many, context):
        sent["sql"].append(sql)
        return execute(sql, params, many, context)

    send_packed = redis.connection.AbstractConnection.send_packed_command

    def record_redis(self, command, check_health=True):
        # One round trip may carry several commands (a pipeline); show each one's name and key.
        raw = b"".join(bytes(part) for part in (command if isinstance(command, list) else [command]))
        commands, at = [], 0
        while raw.startswith(b"*", at):  # RESP: *<count>, then $<length> + bytes per word
            end = raw.index(b"\r\n", at)
            count, at, words = int(raw[at + 1:end]), end + 2, []
            for _ in range(count):
                end = raw.index(b"\r\n", at)
                length = int(raw[at + 1:end])
                words.append(raw[end + 2:end + 2 + length].decode(errors="replace"))
                at = end + 4 + length
            commands.append(" ".join(words[:2]))
        sent["redis"].append("; ".join(commands))
        return send_packed(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = record_redis
    connection.execute_wrappers.append(record_sql)

    def call(method: str, path: str, body: dict | None = None, headers: dict | None = None, query: str = "") -> tuple[int, dict]:
        raw = json.dumps(body).encode() if body is not None else b""
        environ = {
            "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": f"/t/{SLUG}{path}", "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(raw), "wsgi.errors": sys.stderr,
            "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
            "CONTENT_LENGTH": str(len(raw)), "CONTENT_TYPE": "application/json" if body is not None else "",
            **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in (headers or {}).items()},
        }
        status = []
        chunks = application(environ, lambda line, _headers, *_: status.append(int(line.split()[0])))
        content = b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
        return status[0], (json.loads(content) if content else {})

    code, session = call("POST", "/api/widget/v1/sessions", {"widget_token": widget_token})
    auth = {"Authorization": f"Bearer {session['token']}"}
    code, conversation = call("POST", "/api/widget/v1/conversations", {"content": "hello"}, auth)
    messages = f"/api/widget/v1/conversations/{conversation['number']}/messages"
    cursor = {"value": ""}

    def post():
        code, _ = call("POST", messages, {"content": "Where is my parcel?"}, {**auth, "Idempotency-Key": uuid.uuid4().hex})
        assert code == 201, code

    def poll():
        code, page = call("GET", messages, None, auth, f"after={cursor['value']}" if cursor["value"] else "")
        assert code == 200, code
        cursor["value"] = page["next_cursor"] or cursor["value"]

    for name, operation in [("POST message", post), ("poll", poll)]:
        for _ in range(20):  # warm: imports, URL resolver, connection, caches
            operation()
        sent["sql"].clear()
        sent["redis"].clear()
        operation()
        statements, round_trips = list(sent["sql"]), list(sent["redis"])
        server = _ServerShare(connection)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(requests):
            operation()
        cpu, wall = (time.process_time() - cpu) / requests, (time.perf_counter() - wall) / requests
        server_share = server.per_request(requests)
        profiler = cProfile.Profile(time.process_time)  # CPU time: waits on a busy machine do not count
        profiler.enable()
        for _ in range(requests):
            operation()
        profiler.disable()
        if dump:
            Path(dump).mkdir(parents=True, exist_ok=True)
            profiler.dump_stats(Path(dump) / f"{name.split()[0].lower()}.prof")
        # Python function calls per request: a measure of work that a busy machine does not move.
        calls = pstats.Stats(profiler).total_calls / requests
        print(f"\n=== {name}: {calls:,.0f} Python function calls, {len(statements)} SQL statements, {len(round_trips)} Redis "
              f"round trips per request; {cpu * 1000:.2f} ms CPU, {wall * 1000:.2f} ms wall (in this process, unprofiled):")
        print(f"    PostgreSQL per request: {server_share}")
        for statement in statements:
            print(f"    SQL   {' '.join(statement.split())[:140]}")
        for round_trip in round_trips:
            print(f"    Redis {' '.join(round_trip.split())[:140]}")
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats("tottime").print_stats(top)
        lines = out.getvalue().splitlines()
        header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
        print(f"  top {top} by own time (per {requests} requests, CPU seconds):")
        print("\n".join("  " + line for line in lines[header:] if line.strip()))
        print(f"  Hearth's own functions by share of the request (cumulative, including what they call):")
        print("\n".join("  " + line for line in _own_code_shares(pstats.Stats(profiler), top)))


class _ServerShare:
    """What PostgreSQL spends on one request, measured around the unprofiled loop: the CPU of
    this process's backend (from /proc; the embedded server runs here) and the WAL the server
    wrote (records and bytes: every heap tuple and every index entry is a record, so the
    records are the stable figure; the bench database is otherwise idle during --profile)."""

    def __init__(self, connection):
        self.connection = connection
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.pid = cursor.fetchone()[0]
        self.before = self._sample()

    def _sample(self) -> tuple[float | None, int, int]:
        with self.connection.cursor() as cursor:
            # The backend's own WAL counters reach pg_stat_wal at its next report: force it.
            cursor.execute("SELECT pg_stat_force_next_flush()")
            cursor.execute("SELECT 1")
            time.sleep(1.1)
            cursor.execute("SELECT wal_records, wal_bytes FROM pg_stat_wal")
            records, wal_bytes = cursor.fetchone()
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            cpu = None  # DATABASE_URL's server elsewhere
        return cpu, int(records), int(wal_bytes)

    def per_request(self, requests: int) -> str:
        (cpu0, records0, bytes0), (cpu1, records1, bytes1) = self.before, self._sample()
        cpu = f"backend CPU {(cpu1 - cpu0) / requests * 1000:.2f} ms, " if cpu0 is not None and cpu1 is not None else ""
        return f"{cpu}WAL {(records1 - records0) / requests:.1f} records, {(bytes1 - bytes0) / requests:,.0f} bytes"


def _own_code_shares(stats, top: int) -> list[str]:
    """The profile seen from Hearth's code: which of its functions the request's time is spent under."""
    total = max(entry[3] for entry in stats.stats.values())
    rows = []
    for (filename, line, function), (_, calls, _, cumulative, _) in stats.stats.items():
        path = Path(filename)
        if path.is_relative_to(REPO) and not path.is_relative_to(REPO / "bench") and ".venv" not in path.parts:
            rows.append((cumulative / total, f"{path.relative_to(REPO)}:{line}({function})", calls))
    return [f"  {share * 100:5.1f}%  {name}" for share, name, _ in sorted(rows, reverse=True)[:top]]


# ----------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: config/gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, default=None, help="gunicorn threads per worker (1: sync workers)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="profile POST message and poll in-process instead")
    parser.add_argument("--requests", type=int, default=300, help="requests per operation with --profile")
    parser.add_argument("--top", type=int, default=25, help="profile lines shown with --profile")
    parser.add_argument("--dump", default="", help="with --profile: also write post.prof and poll.prof (pstats) here")
    parser.add_argument("--profile-child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.profile_child:
        profile_in_process(args.profile_child, args.requests, args.top, args.dump)
        return 0

    env = bench_env()
    print("preparing the bench database ...", flush=True)
    widget_token = prepare(env)
    if args.profile:
        atexit.register(lambda: redis.Redis.from_url(env["REDIS_URL"]).delete(BENCH_QUEUE))
        return subprocess.run([sys.executable, __file__, "--profile-child", widget_token, "--requests", str(args.requests),
                               "--top", str(args.top), "--dump", args.dump], cwd=REPO, env={**env, "PYTHONWARNINGS": "ignore"}).returncode

    import socket

    port = args.port
    if not port:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    # The same server configuration as `make run`; without one, gunicorn's usual 2 x cores + 1.
    config_file = REPO / "config" / "gunicorn.conf.py"
    server_args = ["--config", str(config_file)] if config_file.exists() else []
    if args.workers or not config_file.exists():
        server_args += ["--workers", str(args.workers or (os.cpu_count() or 1) * 2 + 1)]
    if args.threads:
        # --threads 1 means sync workers (to compare with the configuration's threaded ones).
        server_args += ["--threads", str(args.threads), "--worker-class", "sync" if args.threads == 1 else "gthread"]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "bench.wsgi:application", *server_args, "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning"], cwd=REPO, env={**env, "PYTHONWARNINGS": "ignore"}, stdout=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"
    recorders = {"baseline": Recorder(), "post": Recorder(), "poll": Recorder()}
    elapsed = dict.fromkeys(recorders, 0.0)
    cpu = {phase: CPUMeter(server.pid) for phase in recorders}
    clients: list[httpx.Client] = []
    try:
        deadline = time.monotonic() + 180  # a busy machine can take a while to start the workers
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
        workers = describe_server(server.pid, server_args)
        print(f"{args.clients} clients x {args.seconds:.0f} s per phase x {args.rounds} rounds, gunicorn {workers}, "
              f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}\n", flush=True)
        # Sessions and conversations are opened before the clock starts: set-up is not measured.
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            def open_one(_):
                client = httpx.Client(base_url=f"{root}/t/{SLUG}", timeout=30)
                clients.append(client)
                return client, widget_session(client, widget_token)
            widget_sessions = list(pool.map(open_one, range(args.clients)))
        baseline_clients = [(httpx.Client(base_url=root, timeout=30), 0) for _ in range(args.clients)]
        clients += [client for client, _ in baseline_clients]
        for _ in range(args.rounds):
            elapsed["baseline"] += run_phase(baseline_client, baseline_clients, args.seconds, recorders["baseline"], cpu["baseline"])
            elapsed["post"] += run_phase(post_client, widget_sessions, args.seconds, recorders["post"], cpu["post"])
            elapsed["poll"] += run_phase(poll_client, widget_sessions, args.seconds, recorders["poll"], cpu["poll"])
    finally:
        for client in clients:
            client.close()
        server.terminate()
        server.wait(timeout=30)
        redis.Redis.from_url(env["REDIS_URL"]).delete(BENCH_QUEUE)
    load = os.getloadavg()[0]
    report(recorders, elapsed, cpu)
    print(f"load average (1 min) at the end: {load:.1f}")
    return 0


def describe_server(pid: int, server_args: list[str]) -> str:
    """What gunicorn runs: its flags (the config file may decide the rest) and its workers."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    flags = " ".join(arg.replace(str(REPO) + "/", "") for arg in server_args)
    return f"{flags} ({len(children)} worker processes)"


def report(recorders: dict[str, Recorder], elapsed: dict[str, float], cpu: dict[str, CPUMeter]) -> None:
    rows = []
    for phase, recorder in recorders.items():
        for op, values in recorder.latencies.items():
            rows.append((op, len(values) / elapsed[phase], percentile(values, 50), percentile(values, 95), percentile(values, 99),
                         recorder.errors.get(op, 0), len(values)))
    print(f"{'operation':<18}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'errors':>9}{'requests':>10}")
    for op, rate, p50, p95, p99, errors, count in rows:
        print(f"{op:<18}{rate:>10.1f}{p50 * 1000:>10.1f}{p95 * 1000:>10.1f}{p99 * 1000:>10.1f}{errors:>9}{count:>10}")
    base = {row[0]: row for row in rows}["baseline insert"]
    print("\nratios against the baseline insert (Hearth / baseline; throughput < 1 and latency > 1 mean slower;"
          " the goal: throughput >= x0.50, p95 <= x2.00):")
    for op, rate, p50, p95, p99, _, _ in rows:
        if op != "baseline insert":
            print(f"  {op:<16} throughput x{rate / base[1]:.2f}   p50 x{p50 / base[2]:.2f}   p95 x{p95 / base[3]:.2f}   p99 x{p99 / base[4]:.2f}")
    means = {op: statistics.mean(values) * 1000 for recorder in recorders.values() for op, values in recorder.latencies.items()}
    print("\nmean latency: " + ", ".join(f"{op} {mean:.1f} ms" for op, mean in means.items()))
    # Where the machine's time goes, per request: at saturation, throughput is about the cores
    # over the sum, so the totals' ratio is what the throughput ratio tends to on a quiet machine.
    print(f"\nCPU ms per request, by part of the stack (from /proc):\n{'operation':<18}" + "".join(f"{p:>10}" for p in CPUMeter.PARTS) + f"{'total':>10}{'x base':>9}")
    totals = {}
    for phase, recorder in recorders.items():
        count = sum(len(values) for values in recorder.latencies.values())
        spent = {part: cpu[phase].spent[part] * 1000 / max(count, 1) for part in CPUMeter.PARTS}
        totals[phase] = sum(spent.values())
        op = next(iter(recorder.latencies), phase)
        share = f"x{totals['baseline'] / totals[phase]:.2f}" if totals.get("baseline") else ""
        print(f"{op:<18}" + "".join(f"{spent[part]:>10.2f}" for part in CPUMeter.PARTS) + f"{totals[phase]:>10.2f}{share:>9}")


if __name__ == "__main__":
    sys.exit(main())
