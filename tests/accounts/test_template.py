"""New accounts' schemas are clones of the migrated tenant template (accounts/tenant_template.py):
the same schema as migrating would make, in a fraction of the time, rebuilt when migrations change."""

import time

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django_tenants.utils import schema_context, tenant_context

from accounts import tenant_template
from accounts.models import Account
from accounts.services import account_create
from conversations.services.intake import conversation_open
from tests.conversations.factories import ContactFactory, InboxFactory

pytestmark = pytest.mark.usefixtures("committed_db")

TEMPLATE = settings.TENANT_BASE_SCHEMA


def schema_catalog(schema: str) -> dict:
    """Everything PostgreSQL knows about a schema's objects, with the schema's own name
    written as SCHEMA so two schemas compare."""
    queries = {
        "tables": """
            SELECT c.relname, c.relkind, c.relpersistence, c.reloptions::text, c.relacl::text, obj_description(c.oid, 'pg_class')
            FROM pg_class c WHERE c.relnamespace = %(oid)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1""",
        # By position among the live columns: a migrated table keeps holes where columns
        # were dropped, which no one can see.
        "columns": """
            SELECT c.relname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname,
                   format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
                   a.attidentity, a.attgenerated, a.attcollation::regcollation::text, a.attstorage, a.attcompression
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE c.relnamespace = %(oid)s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, 2""",
        "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %(name)s ORDER BY 1",
        "constraints": """
            SELECT t.relname, k.conname, k.contype, pg_get_constraintdef(k.oid), k.condeferrable, k.condeferred, k.convalidated
            FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid WHERE k.connamespace = %(oid)s ORDER BY 1, 2""",
        "sequences": """
            SELECT s.sequencename, s.data_type::text, s.start_value, s.min_value, s.max_value, s.increment_by, s.cycle,
                   s.cache_size, s.last_value,
                   (SELECT t.relname || '.' || a.attname || ':' || d.deptype::text FROM pg_depend d
                      JOIN pg_class t ON t.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
                     WHERE d.objid = (quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename))::regclass
                       AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
            FROM pg_sequences s WHERE s.schemaname = %(name)s ORDER BY 1""",
        "functions": "SELECT proname, pg_get_functiondef(oid) FROM pg_proc WHERE pronamespace = %(oid)s ORDER BY 1",
        "triggers": """
            SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relnamespace = %(oid)s AND NOT t.tgisinternal ORDER BY 1""",
        "default privileges": "SELECT defaclrole::regrole::text, defaclobjtype, defaclacl::text FROM pg_default_acl WHERE defaclnamespace = %(oid)s",
    }
    catalog = {}
    with connection.cursor() as cursor:
        cursor.execute("SET search_path = ''")  # every name qualified, so the schema's name can be masked
        cursor.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [schema])
        params = {"oid": cursor.fetchone()[0], "name": schema}
        for what, query in queries.items():
            cursor.execute(query, params)
            catalog[what] = [
                tuple(value.replace(f"{schema}.", "SCHEMA.") if isinstance(value, str) else value for value in row)
                for row in cursor.fetchall()
            ]
        cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations ORDER BY app, name')
        catalog["migrations recorded"] = cursor.fetchall()
        cursor.execute(f'SELECT id, app_label, model FROM "{schema}".django_content_type ORDER BY id')
        catalog["content types"] = cursor.fetchall()
    connection.set_schema_to_public()
    return catalog


def _migrated_schema(name: str) -> None:
    """A schema made the slow way: every migration replayed."""
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{name}"')
    call_command("migrate_schemas", schema_name=name, tenant=True, interactive=False, verbosity=0)
    connection.set_schema_to_public()


def _account(slug: str) -> Account:
    return account_create(name=slug.title(), slug=slug, owner_email=f"owner@{slug}.example", owner_password="owner-secret-1").account


