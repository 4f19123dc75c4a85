"""What the bulk-loading benches share (bench/desk_scale.py, bench/analytics.py): a database of
their own on the same server, Django configured as in production (DEBUG off, real Redis),
and the bench tenant dropped whole before it is built again."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import psycopg

from config import embedded


def bench_database_url(database: str) -> str:
    """The URL of `database` on the project's server (created when missing)."""
    base = os.environ.get("DATABASE_URL") or embedded.postgres_location().url
    parts = urlsplit(base)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            conn.execute(f'CREATE DATABASE "{database}"')
    return urlunsplit(parts._replace(path=f"/{database}"))


def configure_django(database_url: str, *, host: str, cache_prefix: str) -> None:
    os.environ.update({
        "DATABASE_URL": database_url, "REDIS_URL": os.environ.get("REDIS_URL") or embedded.redis_url(),
        "DEBUG": "false", "SECRET_KEY": "bench-only-not-secret", "ALLOWED_HOSTS": f"{host},localhost",
        "HEARTH_ENCRYPTION_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # bench only: no real provider key stored
        "CACHE_KEY_PREFIX": cache_prefix, "LOG_LEVEL": "WARNING", "DB_CONN_MAX_AGE": "600",
    })
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")  # no collectstatic for a benchmark
    django.setup()


def tenant_conversations(slug: str) -> int | None:
    """How many conversations the bench tenant holds (None: no such schema)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [slug])
        if cursor.fetchone() is None:
            return None
        cursor.execute(f'SELECT count(*) FROM "{slug}".conversations_conversation')
        return cursor.fetchone()[0]


def bench_account_drop(slug: str) -> None:
    """The bench tenant's schema, domains, memberships and account row, when it exists."""
    from django.db import connection

    from accounts.models import Account, Membership

    existing = Account.objects.filter(schema_name=slug).first()
    if existing is None:
        return
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA "{slug}" CASCADE')
    existing.domains.all().delete()
    Membership.objects.filter(account=existing).delete()
    Account.objects.filter(pk=existing.pk).delete()
