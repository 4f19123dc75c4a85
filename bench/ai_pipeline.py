"""AI pipeline benchmark: widget messages through gunicorn, classified by a real Celery worker
with a trained model, measured end to end in one run.

    HEARTH_AI_THREADS=1 .venv/bin/python bench/ai_pipeline.py [--burst 200] [--rate R] [--seconds 15] [--rounds 2]

Prints:
- classifications per second through the worker: a burst of messages posted faster than the
  worker classifies them; the rate is read from the stored classifications' timestamps while
  the backlog lasts (the worker is never idle in that window).
- p50/p95 from a message's write to its stored classification, at a steady offered load
  (`--rate` messages per second, by default half the throughput just measured; open loop:
  sends keep their schedule whatever the answers).
- worker CPU milliseconds per message follow-up (classify + store + mirror + route + the
  reporting step), from /proc over the burst.
- the worker's memory (RSS of every worker process) with the models loaded.
- widget POST latency at the same steady load with the pipeline off, on, and on with the
  worker at a lower CPU priority (`nice -n 10`), in alternating rounds so a neighbour's load on
  this shared machine falls on all alike. Off is `HEARTH_AI_PIPELINE=0` on the worker, which
  then runs only the follow-up's other steps: the web process queues the same task either
  way, so any difference is the worker's CPU competing with the web on the same cores.

The tenant has 15 categories of CLINC150 (../shared/data/intents-clinc150) with 10 examples
each, a realistic small desk; the messages are CLINC150 test-split texts of those intents,
every one different (no cache can answer them). Same database, Redis and queue conventions as
bench/widget_api.py (`hearth_bench`, queue `hearth-bench`); the worker runs as `make run`
runs it (`celery worker -c 2`, prefork).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HEARTH_AI_THREADS", "1")

import httpx  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402

from bench.widget_api import BENCH_QUEUE, SLUG, bench_env, percentile, prepare  # noqa: E402

DATA = next(
    (p / "shared" / "data" / "intents-clinc150" for p in REPO.parents if (p / "shared" / "data" / "intents-clinc150").is_dir()),
    REPO.parent / "shared" / "data" / "intents-clinc150",
)
CATEGORIES = 15
EXAMPLES_PER_CATEGORY = 10


def _read(split: str) -> list[tuple[str, str]]:
    with open(DATA / f"{split}.csv", encoding="utf-8", newline="") as handle:
        return [(row["text"], row["label"]) for row in csv.DictReader(handle)]


def _intents() -> list[str]:
    return sorted({label for _, label in _read("train")})[:: 150 // CATEGORIES][:CATEGORIES]


def install_model(env: dict) -> None:
    """The bench tenant's categories and a classifier trained on them (a new version)."""
    intents = _intents()
    train = [(t, l) for t, l in _read("train") if l in intents]
    texts, labels = [], []
    for intent in intents:
        rows = [t for t, l in train if l == intent][:EXAMPLES_PER_CATEGORY]
        texts += rows
        labels += [intent] * len(rows)
    script = f"""
from django_tenants.utils import schema_context
from ai.local.classifier import IntentClassifier
from ai.models import Category, ClassifierVersion
texts, labels = {texts!r}, {labels!r}
classifier = IntentClassifier().fit(texts, labels)
with schema_context("{SLUG}"):
    for name in sorted(set(labels)):
        Category.objects.get_or_create(name=name)
    newest = ClassifierVersion.objects.order_by("-version").values_list("version", flat=True).first() or 0
    ClassifierVersion.objects.create(version=newest + 1, blob=classifier.to_bytes(), embedding_model=classifier.embedder_name,
                                     categories=sorted(set(labels)), example_count=len(texts))
"""
    subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=REPO, env=env, check=True, capture_output=True, text=True)


def messages_to_send() -> list[str]:
    intents = set(_intents())
    texts = [t for t, l in _read("test") if l in intents] + [t for t, _ in _read("test_oos")][:100]
    return texts


