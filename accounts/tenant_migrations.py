"""Migrating every tenant's schema: in parallel, each tenant on its own.

django-tenants' executors stop at the first tenant that fails (the standard one) or lose the
rest of a chunk and end with one traceback (the multiprocessing one). With a thousand tenants
an operator needs the opposite: every tenant tried, each failure named in one line, the
others migrated, a summary and an exit code that says something failed.
`manage.py migrate_tenants` is the command; this module does the work.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.core.management import call_command
from django.db import connection, connections

from accounts.models import Account


@dataclass(frozen=True)
class TenantMigrated:
    schema: str
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def tenant_schemas(*, only: list[str] | None = None) -> list[str]:
    """The tenants' schemas (never public, never the template: it has no Account row), in
    the order they were created; `only` must name existing tenants. A database whose public
    schema was never migrated has none."""
    connection.set_schema_to_public()
    if Account._meta.db_table not in connection.introspection.table_names():
        schemas = []
    else:
        schemas = list(
            Account.objects.exclude(schema_name="public").order_by("pk").values_list("schema_name", flat=True)
        )
    if only:
        unknown = sorted(set(only) - set(schemas))
        if unknown:
            raise ValueError(f"no account with slug {', '.join(repr(slug) for slug in unknown)}")
        schemas = [schema for schema in schemas if schema in set(only)]
    return schemas


def tenants_migrate(
    *, schemas: list[str], processes: int, migrate_options: dict, on_result: Callable[[TenantMigrated], None] | None = None
) -> list[TenantMigrated]:
    """Migrate each schema with `migrate_schemas --schema` (app_label, migration_name, fake,
    verbosity in `migrate_options`), `processes` at a time in forked workers; a failing
    tenant is recorded and the others go on. Results arrive in completion order."""
    results = []
    for result in _results(schemas, processes, migrate_options):
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _results(schemas: list[str], processes: int, migrate_options: dict) -> Iterator[TenantMigrated]:
    processes = max(1, min(processes, len(schemas)))
    if processes == 1:
        for schema in schemas:
            yield _migrate_one((schema, migrate_options))
        return
    # Forked workers share the parent's loaded Django; none may inherit its open connection.
    connections.close_all()
    pool = multiprocessing.get_context("fork").Pool(processes=processes)
    try:
        yield from pool.imap_unordered(_migrate_one, [(schema, migrate_options) for schema in schemas], chunksize=1)
    finally:
        pool.terminate()
        pool.join()


def _migrate_one(job: tuple[str, dict]) -> TenantMigrated:
    schema, migrate_options = job
    started = time.perf_counter()
    try:
        call_command("migrate_schemas", schema_name=schema, tenant=True, interactive=False, executor="standard", **migrate_options)
        error = None
    except Exception as failure:  # any failure of one tenant is that tenant's, reported in one line
        lines = str(failure).strip().splitlines()
        error = f"{type(failure).__name__}: {lines[0] if lines else 'no message'}"
        connection.close()  # a failed migration may leave the connection in an aborted transaction
    connection.set_schema_to_public()
    return TenantMigrated(schema=schema, seconds=time.perf_counter() - started, error=error)
