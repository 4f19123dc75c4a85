"""The tenant template: a schema migrated like any tenant's, cloned for each new account.

Replaying every migration for a new schema takes seconds and grows with each migration;
copying the structure of a schema that is already migrated takes a fraction of a second and
stays flat. The template (`settings.TENANT_BASE_SCHEMA`) is never a tenant: it has no Account
row and no domain, so nothing that loops over accounts (migrations, Celery beat, the desk)
ever sees it, and no slug can name it (slugs have no underscore).

Why not django-tenants' own clone (the pg-clone-schema function it installs): it loses the
dimensions of pgvector columns (`vector(384)` becomes `vector`), so the HNSW index cannot be
rebuilt and the clone fails. The copy here leans on PostgreSQL instead:
`CREATE TABLE ... (LIKE ... INCLUDING ...)` copies columns with their exact types, defaults,
identity, NOT NULL and CHECK constraints; the indexes, primary/unique/foreign keys and the
free-standing sequences (the conversation number) are recreated from the catalog's own
definitions (`pg_get_indexdef`, `pg_get_constraintdef`) under their original names, so later
migrations that drop or rename them by name work on clones too. The rows migrations made
(django_migrations, content types) are copied, so the clone is recorded as migrated exactly
like the template, and each sequence takes the template's state (the conversation number
starts at 1).

The template is rebuilt whenever the code's migrations differ from the ones it recorded:
after `manage.py migrate_tenants`, and lazily by the first account created after a deploy
that skipped it (only when the template lacks some of the code's migrations: one ahead of
the code is what an old process sees during a rolling deploy, and is fine to clone). It is rebuilt beside the old one and swapped in with one transaction, so a
sign-up never sees a half-built template. Objects this copy does not know (views, functions,
triggers of our own, sequences used as column defaults) make the template unusable: accounts
are then created by migrating, slower but right, and a warning says why.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import quote_schema_name, schema_exists

logger = logging.getLogger(__name__)

# Any stable 64-bit number: the lock serialises the swap of a rebuilt template.
_SWAP_LOCK = 0x4845_4152_5448_0001
_NEW = "\x00NEW_SCHEMA\x00"  # stands for the new schema's quoted name in the cached script


def template_schema() -> str:
    return settings.TENANT_BASE_SCHEMA


class TemplateUnsupported(Exception):
    """The template holds an object the clone does not copy."""


@functools.cache
def _code_migrations() -> frozenset[tuple[str, str]]:
    # The code cannot change under a running process, so once per process is enough.
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)


def _recorded_migrations(schema: str) -> set[tuple[str, str]] | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"{quote_schema_name(schema)}.django_migrations"])
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute(f"SELECT app, name FROM {quote_schema_name(schema)}.django_migrations")
        return set(cursor.fetchall())


def template_is_current(*, exact: bool = True) -> bool:
    """True when the template exists and recorded exactly the code's migrations; with
    `exact=False`, at least the code's (a template ahead of the code is fine to clone: during a
    rolling deploy the old processes run against the new, backward-compatible schema)."""
    recorded = _recorded_migrations(template_schema())
    if recorded is None:
        return False
    return recorded == _code_migrations() if exact else _code_migrations() <= recorded


def template_refresh(*, force: bool = False, exact: bool = True, verbosity: int = 0) -> bool:
    """Rebuild the template if it is missing or its migrations differ from the code's (with
    `exact=False`: lack some of the code's), or always with `force`; returns whether it was
    rebuilt.

    Runs outside any transaction: the build migrates a fresh schema (which commits as it
    goes), beside the current template; only the swap is one short transaction.
    """
    if connection.in_atomic_block:
        raise RuntimeError("the tenant template is rebuilt outside a transaction")
    if not force and template_is_current(exact=exact):
        return False
    template = template_schema()
    building = f"{template}_{secrets.token_hex(4)}"
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {quote_schema_name(building)}")
    try:
        call_command("migrate_schemas", schema_name=building, tenant=True, interactive=False, verbosity=verbosity)
        connection.set_schema_to_public()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SWAP_LOCK])
            if not force and template_is_current(exact=exact):  # another process swapped one in meanwhile
                cursor.execute(f"DROP SCHEMA {quote_schema_name(building)} CASCADE")
                return False
            cursor.execute(f"DROP SCHEMA IF EXISTS {quote_schema_name(template)} CASCADE")
            cursor.execute(f"ALTER SCHEMA {quote_schema_name(building)} RENAME TO {quote_schema_name(template)}")
    except BaseException:
        connection.set_schema_to_public()
        if connection.in_atomic_block:
            raise
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {quote_schema_name(building)} CASCADE")
        raise
    _clone_script.cache_clear()
    return True


def template_ready() -> bool:
    """Whether a new schema can be cloned now: the template is current, or was just rebuilt
    (only possible outside a transaction), and holds nothing the clone cannot copy."""
    # Only a template behind the code is rebuilt here: an old process of a rolling deploy must
    # not take back the template the new release's migrate_tenants just made.
    if not template_is_current(exact=False):
        if connection.in_atomic_block:
            logger.warning("tenant template %s is out of date inside a transaction: migrating the new schema instead", template_schema())
            return False
        template_refresh(exact=False)
    try:
        _clone_script(_template_oid())
    except TemplateUnsupported as error:
        logger.warning("tenant template %s cannot be cloned (%s): migrating the new schema instead", template_schema(), error)
        return False
    return True


def schema_clone(*, schema_name: str) -> None:
    """Create `schema_name` as a copy of the template's structure and migration records,
    in the caller's transaction (a rollback removes it whole)."""
    if schema_exists(schema_name, case_sensitive=False):
        raise ValueError(f"schema {schema_name!r} already exists")
    script = _clone_script(_template_oid())
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(script.sql.replace(_NEW, quote_schema_name(schema_name)))


