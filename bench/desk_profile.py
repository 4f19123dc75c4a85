"""Where one desk page spends its Python: cProfile over N requests of it, at the big tenant's size.

    .venv/bin/python bench/desk_profile.py PAGE [--role agent|manager] [--requests 20] [--top 30] [--dump FILE]
    .venv/bin/python bench/desk_profile.py --list

PAGE is a page name of bench/desk_scale.py (e.g. "queue (default)", "search #number",
"conversation, 500 msgs", "contact page") or a unique part of one ("default", "#number",
"500"). Uses the tenant bench/desk_scale.py built (run that once first); signs in through the
login form as it does, requests the page once to warm up, then N times under cProfile.

Prints Python function calls per request (the load-independent figure to steer by), this
process's CPU ms per request, statements per request, and the top lines by cumulative and by
own time. `--dump FILE` writes the pstats file for snakeviz/pstats.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import desk_scale  # noqa: E402
from bench.bulk_tenant import bench_database_url, configure_django  # noqa: E402


def page_url(name: str, ids: dict) -> tuple[str, str]:
    pages = desk_scale.pages(ids)
    exact = [page for page in pages if page[0] == name]
    matches = exact or [page for page in pages if name in page[0]]
    if len(matches) != 1:
        raise SystemExit(f"page {name!r} matches {len(matches)} pages; one of: " + ", ".join(repr(p[0]) for p in pages))
    return matches[0]


def signed_in_client(role: str):
    from django.test import Client

    email = f"{'agent01' if role == 'agent' else 'manager'}@{desk_scale.SLUG}.example"
    client = Client(HTTP_HOST=desk_scale.HOST)
    if client.post("/admin/login/", {"username": email, "password": desk_scale.PASSWORD}, secure=True).status_code != 302:
        raise SystemExit(f"could not sign in as {email}")
    return client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", nargs="?", default="queue (default)")
    parser.add_argument("--role", choices=["agent", "manager"], default="agent")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--dump")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()

    configure_django(bench_database_url(desk_scale.BENCH_DB), host=desk_scale.HOST, cache_prefix="hearth-deskscale")
    if not desk_scale.tenant_ready():
        raise SystemExit("no bench tenant: run bench/desk_scale.py once to build it")
    from django.conf import settings
    from django.db import connection
    from django.test import override_settings
    from django.test.utils import CaptureQueriesContext

    ids = desk_scale.sample_ids()
    if args.list:
        print("\n".join(name for name, _ in desk_scale.pages(ids)))
        return 0
    name, url = page_url(args.page, ids)
    # As bench/desk_scale.py: DEBUG off, plain static URLs (no collectstatic for a benchmark).
    with override_settings(STORAGES={**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}):
        client = signed_in_client(args.role)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, secure=True)
        if response.status_code != 200:
            raise SystemExit(f"{name}: HTTP {response.status_code} for {url}")
        statements = sum(1 for q in queries.captured_queries if not q["sql"].startswith("SET search_path"))
        for _ in range(3):  # warm: the first requests fill per-process caches
            client.get(url, secure=True)

        cpu = []
        profiler = cProfile.Profile()
        for _ in range(args.requests):
            started = time.process_time()
            profiler.enable()
            client.get(url, secure=True)
            profiler.disable()
            cpu.append((time.process_time() - started) * 1000)

    stats = pstats.Stats(profiler)
    calls = stats.total_calls / args.requests
    print(f"{args.role} {name} ({url}): {args.requests} requests under cProfile, {len(response.content):,} bytes per page")
    print(f"  python calls per request: {calls:,.0f}   statements per request: {statements}   "
          f"cpu ms per request under the profiler: median {statistics.median(cpu):.1f}")
    if args.dump:
        stats.dump_stats(args.dump)
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
        text = out.getvalue()
        print(f"\n--- top {args.top} by {order} (of {args.requests} requests) ---")
        print(text[text.index("   ncalls"):].rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
