"""Migrating every tenant's schema: in parallel, each tenant on its own, and only the tenants
that have something to apply.

django-tenants' executors stop at the first tenant that fails (the standard one) or lose the
rest of a chunk and end with one traceback (the multiprocessing one). With a thousand tenants
an operator needs the opposite: every tenant tried, each failure named in one line, the
others migrated, a summary and an exit code that says something failed.
`manage.py migrate_tenants` is the command; this module does the work.

What one tenant costs. Running Django's `migrate` once per schema (django-tenants'
`migrate_schemas --schema`) repeats, for every tenant, work whose answer is the same for all
of them: reading the migration files and building their graph, rendering the models'
historical state (all models, twice), and a fresh database connection. So the code's
migrations are loaded here once per process (`_code_migrations`), each tenant's plan comes
from its own `django_migrations` rows, and the historical state before the plan is rendered
once per set of applied migrations and cloned for each tenant (Django's `migrate` itself
clones the state it hands to the executor). Before anything is forked, one query reads
every tenant's applied migrations, and tenants with nothing to apply are reported up to date
without being touched: no connection, no signals (`pre_migrate`/`post_migrate`, which create
content types, are sent only to tenants where a migration ran, as `migrate` would send them;
with nothing applied there is nothing for them to add). Listing a schema's tables, which
Django asks for several times per tenant, reads only that schema's catalog rows
(config/tenant_postgresql/base.py), so none of this grows with the number of tenants.
"""

from __future__ import annotations

import copy
import functools
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import AmbiguityError, MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ModelState, ProjectState
from django.apps import apps as global_apps
from django_tenants.utils import quote_schema_name

from accounts.models import Account

MigrationKey = tuple[str, str]


@dataclass(frozen=True)
class TenantMigrated:
    schema: str
    seconds: float
    applied: tuple[str, ...] = ()  # "app.migration" in the order they ran (or were unapplied)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class MigrationTargetError(ValueError):
    """The app label or migration name does not name the code's migrations."""


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


@functools.cache
def _code_migrations() -> MigrationLoader:
    """The code's migrations and their graph, read once per process (the code cannot change
    under a running process; forked workers inherit it). Its `applied_migrations` is empty:
    each tenant gets a copy with its own (`_tenant_loader`)."""
    return MigrationLoader(None, ignore_no_migrations=True)


def migration_targets(*, app_label: str | None, migration_name: str | None) -> list[tuple[str, str | None]]:
    """What `migrate [app_label [migration_name]]` migrates to, checked as `migrate` checks
    it (MigrationTargetError with its message)."""
    loader = _code_migrations()
    conflicts = loader.detect_conflicts()
    if conflicts:
        apps = "; ".join(f"{app}: {', '.join(names)}" for app, names in sorted(conflicts.items()))
        raise MigrationTargetError(f"conflicting migrations (run makemigrations --merge): {apps}")
    if app_label is None:
        return loader.graph.leaf_nodes()
    if app_label not in loader.migrated_apps:
        raise MigrationTargetError(f"app {app_label!r} does not have migrations")
    if migration_name is None:
        return [key for key in loader.graph.leaf_nodes() if key[0] == app_label]
    if migration_name == "zero":
        return [(app_label, None)]
    try:
        return [(app_label, loader.get_migration_by_prefix(app_label, migration_name).name)]
    except AmbiguityError:
        raise MigrationTargetError(f"more than one migration of {app_label!r} matches {migration_name!r}") from None
    except KeyError:
        raise MigrationTargetError(f"no migration of {app_label!r} matches {migration_name!r}") from None


class _TenantExecutor(MigrationExecutor):
    """Django's executor over a loader that was not rebuilt from the disk for this tenant."""

    def __init__(self, tenant_connection, loader: MigrationLoader):
        self.connection = tenant_connection
        self.loader = loader
        self.recorder = MigrationRecorder(tenant_connection)
        self.progress_callback = None


def _tenant_loader(tenant_connection, applied: dict) -> MigrationLoader:
    code = _code_migrations()
    if code.replacements:
        # Squashed migrations make the graph itself depend on what is applied: build it.
        return MigrationLoader(tenant_connection, ignore_no_migrations=True)
    loader = copy.copy(code)  # shares the graph and the migration objects; only reads them
    loader.connection = tenant_connection
    loader.applied_migrations = applied
    return loader


def _plan(loader: MigrationLoader, targets) -> list:
    return _TenantExecutor(None, loader).migration_plan(targets)


def recorded_migrations(*, schemas: list[str]) -> dict[str, set[MigrationKey]]:
    """Each schema's applied migrations, read with one query per 500 schemas; a schema
    without a `django_migrations` table (or without a schema) is left out."""
    connection.set_schema_to_public()
    recorded: dict[str, set[MigrationKey]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)"
            " AND to_regclass(quote_ident(nspname) || '.django_migrations') IS NOT NULL",
            [schemas],
        )
        with_table = [row[0] for row in cursor.fetchall()]
        for start in range(0, len(with_table), 500):
            chunk = with_table[start:start + 500]
            cursor.execute(
                " UNION ALL ".join(f"SELECT %s, app, name FROM {quote_schema_name(schema)}.django_migrations" for schema in chunk),
                chunk,
            )
            for schema in chunk:
                recorded[schema] = set()
            for schema, app, name in cursor.fetchall():
                recorded[schema].add((app, name))
    return recorded