def test_a_cloned_schema_equals_a_migrated_one():
    tenant_template.template_refresh(force=True)
    # A table's own comment (a model's db_table_comment) is not copied by LIKE: none of ours
    # has one yet, so one is added to both sides.
    comment = "COMMENT ON TABLE \"{}\".conversations_inbox IS 'Where customers write in; it''s per tenant'"
    with connection.cursor() as cursor:
        cursor.execute(comment.format(TEMPLATE))
    started = time.perf_counter()
    _account("cloned")
    cloned_in = time.perf_counter() - started
    started = time.perf_counter()
    _migrated_schema("migrated")
    with connection.cursor() as cursor:
        cursor.execute(comment.format("migrated"))
    migrated_in = time.perf_counter() - started
    print(f"\nnew account by cloning the template: {cloned_in:.2f} s; schema by migrating: {migrated_in:.2f} s")

    cloned, migrated = schema_catalog("cloned"), schema_catalog("migrated")
    assert cloned["tables"] and cloned["indexes"] and cloned["migrations recorded"]
    assert [part for part in migrated if cloned[part] != migrated[part]] == []
    # The awkward ones are there and alike: pgvector's HNSW with its dimensions, trigram GIN,
    # partial and expression indexes, checks, the conversation number's own sequence.
    indexdefs = " ".join(definition for _, definition in cloned["indexes"])
    assert "USING hnsw (embedding public.vector_cosine_ops)" in indexdefs or "USING hnsw (embedding vector_cosine_ops)" in indexdefs
    assert "gin_trgm_ops" in indexdefs and " WHERE " in indexdefs
    assert any(column[3] == "public.vector(384)" or column[3] == "vector(384)" for column in cloned["columns"] if column[2] == "embedding")
    assert any(kind == "c" for _, _, kind, *_ in cloned["constraints"])
    number_sequence = next(row for row in cloned["sequences"] if row[0] == "conversations_conversation_number_seq")
    assert number_sequence[-1] == "conversations_conversation.number:a"


def test_the_first_conversation_of_a_cloned_account_is_number_one():
    tenant_template.template_refresh()
    account = _account("fresh")

    with tenant_context(account), transaction.atomic():
        first = conversation_open(inbox=InboxFactory(), contact=ContactFactory(), content="My parcel is late")
        second = conversation_open(inbox=InboxFactory(), contact=ContactFactory(), content="And the invoice?")
        assert (first.number, second.number) == (1, 2)
        transaction.set_rollback(True)  # nothing queued for a worker after the test


def test_the_template_is_never_an_account_and_no_slug_can_name_it():
    tenant_template.template_refresh()
    assert not Account.objects.filter(schema_name=TEMPLATE).exists()
    with pytest.raises(Exception, match="is invalid"):
        account_create(name="Sneaky", slug=TEMPLATE, owner_email="x@sneaky.example", owner_password="owner-secret-1")
    assert Account.objects.count() == 3  # public, alpha, beta: nothing loops over the template


def _forget_newest_migration_in_template() -> tuple[str, str]:
    """What the template looks like after a deploy brought a migration it has not seen."""
    with connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{TEMPLATE}".django_migrations WHERE id = (SELECT max(id) FROM "{TEMPLATE}".django_migrations) RETURNING app, name')
        return cursor.fetchone()


def _template_oid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [TEMPLATE])
        return cursor.fetchone()[0]


def test_a_new_migration_makes_the_next_account_rebuild_the_template_first():
    tenant_template.template_refresh()
    assert tenant_template.template_is_current()
    missing = _forget_newest_migration_in_template()
    assert not tenant_template.template_is_current()
    before = _template_oid()

    account = _account("afterdeploy")

    assert _template_oid() != before and tenant_template.template_is_current()
    with schema_context(account.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations WHERE app = %s AND name = %s", list(missing))
        assert cursor.fetchone() == (1,)


def test_migrating_the_tenants_rebuilds_an_outdated_template(capsys):
    tenant_template.template_refresh()
    _forget_newest_migration_in_template()
    before = _template_oid()

    call_command("migrate_tenants", schema=["alpha"], verbosity=1)

    assert _template_oid() != before and tenant_template.template_is_current()
    assert "tenant template rebuilt" in capsys.readouterr().out
    call_command("migrate_tenants", schema=["alpha"], verbosity=1)
    assert _template_oid() != before
    assert "tenant template up to date" in capsys.readouterr().out


def test_a_template_ahead_of_the_code_is_cloned_as_it_is_by_sign_ups_and_rebuilt_by_migrations():
    """During a rolling deploy the old release's web processes still sign people up: they
    must not take back the template the new release just migrated."""
    tenant_template.template_refresh()
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO \"{TEMPLATE}\".django_migrations (app, name, applied) VALUES ('conversations', '9999_from_the_next_release', now())")
    before = _template_oid()

    account = _account("middeploy")

    assert _template_oid() == before
    with schema_context(account.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations WHERE name = '9999_from_the_next_release'")
        assert cursor.fetchone() == (1,)
    call_command("migrate_tenants", schema=["alpha"], verbosity=0)  # this release's operator: exact
    assert _template_oid() != before and tenant_template.template_is_current()
