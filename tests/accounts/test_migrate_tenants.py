"""`manage.py migrate_tenants`: every tenant tried in parallel, a broken one named in one line
while the others migrate, a summary, and exit 1 when any failed."""

import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.postgresql_backend.introspection import DatabaseSchemaIntrospection

from accounts.services import account_create
from tests.conftest import REPO_DIR, database_url_of_test_db

pytestmark = pytest.mark.usefixtures("committed_db")

TENANTS = ["northwind", "southwind", "eastwind"]
NEWEST, PREVIOUS = "0009_ai_answers_and_handoff", "0008_pipeline_event_reason"


def _recorded(schema: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{schema}".django_migrations WHERE app = %s AND name = %s', ["conversations", NEWEST])
        return cursor.fetchone()[0] == 1


def _has_column(schema: str, table: str, column: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = %s AND table_name = %s AND column_name = %s",
            [schema, table, column],
        )
        return cursor.fetchone()[0] == 1


def _migrate_tenants(*arguments: str) -> subprocess.CompletedProcess:
    env = {"HEARTH_DEV": "1", "DATABASE_URL": database_url_of_test_db(), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "manage.py", "migrate_tenants", *arguments], cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=300
    )


def test_a_broken_tenant_is_reported_and_the_others_migrate():
    for slug in TENANTS:
        account_create(name=slug.title(), slug=slug, owner_email=f"owner@{slug}.example", owner_password="owner-secret-1")
    # The three tenants one migration behind, as after a deploy that brought it...
    call_command("migrate_tenants", "conversations", PREVIOUS, schema=TENANTS, processes=1, skip_public=True, skip_template=True, verbosity=0)
    assert not any(_recorded(slug) for slug in TENANTS)
    # ...and one of them broken: a table the migration alters is not where it should be.
    with connection.cursor() as cursor:
        cursor.execute('ALTER TABLE "southwind".conversations_message RENAME TO conversations_message_moved')

    result = _migrate_tenants("--processes", "2", "--verbosity", "2", *[f"--schema={slug}" for slug in TENANTS])

    assert result.returncode == 1, result.stderr
    assert [_recorded(slug) for slug in TENANTS] == [True, False, True]
    assert _has_column("northwind", "conversations_message", "sources") and _has_column("eastwind", "conversations_message", "sources")
    failure_lines = [line for line in result.stderr.splitlines() if "southwind" in line]
    assert len(failure_lines) == 3, result.stderr  # progress, the list of failures, the final error
    assert 'southwind FAILED: ProgrammingError: relation "conversations_message" does not exist' in failure_lines[0]
    assert failure_lines[1] == 'failed: southwind: ProgrammingError: relation "conversations_message" does not exist'
    assert failure_lines[2] == "CommandError: 1 of 3 tenants failed to migrate: southwind"
    assert "northwind migrated" in result.stdout and "eastwind migrated" in result.stdout
    assert f"    conversations.{NEWEST}\n" in result.stdout  # -v 2 names what each tenant applied
    assert "2 of 3 tenants migrated in" in result.stdout and "(2 processes); 1 failed" in result.stdout


def test_all_tenants_migrated_exits_zero_with_a_summary():
    result = _migrate_tenants("--processes", "2")

    assert result.returncode == 0, result.stderr
    assert "2 of 2 tenants migrated in" in result.stdout  # alpha and beta; never the template
    # Both have every migration already: found with one query, not migrated again.
    assert "] alpha up to date" in result.stdout and "] beta up to date" in result.stdout
    assert "[1/2]" in result.stdout and "[2/2]" in result.stdout
    assert "0 failed, 2 already up to date" in result.stdout
    assert "tenant template up to date" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"schema": ["nosuch"]}, "no account with slug 'nosuch'"),
        ({"processes": 0}, "--processes must be at least 1"),
        ({"migration_name": "0001_initial"}, "a migration name needs its app label"),
        ({"app_label": "nosuch"}, "app 'nosuch' does not have migrations"),
        ({"app_label": "conversations", "migration_name": "9999"}, "no migration of 'conversations' matches '9999'"),
    ],
)
def test_bad_arguments_are_one_line_and_migrate_nothing(arguments, message):
    recorded_before = _recorded("alpha")
    with pytest.raises(CommandError, match=message):
        call_command("migrate_tenants", **arguments)
    assert _recorded("alpha") == recorded_before


@pytest.mark.parametrize("schema", ["public", "alpha"])
def test_a_schemas_table_list_is_the_one_django_tenants_finds_by_search_path(schema, alpha):
    """Hearth lists a schema's tables from the catalog rows of that schema only (migrating
    does not slow down as tenants are added); the list must be the one django-tenants finds by
    scanning every relation visible on the schema's search path."""
    connection.set_schema(schema, include_public=False)
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE VIEW "{schema}".hearth_test_view AS SELECT 1 AS one')
        try:
            hearths = sorted(connection.introspection.get_table_list(cursor))
            django_tenants = sorted(DatabaseSchemaIntrospection(connection).get_table_list(cursor))
        finally:
            cursor.execute(f'DROP VIEW "{schema}".hearth_test_view')
    assert hearths == django_tenants
    names = {table.name for table in hearths}
    assert "hearth_test_view" in names and "django_migrations" in names
    assert ("accounts_account" in names) == (schema == "public")