def _template_oid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [template_schema()])
        row = cursor.fetchone()
    if row is None:
        raise TemplateUnsupported("it does not exist")
    return row[0]


@dataclass(frozen=True)
class _CloneScript:
    sql: str


@functools.lru_cache(maxsize=4)
def _clone_script(template_oid: int) -> _CloneScript:
    """The statements that copy the template, built once per template (a rebuilt template
    is a new schema with a new oid) with a placeholder for the new schema's name."""
    with connection.cursor() as cursor:
        # As the catalog writes it (unquoted when it can be), to be found in its definitions.
        cursor.execute("SELECT quote_ident(%s)", [template_schema()])
        template = cursor.fetchone()[0]
        # Empty search path: the catalog's definitions then name every schema, so the
        # template's own name can be swapped for the new one where it appears, and names in
        # `public` (the user table, pgvector's operator classes) stay as they are.
        cursor.execute("SELECT current_setting('search_path')")
        previous_path = cursor.fetchone()[0]
        cursor.execute("SELECT set_config('search_path', '', false)")
        try:
            return _CloneScript(sql=_clone_sql(cursor, template_oid, template))
        finally:
            cursor.execute("SELECT set_config('search_path', %s, false)", [previous_path])


def _clone_sql(cursor, oid: int, template: str) -> str:
    _refuse_unsupported(cursor, oid)
    statements = [f"CREATE SCHEMA {_NEW}"]

    # Free-standing sequences (identity columns bring their own with LIKE).
    cursor.execute(
        """
        SELECT c.relname, format_type(s.seqtypid, NULL), s.seqincrement, s.seqmin, s.seqmax, s.seqstart, s.seqcache, s.seqcycle
        FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid
        WHERE c.relnamespace = %s AND c.relkind = 'S'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'i')
        ORDER BY c.oid
        """,
        [oid],
    )
    own_sequences = cursor.fetchall()
    for name, data_type, increment, minimum, maximum, start, cache, cycle in own_sequences:
        statements.append(
            f"CREATE SEQUENCE {_NEW}.{_q(name)} AS {data_type} INCREMENT BY {increment} MINVALUE {minimum} "
            f"MAXVALUE {maximum} START WITH {start} CACHE {cache} {'CYCLE' if cycle else 'NO CYCLE'}"
        )

    cursor.execute("SELECT c.oid, c.relname FROM pg_class c WHERE c.relnamespace = %s AND c.relkind = 'r' ORDER BY c.oid", [oid])
    tables = cursor.fetchall()
    for _, table in tables:
        statements.append(
            f"CREATE TABLE {_NEW}.{_q(table)} (LIKE {template}.{_q(table)} INCLUDING DEFAULTS INCLUDING IDENTITY "
            "INCLUDING GENERATED INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING COMPRESSION "
            "INCLUDING STATISTICS)"
        )

    # LIKE copies no storage parameters of a table (the conversations' fillfactor: migration
    # conversations 0016).
    cursor.execute(
        "SELECT relname, array_to_string(reloptions, ', ') FROM pg_class WHERE relnamespace = %s AND relkind = 'r' AND reloptions IS NOT NULL",
        [oid],
    )
    for table, options in cursor.fetchall():
        statements.append(f"ALTER TABLE {_NEW}.{_q(table)} SET ({options})")

    # LIKE copies the columns' comments, not the table's own (`db_table_comment`).
    cursor.execute(
        "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
        "WHERE c.relnamespace = %s AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NOT NULL",
        [oid],
    )
    for table, comment in cursor.fetchall():
        statements.append(f"COMMENT ON TABLE {_NEW}.{_q(table)} IS '{comment.replace(chr(39), chr(39) * 2)}'")

    # LIKE gives an identity's sequence the column's type; a column whose type a migration
    # changed kept its sequence's old type, which the clone keeps too.
    cursor.execute(
        """
        SELECT c.relname, format_type(s.seqtypid, NULL)
        FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid
        WHERE c.relnamespace = %s AND c.relkind = 'S'
          AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'i')
        ORDER BY c.oid
        """,
        [oid],
    )
    for name, data_type in cursor.fetchall():
        statements.append(f"ALTER SEQUENCE {_NEW}.{_q(name)} AS {data_type}")

    # A sequence owned by a column (the conversation number) goes with its table.
    cursor.execute(
        """
        SELECT s.relname, t.relname, a.attname
        FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype = 'a'
             JOIN pg_class t ON t.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
        WHERE s.relnamespace = %s AND s.relkind = 'S'
        """,
        [oid],
    )
    for sequence, table, column in cursor.fetchall():
        statements.append(f"ALTER SEQUENCE {_NEW}.{_q(sequence)} OWNED BY {_NEW}.{_q(table)}.{_q(column)}")

    # Keys first (foreign keys need the referenced unique index), then plain indexes
    # (partial, expression, GIN trigram, HNSW: their catalog definitions), then foreign keys.
    cursor.execute(
        """
        SELECT t.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
        WHERE k.connamespace = %s AND k.contype IN ('p', 'u', 'x', 'f')
        ORDER BY k.contype = 'f', k.oid
        """,
        [oid],
    )
    constraints = cursor.fetchall()
    for table, name, kind, definition in constraints:
        if kind != "f":
            statements.append(f"ALTER TABLE {_NEW}.{_q(table)} ADD CONSTRAINT {_q(name)} {_in_new(definition, template)}")
    cursor.execute(
        """
        SELECT pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relnamespace = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))
        ORDER BY i.indexrelid
        """,
        [oid],
    )
    for (definition,) in cursor.fetchall():
        statements.append(_in_new(definition, template))
    for table, name, kind, definition in constraints:
        if kind == "f":
            statements.append(f"ALTER TABLE {_NEW}.{_q(table)} ADD CONSTRAINT {_q(name)} {_in_new(definition, template)}")

    # The rows migrations wrote (migration records, content types), and every sequence's
    # state as in the template: what a migrated schema would hold.
    for table_oid, table in tables:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {template}.{_q(table)})")
        if cursor.fetchone()[0]:
            cursor.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
                [table_oid],
            )
            columns = ", ".join(_q(name) for (name,) in cursor.fetchall())
            statements.append(
                f"INSERT INTO {_NEW}.{_q(table)} ({columns}) OVERRIDING SYSTEM VALUE SELECT {columns} FROM {template}.{_q(table)}"
            )
    cursor.execute("SELECT relname FROM pg_class WHERE relnamespace = %s AND relkind = 'S' ORDER BY oid", [oid])
    for (sequence,) in cursor.fetchall():
        statements.append(
            f"SELECT setval('{_NEW}.{_q(sequence)}', s.last_value, s.is_called) FROM {template}.{_q(sequence)} s"
        )
    return ";\n".join(statements) + ";"