def schemas_to_migrate(*, schemas: list[str], targets) -> list[str]:
    """The schemas whose plan towards `targets` is not empty (judged from their recorded
    migrations; a schema without records has everything to apply). The historical state the
    most of them start from is rendered here, before workers are forked, so that they inherit
    it instead of each rendering its own."""
    recorded = recorded_migrations(schemas=schemas)
    code = _code_migrations()
    if code.replacements:
        return list(schemas)  # plans need each schema's own graph; let every tenant decide
    pending, starts = [], Counter()
    for schema in schemas:
        if schema not in recorded or _plan(_tenant_loader(None, dict.fromkeys(recorded[schema])), targets):
            pending.append(schema)
            starts[frozenset(recorded.get(schema, ()))] += 1
    if starts:
        _state_before(_TenantExecutor(None, _tenant_loader(None, dict.fromkeys(starts.most_common(1)[0][0]))))
    return pending


# The historical state before a plan, rendered, by the set of migrations applied; tenants
# migrated together almost always share one.
_states_before: dict[frozenset, ProjectState] = {}


def _state_before(executor: MigrationExecutor) -> ProjectState:
    applied = frozenset(executor.loader.applied_migrations)
    state = _states_before.get(applied)
    if state is None:
        state = executor._create_project_state(with_applied_migrations=True)  # what `migrate` starts from
        state.apps  # noqa: B018  (render once; each tenant migrates a clone)
        _states_before.clear()  # keep one: a state renders every model
        _states_before[applied] = state
    return state


def schema_migrate(*, schema: str, targets, fake: bool = False, verbosity: int = 0) -> tuple[str, ...]:
    """Migrate one tenant's schema to `targets` as `migrate_schemas --schema` does (same
    executor, same signals when a migration ran); returns the migrations applied or
    unapplied, in order."""
    # django_migrations must exist in the tenant's schema before it is read, or the public
    # one would be found through the search path (django-tenants does the same).
    connection.set_schema(schema, include_public=False)
    recorder = MigrationRecorder(connection)
    recorder.ensure_schema()
    connection.set_schema(schema)
    loader = _tenant_loader(connection, recorder.applied_migrations())
    loader.check_consistent_history(connection)
    executor = _TenantExecutor(connection, loader)
    plan = executor.migration_plan(targets)
    if not plan:
        return ()
    state_before = _state_before(executor)
    emit_pre_migrate_signal(verbosity, False, connection.alias, apps=state_before.apps, plan=plan)
    state_after = executor.migrate(targets, plan=plan, state=state_before.clone(), fake=fake)
    # As `migrate` does before post_migrate: apps without migrations rendered from the code.
    state_after.clear_delayed_apps_cache()
    apps_after = state_after.apps
    with apps_after.bulk_update():
        model_keys = []
        for model_state in apps_after.real_models:
            model_keys.append((model_state.app_label, model_state.name_lower))
            apps_after.unregister_model(*model_keys[-1])
    apps_after.render_multiple([ModelState.from_model(global_apps.get_model(*key)) for key in model_keys])
    emit_post_migrate_signal(verbosity, False, connection.alias, apps=apps_after, plan=plan)
    return tuple(f"{migration.app_label}.{migration.name}{' (unapplied)' if backwards else ''}" for migration, backwards in plan)


def tenants_migrate(
    *, schemas: list[str], processes: int, migrate_options: dict, on_result: Callable[[TenantMigrated], None] | None = None
) -> list[TenantMigrated]:
    """Migrate each schema (app_label, migration_name, fake, verbosity in `migrate_options`),
    `processes` at a time in forked workers; a failing tenant is recorded and the others go
    on. Tenants with nothing to apply come first (up to date, `applied` empty), then the
    others in completion order. Raises MigrationTargetError before touching any schema when
    the app label or migration name is wrong."""
    targets = migration_targets(app_label=migrate_options.get("app_label"), migration_name=migrate_options.get("migration_name"))
    job = {"targets": targets, "fake": bool(migrate_options.get("fake")), "verbosity": int(migrate_options.get("verbosity", 0))}
    pending = schemas_to_migrate(schemas=schemas, targets=targets)
    results = []
    for schema in [schema for schema in schemas if schema not in set(pending)]:
        results.append(TenantMigrated(schema=schema, seconds=0.0))
        if on_result is not None:
            on_result(results[-1])
    for result in _results(pending, processes, job):
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _results(schemas: list[str], processes: int, job: dict) -> Iterator[TenantMigrated]:
    processes = max(1, min(processes, len(schemas)))
    if processes == 1:
        for schema in schemas:
            yield _migrate_one((schema, job))
        return
    # Forked workers share the parent's loaded Django and migrations; none may inherit its
    # open connection.
    connections.close_all()
    pool = multiprocessing.get_context("fork").Pool(processes=processes)
    try:
        yield from pool.imap_unordered(_migrate_one, [(schema, job) for schema in schemas], chunksize=1)
    finally:
        pool.terminate()
        pool.join()


def _migrate_one(work: tuple[str, dict]) -> TenantMigrated:
    schema, job = work
    started = time.perf_counter()
    applied: tuple[str, ...] = ()
    try:
        applied = schema_migrate(schema=schema, **job)
        error = None
    except Exception as failure:  # any failure of one tenant is that tenant's, reported in one line
        lines = str(failure).strip().splitlines()
        error = f"{type(failure).__name__}: {lines[0] if lines else 'no message'}"
        connection.close()  # a failed migration may leave the connection in an aborted transaction
    connection.set_schema_to_public()
    return TenantMigrated(schema=schema, seconds=time.perf_counter() - started, applied=applied, error=error)
