"""The platform admin's account list at 1,000 tenants: is a page as fast as at 100?

    .venv/bin/python bench/platform_admin.py [--tenants 1000] [--keep]

Works in a database of its own, `hearth_platform_bench`, on the embedded PostgreSQL (or on
DATABASE_URL's server). Tenants are real schemas cloned from the tenant template (about half
a second each: 1,000 take 8-15 minutes on a busy machine); `--keep` leaves the database for
the next run, which then only adds missing tenants.

Every tenant gets the same rows (copied from the first one, which is seeded through the
services): an inbox, 30 contacts and conversations (20 this month, 10 two months ago), 40 AI
calls with costs, three background-job records. Then, as a platform operator through
Django's test client (DEBUG off, real Redis), the changelist `/admin/accounts/account/`
(100 accounts a page, the columns read from each tenant's schema in one query per page):
- with the first 100 tenants created: page 1 (the baseline);
- with all N: page 1 and the last page;
median and max of 7 requests after a warm-up, and the number of SQL queries of a request.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bulk_tenant import bench_database_url, configure_django  # noqa: E402

BENCH_DB = "hearth_platform_bench"
PAGE = "/admin/accounts/account/"
COPIED_TABLES = ["conversations_inbox", "conversations_contact", "conversations_conversation", "ai_aicall", "analytics_jobstatus"]


def slug_of(number: int) -> str:
    return f"plat{number:04d}"


def seed_first(slug: str) -> None:
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone
    from django_tenants.utils import schema_context

    from ai.models import AICall
    from analytics.models import JobStatus
    from conversations import services
    from conversations.models import Contact, Conversation, Inbox

    now = timezone.now()
    with schema_context(slug):
        if Conversation.objects.exists():
            return
        inbox = Inbox.objects.create(name="Web")
        opened = [
            services.conversation_open(inbox=inbox, contact=Contact.objects.create(name=f"C{n}", email=f"c{n}@example.com"), content="Hello")
            for n in range(30)
        ]
        Conversation.objects.filter(pk__in=[c.pk for c in opened[20:]]).update(created_at=now - timedelta(days=62))
        AICall.objects.bulk_create(
            AICall(operation="classify", provider="openai", model="gpt-fake", cost=Decimal("0.0125"),
                   created_at=now - timedelta(days=62 if n % 4 == 0 else 0))
            for n in range(40)
        )
        for job in ("heartbeat", "analytics_rollup", "mark_sla_breaches"):
            JobStatus.objects.create(job=job, last_started_at=now, last_finished_at=now, run_count=1)


def tenants_ensure(count: int) -> None:
    """Tenants plat0001..platN (those missing), each with the first one's rows."""
    from django.db import connection, transaction

    from accounts.models import Account, Domain

    existing = set(Account.objects.filter(schema_name__startswith="plat").values_list("schema_name", flat=True))
    missing = [number for number in range(1, count + 1) if slug_of(number) not in existing]
    if not missing:
        return
    print(f"creating {len(missing)} tenants (schemas cloned from the template)", flush=True)
    started = time.perf_counter()
    for done, number in enumerate(missing, 1):
        slug = slug_of(number)
        with transaction.atomic():
            account = Account(schema_name=slug, name=f"Platform bench {number:04d}")
            account.save(verbosity=0)
            Domain.objects.create(domain=f"{slug}.localhost", tenant=account, is_primary=True)
        connection.set_schema_to_public()
        if number == 1:
            seed_first(slug)
        else:
            with transaction.atomic(), connection.cursor() as cursor:
                for table in COPIED_TABLES:
                    cursor.execute(f'INSERT INTO "{slug}"."{table}" SELECT * FROM "{slug_of(1)}"."{table}"')
        if done % 100 == 0:
            print(f"  {done}/{len(missing)} in {time.perf_counter() - started:.0f} s", flush=True)
    connection.set_schema_to_public()


def measure(client, path: str) -> tuple[float, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, secure=True)  # production settings redirect plain HTTP
    assert response.status_code == 200, response.status_code
    queries = len(captured)
    seconds = []
    for _ in range(7):
        started = time.perf_counter()
        response = client.get(path, secure=True)  # production settings redirect plain HTTP
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 200
    return statistics.median(seconds), max(seconds), queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the bench database for the next run")
    options = parser.parse_args()
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)

    configure_django(bench_database_url(BENCH_DB), host="localhost", cache_prefix="hearth-platform-bench")
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections
    from django.test import Client, override_settings

    from accounts.middleware import tenant_cache_clear
    from accounts.models import User
    from accounts.services import public_account_ensure

    # DEBUG off but no collectstatic here: plain static URLs instead of the manifest's.
    static = override_settings(STORAGES={**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}})
    static.enable()
    try:
        started = time.perf_counter()
        call_command("migrate_tenants", verbosity=0)  # public, tenants left by --keep, the template
        print(f"public schema, template (and kept tenants) migrated: {time.perf_counter() - started:.1f} s", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            print(cursor.fetchone()[0].split(" on ")[0], flush=True)
        public_account_ensure(domains=["localhost"])
        operator, _ = User.objects.get_or_create(email="operator@bench.example", defaults={"is_superuser": True})
        client = Client(HTTP_HOST="localhost")
        client.force_login(operator)

        results = []
        for count in sorted({min(100, options.tenants), options.tenants}):
            tenants_ensure(count)
            tenant_cache_clear()
            pages = [("page 1", PAGE)]
            last = (count + 1 + 99) // 100  # the platform's own row is listed too
            if last > 1:
                pages.append((f"page {last} (last)", f"{PAGE}?p={last}"))
            for label, path in pages:
                median, worst, queries = measure(client, path)
                results.append((count, label, median))
                print(f"  {count:>5} tenants, {label:<16} median {median * 1000:7.1f} ms  max {worst * 1000:7.1f} ms  "
                      f"{queries} queries", flush=True)
        if len(results) > 1:
            baseline = results[0][2]
            for count, label, median in results[1:]:
                print(f"  {count} tenants {label} vs 100 tenants page 1: {median / baseline:.2f}x", flush=True)
    finally:
        static.disable()
        connections.close_all()
        if not options.keep:
            _database_drop()
    return 0


def _database_drop() -> None:
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    from config import embedded

    parts = urlsplit(os.environ.get("DATABASE_URL") or embedded.postgres_location().url)  # the bench database's URL by now
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    print(f"dropped {BENCH_DB}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