def _refuse_unsupported(cursor, oid: int) -> None:
    checks = {
        "views or materialized views": "SELECT count(*) FROM pg_class WHERE relnamespace = %s AND relkind IN ('v', 'm', 'p', 'f')",
        "functions": "SELECT count(*) FROM pg_proc WHERE pronamespace = %s",
        "types": "SELECT count(*) FROM pg_type WHERE typnamespace = %s AND typtype IN ('e', 'd', 'r', 'm') ",
        "triggers": "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = %s AND NOT t.tgisinternal",
        "sequences used as column defaults": (
            "SELECT count(*) FROM pg_attrdef ad JOIN pg_class t ON t.oid = ad.adrelid "
            "JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid AND d.refclassid = 'pg_class'::regclass "
            "JOIN pg_class s ON s.oid = d.refobjid AND s.relkind = 'S' WHERE t.relnamespace = %s"
        ),
        "default privileges": "SELECT count(*) FROM pg_default_acl WHERE defaclnamespace = %s",
    }
    for what, query in checks.items():
        cursor.execute(query, [oid])
        if cursor.fetchone()[0]:
            raise TemplateUnsupported(f"it has {what}, which accounts/tenant_template.py does not copy")


def _in_new(definition: str, template: str) -> str:
    """The definition with the template's schema name, where it qualifies a name, replaced
    by the new schema's (`ON tenant_template.t`, `REFERENCES tenant_template.t(id)`)."""
    return re.sub(rf"(?<![\w\"]){re.escape(template)}\.", lambda _: f"{_NEW}.", definition)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)
