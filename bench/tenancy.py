"""Tenants at scale: sign-up time as the tenant count grows, and migrating all of them.

    .venv/bin/python bench/tenancy.py [--tenants 1000] [--processes 4] [--requests 200]
    .venv/bin/python bench/tenancy.py --migrations-only [--tenants 1000] [--sample 20]

1,000 tenants is the issue's figure and the default (the better part of an hour on a busy
2-core machine); `--tenants 100` is a quick run. Works in a database of its own, `hearth_tenancy_bench`, on the embedded PostgreSQL
(or on DATABASE_URL's server), made fresh for the run and dropped at the end.

`--create-only` stops after part 1 (and the one schema migrated for comparison).

1. Creates tenants 1..N with `account_create` (what `manage.py create_account` and sign-up
   call: validation, the schema cloned from the tenant template, domain, owner with a hashed
   password, all in one transaction), timing each; prints median and p95 per slice of the
   count (buckets of 100), so a creation time that grows with the number of tenants shows, and
   what each create spends cloning the schema and hashing the owner's password. For
   comparison, one schema made the old way (every migration replayed). Before the first
   tenant and after the last, the clone is profiled: each of its statements timed on its own
   (rolled back), summed per kind, and what the public user table costs (its triggers, a
   fresh connection's first query on it, one more foreign key to it).
2. Serves every tenant from one gunicorn worker (one thread, as in production's config but
   alone): one widget-config request per tenant (host name -> tenant, its inbox read from its
   schema), then prints the worker's resident memory before and after; then request latency
   of tenant #1 against tenant #N (interleaved, `--requests` each, p50/p95).
3. Writes a trivial migration (a table comment) into conversations/migrations/, migrates
   `--sample` tenants with django-tenants' `migrate_schemas --schema` as the per-tenant
   baseline, then all N tenants with `migrate_tenants --processes 1`; then a second one with
   `--processes P`, and `migrate_tenants` once more with nothing to apply. The files are
   removed at the end whatever happens. `--migrations-only` skips 1 and 2, making the
   tenants by bare template clones instead (minutes at 1,000 instead of most of an hour).
4. Drops the bench tenants (schemas and rows), then the database.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from config import embedded  # noqa: E402

BENCH_DB = "hearth_tenancy_bench"
MIGRATIONS_DIR = REPO / "conversations" / "migrations"
TRIVIAL = "0999_bench_tenancy_{}"


def _admin_url() -> tuple[str, str]:
    base = os.environ.get("DATABASE_URL") or embedded.postgres_location().url
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/postgres")), urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def database_fresh() -> str:
    admin, bench = _admin_url()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return bench


def database_drop() -> None:
    admin, _ = _admin_url()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


def configure_django(database_url: str, processes: int) -> None:
    os.environ.update({
        "DATABASE_URL": database_url, "REDIS_URL": os.environ.get("REDIS_URL") or embedded.redis_url(),
        "DEBUG": "false", "SECRET_KEY": "bench-only-not-secret", "ALLOWED_HOSTS": "localhost,.localhost",
        "HEARTH_ENCRYPTION_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # bench only: no real provider key stored
        "CACHE_KEY_PREFIX": "hearth-tenancy-bench", "LOG_LEVEL": "WARNING", "TENANT_MIGRATION_PROCESSES": str(processes),
    })
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


class Stopwatch:
    """Seconds spent inside one function, summed, while the create runs (bench only: the
    function is wrapped in place)."""

    def __init__(self, owner, name: str):
        self.seconds = 0.0
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        setattr(owner, name, timed)

    def lap(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


def create_tenants(count: int, bucket: int = 100) -> list[str]:
    from django.contrib.auth import base_user

    from accounts import tenant_template
    from accounts.services import account_create
    from conversations.models import Inbox
    from django_tenants.utils import schema_context

    clone, hashing = Stopwatch(tenant_template, "schema_clone"), Stopwatch(base_user, "make_password")
    slugs, seconds, clone_seconds, hash_seconds = [], [], [], []
    print(f"creating {count} tenants (account_create: schema cloned from the template, domain, owner)", flush=True)
    for number in range(1, count + 1):
        slug = f"bench{number:04d}"
        started = time.perf_counter()
        account_create(name=f"Bench {number}", slug=slug, owner_email=f"owner@{slug}.example", owner_password="bench-password-1")
        seconds.append(time.perf_counter() - started)
        clone_seconds.append(clone.lap())
        hash_seconds.append(hashing.lap())
        slugs.append(slug)
        with schema_context(slug):  # what the request part serves (not timed)
            Inbox.objects.create(name=f"Bench {number}", widget_token=f"bench-widget-{slug}")
        if number % bucket == 0 or number == count:
            first = (number - 1) // bucket * bucket  # where this bucket of the count began
            part = seconds[first:]
            print(f"  tenants {first + 1:>4}-{number:<4}  median {statistics.median(part):.3f} s  "
                  f"p95 {p95(part):.3f} s  max {max(part):.3f} s  (of the median: clone {statistics.median(clone_seconds[first:]):.3f} s, "
                  f"password {statistics.median(hash_seconds[first:]):.3f} s)  load {os.getloadavg()[0]:.1f}", flush=True)
    for name, seconds_of in password_hash_seconds().items():
        print(f"  hashing one password with {name}: {seconds_of:.3f} s", flush=True)
    print(f"  all {count}: median {statistics.median(seconds):.3f} s, p95 {p95(seconds):.3f} s, max {max(seconds):.3f} s "
          f"(goal < 1 s each); clone median {statistics.median(clone_seconds):.3f} s", flush=True)
    return slugs


def _clone_statement_kind(statement: str) -> str:
    if " FOREIGN KEY " in statement:
        return "foreign key to the public schema" if "REFERENCES public." in statement else "foreign key within the schema"
    for prefix, kind in [("CREATE SCHEMA", "create schema"), ("CREATE SEQUENCE", "create sequence"), ("CREATE TABLE", "create table (LIKE)"),
                         ("COMMENT", "comment"), ("ALTER SEQUENCE", "alter sequence"), ("ALTER TABLE", "primary/unique key"),
                         ("CREATE", "create index"), ("INSERT", "copy migration rows"), ("SELECT setval", "sequence state")]:
        if statement.startswith(prefix):
            return kind
    return "other"


def clone_profile(rounds: int = 3) -> dict[str, tuple[int, float]]:
    """Each statement of the clone script timed on its own (median of `rounds` clones, each
    rolled back), summed per kind of statement: {kind: (statements, seconds)}. Run at the
    start and at N tenants, it shows which part of the clone grows with the catalog."""
    from django.db import connection, transaction

    from accounts import tenant_template

    script = tenant_template._clone_script(tenant_template._template_oid()).sql
    statements = [part.strip().rstrip(";") for part in script.replace(tenant_template._NEW, '"bench_clone_profile"').split(";\n")]
    timings: list[list[float]] = [[] for _ in statements]
    connection.set_schema_to_public()
    for _ in range(rounds):
        with transaction.atomic(), connection.cursor() as cursor:
            for index, statement in enumerate(statements):
                started = time.perf_counter()
                cursor.execute(statement)
                timings[index].append(time.perf_counter() - started)
            transaction.set_rollback(True)
    kinds: dict[str, tuple[int, float]] = {}
    for statement, times in zip(statements, timings):
        count, seconds = kinds.get(_clone_statement_kind(statement), (0, 0.0))
        kinds[_clone_statement_kind(statement)] = (count + 1, seconds + statistics.median(times))
    return kinds


def user_table_costs() -> dict[str, float | int]:
    """What the public user table costs as tenant schemas reference it: its triggers (two per
    foreign key to it), a fresh connection's first query on it (PostgreSQL builds the table's
    cache entry, triggers included), and one more foreign key to it (rolled back)."""
    import psycopg
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.accounts_user'::regclass")
        triggers = cursor.fetchone()[0]
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as fresh:
        started = time.perf_counter()
        fresh.execute("SELECT 1 FROM public.accounts_user LIMIT 1").fetchall()
        first_query = time.perf_counter() - started
    connection.set_schema_to_public()
    times = []
    for _ in range(3):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CREATE TABLE public.bench_user_key (user_id bigint)")
            started = time.perf_counter()
            cursor.execute("ALTER TABLE public.bench_user_key ADD FOREIGN KEY (user_id) REFERENCES public.accounts_user (id) DEFERRABLE INITIALLY DEFERRED")
            times.append(time.perf_counter() - started)
            transaction.set_rollback(True)
    return {"triggers": triggers, "first query of a fresh connection": first_query, "one more foreign key": statistics.median(times)}


def whole_clone_seconds(rounds: int = 3) -> float:
    """The clone as sign-up runs it (one script, one round trip), rolled back; median of `rounds`."""
    from django.db import connection, transaction

    from accounts import tenant_template

    script = tenant_template._clone_script(tenant_template._template_oid()).sql.replace(tenant_template._NEW, '"bench_clone_profile"')
    connection.set_schema_to_public()
    times = []
    for _ in range(rounds):
        with transaction.atomic(), connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(script)
            times.append(time.perf_counter() - started)
            transaction.set_rollback(True)
    return statistics.median(times)


def catalog_size() -> str:
    """How big PostgreSQL's own catalog has grown (every tenant's tables, columns, indexes),
    against the memory it caches pages in."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_attribute), "
            "(SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'r'), "
            "current_setting('shared_buffers')"
        )
        relations, attributes, size, shared_buffers = cursor.fetchone()
    return f"catalog: {relations:,} relations, {attributes:,} columns, {size / 2**20:,.0f} MiB (shared_buffers {shared_buffers})"


