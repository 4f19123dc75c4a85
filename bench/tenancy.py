"""Tenants at scale: sign-up time as the tenant count grows, and migrating all of them.

    .venv/bin/python bench/tenancy.py [--tenants 200] [--processes 4]

`--tenants 1000` is the issue's figure (about ten minutes here); 200 keeps a run to a few
minutes. Works in a database of its own, `hearth_tenancy_bench`, on the embedded PostgreSQL
(or on DATABASE_URL's server), made fresh for the run and dropped at the end.

1. Creates tenants 1..N with `account_create` (what `manage.py create_account` and sign-up
   call: validation, the schema cloned from the tenant template, domain, owner with a hashed
   password, all in one transaction), timing each; prints median and p95 per slice of the
   count, so a creation time that grows with the number of tenants shows. For comparison, one
   schema made the old way (every migration replayed).
2. Writes a trivial migration (a table comment) into conversations/migrations/ and migrates
   all N tenants with `migrate_tenants --processes 1`; then a second one with
   `--processes P`. The files are removed at the end whatever happens.
3. Drops the bench tenants (schemas and rows), then the database.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

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


def create_tenants(count: int) -> list[str]:
    from accounts.services import account_create

    slugs, seconds = [], []
    slice_size = max(1, count // 5)
    print(f"creating {count} tenants (account_create: schema cloned from the template, domain, owner)", flush=True)
    for number in range(1, count + 1):
        slug = f"bench{number:04d}"
        started = time.perf_counter()
        account_create(name=f"Bench {number}", slug=slug, owner_email=f"owner@{slug}.example", owner_password="bench-password-1")
        seconds.append(time.perf_counter() - started)
        slugs.append(slug)
        if number % slice_size == 0 or number == count:
            first = (number - 1) // slice_size * slice_size  # where this slice of the count began
            part = seconds[first:]
            print(f"  tenants {number - len(part) + 1:>4}-{number:<4}  median {statistics.median(part):.3f} s  "
                  f"p95 {p95(part):.3f} s  max {max(part):.3f} s", flush=True)
    print(f"  of each: hashing the new owner's password (Django's PBKDF2 default) {password_hash_seconds():.3f} s", flush=True)
    print(f"  all {count}: median {statistics.median(seconds):.3f} s, p95 {p95(seconds):.3f} s, max {max(seconds):.3f} s "
          f"(goal < 1 s each)", flush=True)
    return slugs


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


def password_hash_seconds() -> float:
    from django.contrib.auth.hashers import make_password

    times = []
    for _ in range(3):
        started = time.perf_counter()
        make_password("bench-password-1")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=200, help="how many tenants to create and migrate (the issue's figure: 1000)")
    parser.add_argument("--processes", type=int, default=4, help="tenants migrated at once in the parallel run")
    options = parser.parse_args()

    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
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

        slugs = create_tenants(options.tenants)
        print(f"one schema by replaying every migration instead: {migrated_schema_once():.2f} s", flush=True)

        print(f"migrating all {len(slugs)} tenants with a new trivial migration", flush=True)
        written.append(trivial_migration("a"))
        serial = migrate_all(1)
        print(f"  one at a time (--processes 1): {serial:.1f} s ({serial / len(slugs):.3f} s per tenant)", flush=True)
        written.append(trivial_migration("b"))
        parallel = migrate_all(options.processes)
        print(f"  in parallel (--processes {options.processes}): {parallel:.1f} s ({serial / parallel:.1f}x faster)", flush=True)
        tenant_template._code_migrations.cache_clear()  # this process's code gained two migrations
        started = time.perf_counter()
        tenant_template.template_refresh()
        print(f"  tenant template rebuilt for them: {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        for path in written:
            path.unlink(missing_ok=True)
        try:
            if slugs:
                print(f"dropped the {len(slugs)} bench tenants in {drop_tenants(slugs):.1f} s", flush=True)
        finally:
            connections.close_all()
            database_drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