class Worker:
    """`celery worker` on the bench queue, as `make run` starts it."""

    def __init__(self, env: dict, *, pipeline: bool, nice: int = 0):
        self.hostname = f"bench-{uuid.uuid4().hex[:6]}@localhost"
        self.process = subprocess.Popen(
            [*(["nice", "-n", str(nice)] if nice else []), sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "WARNING", "-c", "2", "-n", self.hostname,
             "--without-gossip", "--without-mingle"],
            cwd=REPO, env={**env, "HEARTH_AI_PIPELINE": "1" if pipeline else "0", "PYTHONWARNINGS": "ignore"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def pids(self) -> list[int]:
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout.split()
        return [self.process.pid, *map(int, children)]

    def cpu_seconds(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        return total

    def rss_mb(self) -> list[float]:
        sizes = []
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        return sizes

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Desk:
    """Reads the bench tenant's tables directly (psycopg): what the worker stored, and when."""

    def __init__(self, database_url: str):
        self.conn = psycopg.connect(database_url, autocommit=True)
        self.conn.execute(f'SET search_path TO "{SLUG}", public')

    def last_message_id(self) -> int:
        return self.conn.execute("SELECT coalesce(max(id), 0) FROM conversations_message").fetchone()[0]

    def classified(self, after_id: int) -> list[tuple[float, float]]:
        """(message written, classification stored) as epoch seconds, for messages after `after_id`."""
        rows = self.conn.execute(
            "SELECT extract(epoch FROM m.created_at), extract(epoch FROM c.created_at) FROM ai_classification c "
            "JOIN conversations_message m ON m.id = c.message_id WHERE m.id > %s ORDER BY c.created_at", [after_id],
        ).fetchall()
        return [(float(a), float(b)) for a, b in rows]

    def incoming(self, after_id: int) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM conversations_message WHERE id > %s AND direction = 'incoming'", [after_id]
        ).fetchone()[0]

    def followed_up(self, after_id: int) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM conversations_message WHERE id > %s AND direction = 'incoming' AND followup_done_at IS NOT NULL",
            [after_id],
        ).fetchone()[0]


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def open_sessions(root: str, widget_token: str, count: int) -> list[tuple[httpx.Client, int]]:
    def open_one(_):
        client = httpx.Client(base_url=f"{root}/t/{SLUG}", timeout=30)
        token = client.post("/api/widget/v1/sessions", json={"widget_token": widget_token}).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        number = client.post("/api/widget/v1/conversations", json={"content": "hello"}).json()["number"]
        return client, number

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(open_one, range(count)))


class Texts:
    def __init__(self, texts: list[str]):
        self.texts, self.index, self.lock = texts, 0, threading.Lock()

    def next(self) -> str:
        with self.lock:
            text = self.texts[self.index % len(self.texts)]
            self.index += 1
        # Never twice the same words: nothing may answer from a cache.
        return text if self.index <= len(self.texts) else f"{text} ({self.index})"


def post(client: httpx.Client, number: int, text: str) -> tuple[float, bool]:
    started = time.perf_counter()
    response = client.post(f"/api/widget/v1/conversations/{number}/messages", json={"content": text},
                           headers={"Idempotency-Key": uuid.uuid4().hex})
    return time.perf_counter() - started, response.status_code == 201


def burst(sessions, texts: Texts, count: int) -> list[float]:
    """`count` messages as fast as the clients can send them."""
    latencies = []

    def run(session, share):
        client, number = session
        for _ in range(share):
            latencies.append(post(client, number, texts.next())[0])

    share = count // len(sessions)
    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        list(pool.map(lambda s: run(s, share), sessions))
    return latencies


