"""django-tenants' database backend, without a `SET search_path` round trip per request when
the server already has the tenant's path.

django-tenants (with TENANT_LIMIT_SET_CALLS) sends `SET search_path` once per request: each
request starts by choosing its tenant (`set_tenant`), which forgets what the connection had.
On a kept connection the next request of the same tenant would send the same SET again.

Remembering the path across requests on our side would be wrong whenever something else
changes it: a raw `SET` anywhere, `set_config()`, `RESET`, a rollback or a savepoint rollback
that undoes a SET, a reconnect. So this backend trusts no memory of its own: since
PostgreSQL 18 the server reports `search_path` to the client (a ParameterStatus message with
the result of every statement that changes it, undoing included), and psycopg keeps the last
report (`connection.info.parameter_status`). The SET is skipped only when that report is, to
the byte, the one the server sent right after this backend's own SET of the same schemas.
A server that does not report the path (before 18, or a pooler that hides it) gets the SET
every request, as before.

Transaction pooling.

django-tenants selects a tenant's schema with a separate `SET search_path`, which PostgreSQL
keeps for the rest of the server connection's session. Behind PgBouncer in transaction
pooling mode (`settings.DATABASE_POOL_MODE == "transaction"`) a client has a server
connection only for one transaction: the `SET` may run on one server connection and the next
query on another, whose search path another client set, so it reads or writes a different
tenant's tables (django-tenants issue #732). Nothing fails; the rows are just wrong.

In that mode this backend never relies on a path set earlier. The `SET search_path` travels
in the same message as the query it is for: `SET search_path = "alpha","public"; SELECT ...`
goes to PostgreSQL as one simple-protocol query, which runs as one implicit transaction, so
PgBouncer hands it to one server connection whole. Inside a transaction (BEGIN ... COMMIT,
which PgBouncer keeps on one server connection) the first statement carries it, and any
statement after the tenant changed. Nothing extra goes over the wire: the `SET` rides along
with a query that was being sent anyway.

What needs this to hold, and is set here in that mode: Django's default client-side binding
(parameters merged into the text; server-side binding would use the extended protocol, which
takes one statement per message), and no server-side cursors (`DISABLE_SERVER_SIDE_CURSORS`,
as Django's documentation asks for transaction pooling). `executemany` runs in one
transaction with the `SET` first. Session-level state other than the search path (advisory
locks, `SET` without LOCAL, LISTEN) does not survive transaction pooling anyway; Hearth uses
transaction-level locks and `SET LOCAL` only.

In session mode (a direct connection, or PgBouncer in session mode) the rest of this text's
first part applies: one `SET search_path` per tenant switch at most (TENANT_LIMIT_SET_CALLS),
none when the server reports it has the path. In transaction mode the report is not used:
it describes whichever server connection answered last.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.core.signals import setting_changed
from django.db.backends.postgresql.base import Cursor as DjangoClientCursor
from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, ServerBindingCursor
from django.db.backends.postgresql.psycopg_any import register_tzloader
from django.db.backends.postgresql.introspection import TableInfo
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations
from django_tenants.postgresql_backend.base import *  # noqa: F403  (the backend module's names)
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantsDatabaseWrapper
from django_tenants.postgresql_backend.introspection import DatabaseSchemaIntrospection
from django_tenants.utils import get_limit_set_calls, quote_schema_name
from psycopg import DataError, pq
from psycopg.types.numeric import Int8

TRANSACTION_POOLING = "transaction"
_NEVER_AUTOMATICALLY = 2**62


class SearchPathCarryingCursor(DjangoClientCursor):
    """Django's client-side-binding cursor, sending the connection's search path in front of
    a statement whenever the server connection may not have it (see the module's text)."""

    def _search_path_statement(self) -> str | None:
        wrapper = getattr(self.connection, "hearth_tenant_wrapper", None)
        return wrapper.search_path_statement_due() if wrapper is not None else None

    def execute(self, query, params=None, **kwargs):
        statement = self._search_path_statement()
        if statement is None:
            return super().execute(query, params, **kwargs)
        if not isinstance(query, str):
            query = query.as_string(self.connection) if hasattr(query, "as_string") else query.decode()
        if params is not None:
            statement = statement.replace("%", "%%")
        super().execute(f"{statement}; {query}", params, **kwargs)
        self.nextset()  # past the SET's result, to the query's
        return self

    def executemany(self, query, params_seq, **kwargs):
        statement = self._search_path_statement()
        if statement is None:
            return super().executemany(query, params_seq, **kwargs)
        if self.connection.info.transaction_status == pq.TransactionStatus.IDLE and self.connection.autocommit:
            # Each row would otherwise be a transaction of its own, anywhere in the pool.
            with self.connection.transaction():
                super().execute(statement)
                return super().executemany(query, params_seq, **kwargs)
        super().execute(statement)
        return super().executemany(query, params_seq, **kwargs)


class PreparingCursor(ServerBindingCursor):
    """Server-side binding, each statement with parameters kept prepared on the server
    connection (psycopg's `prepare=True`): PostgreSQL parses and analyses its text once per
    connection and may keep a generic plan, instead of parsing a text with the values quoted
    in it (and planning it) on every execute. For the few statements that a hot path repeats
    with other values (`DatabaseWrapper.prepared_cursor`); everything else keeps Django's
    client-side binding.

    Tenancy: a prepared statement names its tables unqualified, and PostgreSQL's plan cache
    analyses it again whenever the search path differs from the one it was analysed under,
    so it reads the current tenant's tables like any other statement (tested).

    Python integers go as bigint: psycopg picks int2/int4/int8 by the value, and the types
    are part of a prepared statement's key, so one statement would be prepared up to three
    times per integer parameter. Statements without parameters (django-tenants' `SET
    search_path` on this cursor) are not prepared."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        if params:
            if isinstance(params, Mapping):  # named %(name)s parameters: not needed by its two statements
                raise TypeError("PreparingCursor takes positional parameters (a sequence), not a mapping")
            params = [Int8(value) if type(value) is int else value for value in params]
            prepare = True if prepare is None else prepare
        return super().execute(query, params, prepare=prepare, binary=binary)


class Operations(PostgresOperations):
    def last_executed_query(self, cursor, sql, params):
        # What Django's debug cursor and query capture record: for a PreparingCursor's
        # statement, the text with the values quoted in it (as Django does for server-side
        # binding): the server got a statement name and the values apart.
        if isinstance(cursor, PreparingCursor):
            try:
                return self.compose_sql(sql, params)
            except DataError:
                return None
        return super().last_executed_query(cursor, sql, params)


class SchemaIntrospection(DatabaseSchemaIntrospection):
    """django-tenants' introspection, listing one schema's tables without reading the whole
    catalog.

    Its `get_table_list` sets the search path to the schema and keeps the relations that
    `pg_table_is_visible()`: a check of every relation of every schema. With a thousand
    tenants that is ~300,000 relations, read several times per tenant by each migration run
    (Django's MigrationRecorder asks "is there a django_migrations table?" by listing the
    tables), so migrating one tenant got slower with every tenant added. Here the schema's
    relations are found through the dependency PostgreSQL records from each relation to its
    schema (`pg_depend`, indexed by the referenced object): a few hundred rows whatever the
    number of tenants, and no `SET search_path` round trips. Same rows as before
    (tests/accounts/test_migrate_tenants.py compares them).
    """

    def get_table_list(self, cursor):
        cursor.execute(
            """
            SELECT c.relname,
                   CASE WHEN c.relispartition THEN 'p' WHEN c.relkind IN ('m', 'v') THEN 'v' ELSE 't' END,
                   obj_description(c.oid, 'pg_class')
              FROM pg_catalog.pg_depend d
              JOIN pg_catalog.pg_class c ON c.oid = d.objid
             WHERE d.refclassid = 'pg_catalog.pg_namespace'::regclass
               AND d.refobjid = to_regnamespace(%s)
               AND d.refobjsubid = 0
               AND d.classid = 'pg_catalog.pg_class'::regclass
               AND d.deptype = 'n'
               AND c.relkind IN ('f', 'm', 'p', 'r', 'v')
            """,
            [quote_schema_name(self.connection.schema_name)],
        )
        return [TableInfo(*row) for row in cursor.fetchall() if row[0] not in self.ignored_tables]


# {(schema, public schema included): the validated search path}, for every wrapper of the process.
_search_paths: dict[tuple, tuple[str, ...]] = {}
_SEARCH_PATHS_KEPT = 10_000


def _search_paths_reset(**_) -> None:
    _search_paths.clear()


setting_changed.connect(_search_paths_reset, dispatch_uid="config.tenant_postgresql.search_paths_reset")


class DatabaseWrapper(TenantsDatabaseWrapper):
    ops_class = Operations

    def __init__(self, *args, **kwargs):
        # (schemas, the server's report right after our SET of them), or None.
        self._search_path_reported_after_set: tuple[list[str], str] | None = None
        super().__init__(*args, **kwargs)
        self.introspection = SchemaIntrospection(self)
        self.transaction_pooling = getattr(settings, "DATABASE_POOL_MODE", "session") == TRANSACTION_POOLING
        # Transaction pooling: the path the current server transaction was given.
        self._path_in_transaction: str | None = None
        if self.transaction_pooling:
            self.settings_dict["OPTIONS"]["cursor_factory"] = SearchPathCarryingCursor
            self.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True
        self._preparing = False

    def prepared_cursor(self):
        """A cursor whose statements are prepared on the server (`PreparingCursor`), for a
        statement a hot path runs over and over (the widget's POST and poll). Behind a
        transaction-pooling PgBouncer, the ordinary cursor: there each statement carries the
        search path in the same simple-protocol message (SearchPathCarryingCursor), which a
        prepared statement cannot, and a statement prepared on one server connection does not
        exist on the next."""
        if self.transaction_pooling:
            return self.cursor()
        self._preparing = True
        try:
            return self.cursor()  # Django's wrapping, the search path, the health check, as always
        finally:
            self._preparing = False

    def create_cursor(self, name=None):
        if not self._preparing or name:
            return super().create_cursor(name)
        cursor = PreparingCursor(self.connection)
        # As Django's create_cursor: the cursor's time zone when the connection's differs.
        loader = self.connection.adapters.get_loader(TIMESTAMPTZ_OID, pq.Format.TEXT)
        if self.timezone != loader.timezone:
            register_tzloader(self.timezone, cursor)
        return cursor

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if self.transaction_pooling:
            connection.hearth_tenant_wrapper = self
        else:
            if connection.prepare_threshold is None:
                # Django turns psycopg's prepared statements off (None: not even an explicit
                # `prepare=True` prepares). Only PreparingCursor asks for them; Django's
                # client-side cursors never prepare, and no statement is prepared automatically
                # however often it runs (the threshold is out of reach).
                connection.prepare_threshold = _NEVER_AUTOMATICALLY
            if not getattr(connection, "hearth_generic_plans", False):
                # For the statements PreparingCursor prepares (no other statement is prepared,
                # and Hearth has no PL/pgSQL, the setting's only other reader): one plan per
                # statement and connection, made at its first run, instead of planning it again
                # at every run as long as PostgreSQL estimates a plan for the given values
                # cheaper (for the poll that was every run: a cursor past the newest message
                # estimates no rows). Those statements find their rows by keys (a conversation
                # by its number, a message page through its index): no value makes another plan
                # right. A SET once per server session rather than the connection's `options`,
                # which a PgBouncer refuses unless told to ignore them (and then drops them).
                connection.execute("SET plan_cache_mode = force_generic_plan")
                if not connection.autocommit:
                    connection.commit()
                connection.hearth_generic_plans = True  # (a pool's connection: once, not per checkout)
        return connection

    def rollback(self):
        # A rollback (to a savepoint too) undoes a SET made after it began: send it again.
        self._path_in_transaction = None
        super().rollback()

    def savepoint_rollback(self, sid):
        try:
            super().savepoint_rollback(sid)
        finally:
            self._path_in_transaction = None

    def _server_search_path(self) -> str | None:
        info = getattr(self.connection, "info", None)
        return None if info is None else info.parameter_status("search_path")

    def _handle_search_path(self, cursor=None):
        if self.transaction_pooling:
            return  # the statements carry the path (SearchPathCarryingCursor)
        if self._setting_search_path or (get_limit_set_calls() and self.search_path_set_schemas) or not self.schema_name:
            return super()._handle_search_path(cursor)  # nothing to send, or django-tenants' error
        reported = self._server_search_path()
        remembered = self._search_path_reported_after_set
        if reported is not None and remembered is not None and remembered[1] == reported:
            wanted = self._get_cursor_search_paths()
            if remembered[0] == wanted:
                self.search_path_set_schemas = wanted
                return
        super()._handle_search_path(cursor)
        if self.search_path_set_schemas is not None:
            reported = self._server_search_path()
            self._search_path_reported_after_set = None if reported is None else (list(self.search_path_set_schemas), reported)

    def _get_cursor_search_paths(self):
        # django-tenants' path for the schema (PUBLIC_SCHEMA_NAME, PG_EXTRA_SEARCH_PATHS), every
        # name validated: asked before each statement, and the same for every statement of a
        # schema, so worked out once per schema (~12 calls each time). Only a path that passed
        # validation is kept; a settings change (tests) forgets them.
        key = (self.schema_name, self.include_public_schema)
        known = _search_paths.get(key)
        if known is None:
            known = tuple(super()._get_cursor_search_paths())
            if len(_search_paths) >= _SEARCH_PATHS_KEPT:
                _search_paths.clear()
            _search_paths[key] = known
        return list(known)

    def close(self):
        self._search_path_reported_after_set = None
        super().close()

    def _close(self):
        # With Django's connection pool (DB_PROCESS_POOL_SIZE) closing hands the connection
        # back for another thread's wrapper: its statements, the pool's own health check
        # among them, must not consult this wrapper's bookkeeping any more.
        if self.connection is not None and self.transaction_pooling:
            self.connection.hearth_tenant_wrapper = None
        super()._close()

    def search_path_statement_due(self) -> str | None:
        """`SET search_path = ...` when the next statement must carry it: always outside a
        transaction (each statement may land on another server connection), and inside one
        when this transaction has not been given the current path yet."""
        if self.schema_name is None:
            return None
        statement = "SET search_path = " + ",".join(quote_schema_name(schema) for schema in self._get_cursor_search_paths())
        if self.connection.info.transaction_status == pq.TransactionStatus.IDLE:
            # The statement opens a transaction (atomic block) or is one (autocommit).
            self._path_in_transaction = statement
            return statement
        if self._path_in_transaction == statement:
            return None
        self._path_in_transaction = statement
        return statement