def print_clone_profile(label: str) -> dict[str, tuple[int, float]]:
    print(f"  {label}: {catalog_size()}; the whole clone script, rolled back: {whole_clone_seconds() * 1000:.0f} ms (median of 3)", flush=True)
    costs = user_table_costs()
    print(f"  {label}: accounts_user has {costs['triggers']:,} triggers; a fresh connection's first query on it "
          f"{costs['first query of a fresh connection'] * 1000:.1f} ms; one more foreign key to it {costs['one more foreign key'] * 1000:.1f} ms", flush=True)
    kinds = clone_profile()
    total = sum(seconds for _, seconds in kinds.values())
    print(f"  {label}: the clone's statements one by one, {total:.3f} s in all (median of 3, rolled back):", flush=True)
    for kind, (count, seconds) in sorted(kinds.items(), key=lambda item: -item[1][1]):
        print(f"    {kind:<32} {count:>4} statements  {seconds * 1000:8.1f} ms", flush=True)
    return kinds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _worker_pid(master: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.2)
    raise RuntimeError("gunicorn started no worker")


def serve_all_tenants(slugs: list[str], requests: int) -> None:
    """One gunicorn worker with one thread: a request for every tenant, its memory before
    and after, then tenant #1's latency against tenant #N's."""
    port = _free_port()
    env = {**os.environ, "SECURE_SSL_REDIRECT": "false", "WIDGET_ADDRESS_RATE": "1000000/min", "PYTHONWARNINGS": "ignore"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--config", str(REPO / "config" / "gunicorn.conf.py"),
         "--workers", "1", "--threads", "1", "--worker-class", "sync", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"

    def get(client: httpx.Client, slug: str) -> float:
        started = time.perf_counter()
        response = client.get(f"{root}/api/widget/v1/config", params={"widget_token": f"bench-widget-{slug}"},
                              headers={"Host": f"{slug}.localhost"})
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or response.json().get("inbox") != f"Bench {int(slug[5:])}":
            raise RuntimeError(f"{slug}: {response.status_code} {response.text[:200]}")
        return elapsed

    try:
        with httpx.Client(timeout=30) as client:
            deadline = time.monotonic() + 180
            while True:
                try:
                    get(client, slugs[0])
                    break
                except (httpx.HTTPError, RuntimeError):
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("gunicorn did not come up") from None
                    time.sleep(0.3)
            worker = _worker_pid(server.pid)
            for _ in range(20):
                get(client, slugs[0])
            before = _rss_mib(worker)
            started = time.perf_counter()
            for slug in slugs:
                get(client, slug)
            first_pass = time.perf_counter() - started
            after = _rss_mib(worker)
            for slug in slugs:
                get(client, slug)
            again = _rss_mib(worker)
            print(f"one web worker (1 thread) serving all {len(slugs)} tenants: RSS {before:.0f} MiB after 20 requests of tenant #1, "
                  f"{after:.0f} MiB after one request for each tenant ({first_pass:.1f} s), {again:.0f} MiB after a second round "
                  f"(+{(again - before) / len(slugs) * 1024:.0f} KiB per tenant)", flush=True)
            first, last = [], []
            for _ in range(requests):
                first.append(get(client, slugs[0]))
                last.append(get(client, slugs[-1]))
            print(f"request latency (widget config, {requests} each, interleaved): tenant #1 p50 {statistics.median(first) * 1000:.1f} ms "
                  f"p95 {p95(first) * 1000:.1f} ms; tenant #{len(slugs)} p50 {statistics.median(last) * 1000:.1f} ms "
                  f"p95 {p95(last) * 1000:.1f} ms (ratio of p50s {statistics.median(last) / statistics.median(first):.2f})", flush=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def migrated_schema_once() -> float:
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute('CREATE SCHEMA "bench_replayed"')
    call_command("migrate_schemas", schema_name="bench_replayed", tenant=True, interactive=False, verbosity=0)
    elapsed = time.perf_counter() - started
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute('DROP SCHEMA "bench_replayed" CASCADE')
    return elapsed


def trivial_migration(letter: str) -> Path:
    """A new migration doing next to nothing, after the newest one of conversations."""
    from django.db.migrations.loader import MigrationLoader

    leaf = MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes("conversations")[0][1]
    path = MIGRATIONS_DIR / f"{TRIVIAL.format(letter)}.py"
    path.write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = [('conversations', {leaf!r})]\n"
        f"    operations = [migrations.RunSQL(\"COMMENT ON TABLE conversations_inbox IS 'bench {letter}'\", migrations.RunSQL.noop)]\n"
    )
    return path


def migrate_all(processes: int) -> float:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate_tenants", processes=processes, skip_template=True, verbosity=0)
    return time.perf_counter() - started


def tenants_for_migrations(count: int) -> list[str]:
    """Tenants 1..N as the migration part needs them, quickly: the template's schema cloned
    and the Account row, nothing else (`--migrations-only`; the full run uses account_create)."""
    from django.db import transaction

    from accounts import tenant_template
    from accounts.models import Account

    tenant_template.template_ready()
    started, slugs = time.perf_counter(), []
    for number in range(1, count + 1):
        slug = f"bench{number:04d}"
        with transaction.atomic():
            tenant_template.schema_clone(schema_name=slug)
            Account.objects.bulk_create([Account(schema_name=slug, name=f"Bench {number}")])
        slugs.append(slug)
    print(f"{count} tenants made by cloning the template (migration part only): {time.perf_counter() - started:.1f} s", flush=True)
    return slugs


def migrate_the_django_tenants_way(slugs: list[str]) -> float:
    """The baseline, in the same run: each schema migrated by django-tenants' `migrate_schemas
    --schema` (Django's `migrate` per tenant: migrations read, graph built, states rendered,
    a new connection) listing tables with django-tenants' introspection (every relation of
    the catalog checked for visibility). Returns seconds per tenant."""
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.postgresql_backend.introspection import DatabaseSchemaIntrospection

    hearths = connection.introspection
    connection.introspection = DatabaseSchemaIntrospection(connection)  # bench only: the old catalog listing
    try:
        started = time.perf_counter()
        for slug in slugs:
            call_command("migrate_schemas", schema_name=slug, tenant=True, interactive=False, executor="standard", verbosity=0)
        return (time.perf_counter() - started) / len(slugs)
    finally:
        connection.introspection = hearths
        connection.set_schema_to_public()


def migration_forget(slugs: list[str], name: str) -> None:
    """Remove the record of migration `name` from these schemas (bench only: a trivial
    migration re-applied does no harm), so the timed run migrates them again."""
    from django.db import connection

    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        for slug in slugs:
            cursor.execute(f'DELETE FROM "{slug}".django_migrations WHERE app = %s AND name = %s', ["conversations", name])


def _code_changed() -> None:
    """This process wrote a migration: migrate_tenants reads the code's migrations once per
    process, so it must read them again."""
    import importlib

    from accounts import tenant_migrations

    importlib.invalidate_caches()
    tenant_migrations._code_migrations.cache_clear()


def migrate_part(slugs: list[str], *, processes: int, sample: int, written: list[Path]) -> None:
    """A new trivial migration over all tenants: per tenant the django-tenants way (a sample,
    as the baseline) against `migrate_tenants` one at a time; then another over all tenants
    in parallel; then `migrate_tenants` once more, with nothing to apply."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class")
        relations = cursor.fetchone()[0]
    print(f"migrating all {len(slugs)} tenants with a new trivial migration ({relations} relations in the catalog), "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    written.append(trivial_migration("a"))
    _code_changed()
    sampled = slugs[:: max(1, len(slugs) // sample)][:sample]
    baseline = migrate_the_django_tenants_way(sampled)
    migration_forget(sampled, TRIVIAL.format("a"))
    print(f"  django-tenants' migrate_schemas, one tenant after another ({len(sampled)} of them): {baseline:.3f} s per tenant "
          f"(all {len(slugs)} would take {baseline * len(slugs):.0f} s)", flush=True)
    serial = migrate_all(1)
    print(f"  migrate_tenants one at a time (--processes 1): {serial:.1f} s ({serial / len(slugs):.3f} s per tenant, "
          f"{baseline * len(slugs) / serial:.1f}x faster than the baseline)", flush=True)
    written.append(trivial_migration("b"))
    _code_changed()
    parallel = migrate_all(processes)
    print(f"  migrate_tenants in parallel (--processes {processes}): {parallel:.1f} s ({serial / parallel:.1f}x faster than one at a time)",
          flush=True)
    nothing = migrate_all(processes)
    print(f"  migrate_tenants again, nothing to apply: {nothing:.1f} s", flush=True)


def drop_tenants(slugs: list[str]) -> float:
    """Every schema first, one per transaction, then the platform rows (plain SQL: the ORM's
    cascade would look for the users' rows in tenant tables from the public schema).

    The order matters at this scale: each tenant schema has foreign keys to the public user
    table, so deleting a user while the schemas exist makes PostgreSQL check (and lock) the
    referencing tables of every schema left; with 200 schemas that overflowed its lock table
    ("out of shared memory", max_locks_per_transaction)."""
    from django.db import connection, transaction

    started = time.perf_counter()
    connection.set_schema_to_public()
    for slug in slugs:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{slug}" CASCADE')
    with transaction.atomic(), connection.cursor() as cursor:
        accounts = "SELECT id FROM accounts_account WHERE schema_name = ANY(%s)"
        for table, column in [("accounts_membership", "account_id"), ("accounts_invitation", "account_id"),
                              ("accounts_apitoken", "account_id"), ("accounts_domain", "tenant_id")]:
            cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({accounts})", [slugs])
        cursor.execute("DELETE FROM accounts_user WHERE email = ANY(%s)", [[f"owner@{slug}.example" for slug in slugs]])
        cursor.execute("DELETE FROM accounts_account WHERE schema_name = ANY(%s)", [slugs])
    return time.perf_counter() - started


def password_hash_seconds() -> dict[str, float]:
    """One password hashed by the configured hasher (settings.PASSWORD_HASHERS' first) and by
    Django's old default, PBKDF2, for comparison."""
    from django.contrib.auth.hashers import get_hasher, make_password

    result = {}
    for algorithm in dict.fromkeys([get_hasher().algorithm, "pbkdf2_sha256"]):
        times = []
        for _ in range(3):
            started = time.perf_counter()
            make_password("bench-password-1", hasher=algorithm)
            times.append(time.perf_counter() - started)
        result[algorithm + (" (configured)" if algorithm == get_hasher().algorithm else "")] = statistics.median(times)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000, help="how many tenants to create, serve and migrate (the issue's figure)")
    parser.add_argument("--processes", type=int, default=4, help="tenants migrated at once in the parallel run")
    parser.add_argument("--requests", type=int, default=200, help="requests to tenant #1 and to tenant #N for their latency")
    parser.add_argument("--sample", type=int, default=20, help="tenants migrated the django-tenants way, for the per-tenant baseline")
    parser.add_argument("--migrations-only", action="store_true",
                        help="only the migration part, over tenants made by bare schema clones (no owner, domain or requests)")
    parser.add_argument("--create-only", action="store_true", help="only part 1 (creating the tenants, with the clone profiled at 0 and N)")
    options = parser.parse_args()

    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    configure_django(database_fresh(), options.processes)
    from django.core.management import call_command
    from django.db import connection, connections

    from accounts import tenant_template

    written: list[Path] = []
    slugs: list[str] = []
    try:
        started = time.perf_counter()
        call_command("migrate_tenants", verbosity=0)  # public, then the template (no tenants yet)
        print(f"public schema and tenant template: {time.perf_counter() - started:.1f} s", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            print(cursor.fetchone()[0].split(" on ")[0], flush=True)

        if options.migrations_only:
            slugs = tenants_for_migrations(options.tenants)
        else:
            print_clone_profile("at 0 tenants")
            slugs = create_tenants(options.tenants)
            print_clone_profile(f"at {len(slugs)} tenants")
            print(f"one schema by replaying every migration instead: {migrated_schema_once():.2f} s", flush=True)
            if options.create_only:
                return 0
            connections.close_all()
            serve_all_tenants(slugs, options.requests)
            print(f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)

        migrate_part(slugs, processes=options.processes, sample=options.sample, written=written)
        if not options.migrations_only:
            tenant_template._code_migrations.cache_clear()  # this process's code gained two migrations
            started = time.perf_counter()
            tenant_template.template_refresh()
            print(f"  tenant template rebuilt for them: {time.perf_counter() - started:.1f} s", flush=True)
        print(f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    finally:
        for path in written:
            path.unlink(missing_ok=True)
        try:
            # With --migrations-only or --create-only the database goes whole, at once.
            if slugs and not options.migrations_only and not options.create_only:
                print(f"dropped the {len(slugs)} bench tenants in {drop_tenants(slugs):.1f} s", flush=True)
        finally:
            connections.close_all()
            database_drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