def steady(sessions, texts: Texts, rate: float, seconds: float) -> tuple[list[float], int]:
    """Open loop: each client sends on its own schedule (rate / clients per second)."""
    latencies, errors = [], []
    interval = len(sessions) / rate
    start = time.monotonic() + 0.1

    def run(index, session):
        client, number = session
        due = start + index * interval / len(sessions)
        while due < start + seconds:
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            latency, ok = post(client, number, texts.next())
            latencies.append(latency)
            if not ok:
                errors.append(1)
            due += interval

    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        list(pool.map(lambda pair: run(*pair), enumerate(sessions)))
    return latencies, len(errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=200, help="messages in the throughput burst")
    parser.add_argument("--rate", type=float, default=0.0, help="steady offered load, msg/s (default: half the throughput)")
    parser.add_argument("--seconds", type=float, default=15.0, help="per steady phase")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the off / on / on-niced steady phases")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"CLINC150 not found at {DATA}", file=sys.stderr)
        return 2

    env = {**bench_env(), "DB_CONN_MAX_AGE": "60"}
    print("preparing the bench database and training the bench tenant's classifier ...", flush=True)
    widget_token = prepare(env)
    install_model(env)
    desk = Desk(env["DATABASE_URL"])
    texts = Texts(messages_to_send())
    redis.Redis.from_url(env["REDIS_URL"]).delete(BENCH_QUEUE)

    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "bench.wsgi:application", "--config", str(REPO / "config" / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=REPO, env={**env, "PYTHONWARNINGS": "ignore"}, stdout=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"
    worker = None
    modes = {"off": (False, 0), "on": (True, 0), "on, worker niced": (True, 10)}
    results: dict = {"post": {mode: [] for mode in modes}, "lag": [], "errors": 0}
    try:
        wait(lambda: _answers(f"{root}/t/{SLUG}/api/widget/v1/config?widget_token={widget_token}"), 180, "gunicorn")
        sessions = open_sessions(root, widget_token, args.clients)
        print(f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}; "
              f"gunicorn per config/gunicorn.conf.py; celery worker -c 2 (prefork); {CATEGORIES} categories x "
              f"{EXAMPLES_PER_CATEGORY} examples\n", flush=True)

        # Warm up: the worker loads the embedder and the tenant's model on its first messages.
        worker = Worker(env, pipeline=True)
        mark = desk.last_message_id()
        burst(sessions, texts, args.clients * 2)
        wait(lambda: desk.followed_up(mark) >= args.clients * 2, 180, "the worker's warm-up")
        rss = worker.rss_mb()

        # Throughput: a backlog the worker cannot keep up with.
        mark = desk.last_message_id()
        cpu_before = worker.cpu_seconds()
        started = time.monotonic()
        burst(sessions, texts, args.burst)
        post_seconds = time.monotonic() - started
        sent = desk.incoming(mark)
        wait(lambda: desk.followed_up(mark) >= sent, 600, "the burst's classifications")
        cpu_ms = (worker.cpu_seconds() - cpu_before) / sent * 1000
        stored = [classified for _, classified in desk.classified(mark)]
        # The first and last tenth are ramp-up and tail; the middle is the backlog.
        middle = stored[len(stored) // 10 : len(stored) - len(stored) // 10]
        throughput = (len(middle) - 1) / (middle[-1] - middle[0])
        rss = max(rss, worker.rss_mb(), key=sum)

        # Steady load: pipeline off, on, and on with a niced worker, in alternating rounds.
        rate = args.rate or max(1.0, round(throughput / 2, 1))
        for _ in range(args.rounds):
            for mode, (pipeline, nice) in modes.items():
                worker.stop()
                worker = Worker(env, pipeline=pipeline, nice=nice)
                warm = desk.last_message_id()
                burst(sessions, texts, args.clients)
                wait(lambda: desk.followed_up(warm) >= args.clients, 180, "the worker's warm-up")
                mark = desk.last_message_id()
                latencies, errors = steady(sessions, texts, rate, args.seconds)
                results["post"][mode] += latencies
                results["errors"] += errors
                sent = desk.incoming(mark)
                wait(lambda: desk.followed_up(mark) >= sent, 300, "the steady phase's follow-ups")
                if mode == "on":
                    results["lag"] += [stored - written for written, stored in desk.classified(mark)]
    finally:
        if worker is not None:
            worker.stop()
        server.terminate()
        server.wait(timeout=30)
        redis.Redis.from_url(env["REDIS_URL"]).delete(BENCH_QUEUE)

    lag = results["lag"]
    load = os.getloadavg()
    print(f"load average during the run (other processes on this machine): {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"classifications per second (worker busy, a burst of {args.burst} messages): {throughput:.1f}"
          f"   (the burst was posted in {post_seconds:.1f} s)")
    print(f"worker CPU per message follow-up (classify, store, mirror, route, reporting): {cpu_ms:.1f} ms"
          f"   (= {2000 / cpu_ms:.0f} per second on 2 free cores)")
    print(f"worker memory with the models loaded: {' + '.join(f'{mb:.0f}' for mb in rss)} MB RSS "
          f"(parent + 2 prefork children; shared pages counted in each)")
    print(f"message written -> classification stored at {rate:g} msg/s offered: p50 {percentile(lag, 50) * 1000:.0f} ms, "
          f"p95 {percentile(lag, 95) * 1000:.0f} ms, max {max(lag) * 1000:.0f} ms (n={len(lag)})")
    off = results["post"]["off"]
    print(f"widget POST message at {rate:g} msg/s (errors {results['errors']}):")
    for mode, latencies in results["post"].items():
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        versus = "" if mode == "off" else f"   vs off: p50 x{p50 / percentile(off, 50):.2f}, p95 x{p95 / percentile(off, 95):.2f}"
        print(f"  pipeline {mode:<18} p50 {p50 * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms   (n={len(latencies)}){versus}")
    return 0


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    sys.exit(main())
