"""The account commands refuse bad input with one line and exit 1, changing nothing; and
`account_delete` removes an account (after exporting it) in steps an operator can finish."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import zipfile

import psycopg
import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context, schema_exists, tenant_context

from accounts.models import Account, ApiToken, Domain, Invitation, Membership, User
from accounts.portability import catalog
from accounts.services import account_create, api_token_create
from conversations import services
from conversations.models import Conversation
from tests.conftest import REPO_DIR, database_url_of_test_db
from tests.conversations.factories import ContactFactory, InboxFactory


def _snapshot():
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace ORDER BY nspname")
        schemas = [row[0] for row in cursor.fetchall()]
    return {
        "accounts": sorted(Account.objects.values_list("schema_name", "name", "state")),
        "domains": sorted(Domain.objects.values_list("domain", flat=True)),
        "users": sorted(User.objects.values_list("email", flat=True)),
        "memberships": Membership.objects.count(),
        "tokens": ApiToken.objects.count(),
        "schemas": schemas,
    }


def _export_of(account, path) -> dict:
    call_command("account_export", account.schema_name, "--out", str(path))
    return json.loads(zipfile.ZipFile(path).read("manifest.json"))


def _with_manifest(source, target, change) -> None:
    """A copy of an export whose manifest `change` edited."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            data = old.read(name)
            if name == "manifest.json":
                manifest = json.loads(data)
                change(manifest)
                data = json.dumps(manifest)
            new.writestr(name, data)
        new.writestr("tenant/broken.jsonl", '{"id": 1, "name": "cut off here')


@pytest.mark.django_db
@pytest.mark.parametrize(
    "arguments, message",
    [
        (["account_export", "Not A Slug", "--out", "{tmp}/x.zip"], "'Not A Slug' is not an account slug"),
        (["account_export", "nosuch", "--out", "{tmp}/x.zip"], "no account 'nosuch'"),
        (["account_export", "alpha", "--out", "{tmp}/missing-dir/x.zip"], "does not exist"),
        (["account_delete", "Not A Slug", "--confirm", "Not A Slug"], "is not an account slug"),
        (["account_delete", "nosuch", "--confirm", "nosuch"], "no account 'nosuch'"),
        (["account_delete", "alpha"], "refusing to delete 'alpha': repeat its slug with --confirm alpha"),
        (["account_delete", "alpha", "--confirm", "beta"], "refusing to delete 'alpha': repeat its slug with --confirm alpha \\(got 'beta'\\)"),
        (["account_delete", "alpha", "--confirm", "alpha", "--no-export", "--out", "{tmp}/x.zip"], "give one of them"),
        (["account_import", "{tmp}/nothing.zip", "--slug", "fresh"], "does not exist"),
        (["account_import", "{tmp}/garbage.zip", "--slug", "fresh"], "is not a zip file"),
        (["account_import", "{tmp}/other.zip", "--slug", "fresh"], "has no manifest.json: not a Hearth account export"),
        (["account_import", "{tmp}/other.zip", "--slug", "beta"], "slug 'beta' is already taken"),
        (["account_import", "{tmp}/other.zip", "--slug", "Bad Slug"], "is invalid"),
        (["account_import", "{tmp}/other.zip", "--slug", "fresh", "--domain", "beta.localhost"], "domain 'beta.localhost' already serves"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(alpha, beta, tmp_path, arguments, message):
    (tmp_path / "garbage.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("readme.txt", "hello")
    before = _snapshot()
    with pytest.raises(CommandError, match=message):
        call_command(*[argument.replace("{tmp}", str(tmp_path)) for argument in arguments])
    assert _snapshot() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["garbage.zip", "other.zip"]  # no export, not even half a one


@pytest.mark.django_db
def test_an_export_never_overwrites_a_file(alpha, tmp_path):
    out = tmp_path / "alpha.zip"
    out.write_bytes(b"yesterday's export")
    with pytest.raises(CommandError, match="already exists"):
        call_command("account_export", "alpha", "--out", str(out))
    assert out.read_bytes() == b"yesterday's export"
    assert [path.name for path in tmp_path.iterdir()] == ["alpha.zip"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m["schema_version"]["conversations"].append("9999_from_the_future"),
         "comes from a newer schema than this Hearth's \\(1 unknown migrations, e.g. conversations.9999_from_the_future\\): upgrade Hearth first"),
        (lambda m: m["schema_version"]["kb"].pop(), "comes from an older schema \\(1 migrations missing, e.g. kb."),
        (lambda m: m.update(format_version=2), "is export format 2; this Hearth reads format 1"),
        (lambda m: m["members"].pop("kb.Chunk"), "is incomplete: missing kb.Chunk"),
        (lambda m: m["counts"].update({"conversations.Contact": 99}), "tenant/conversations.contact.jsonl holds 1 rows, the manifest says 99"),
        (lambda m: m.update(members=["tenant/kb.chunk.jsonl"]), "the manifest's account, counts or members are not what an export writes"),
        (lambda m: m["members"].update({"conversations.Contact": "tenant/broken.jsonl"}), "tenant/broken.jsonl:1: not a JSON line"),
    ],
)
def test_an_export_of_another_schema_or_a_damaged_one_is_refused_whole(alpha, tmp_path, change, message):
    with tenant_context(alpha):
        services.conversation_open(inbox=InboxFactory(), contact=ContactFactory(), content="hello")
    _export_of(alpha, tmp_path / "alpha.zip")
    _with_manifest(tmp_path / "alpha.zip", tmp_path / "edited.zip", change)
    before = _snapshot()
    with pytest.raises(CommandError, match=message):
        call_command("account_import", str(tmp_path / "edited.zip"), "--slug", "fresh")
    assert _snapshot() == before
    assert not schema_exists("fresh")


@pytest.mark.django_db
def test_a_refused_command_exits_1_with_one_line():
    env = {"HEARTH_DEV": "1", "DATABASE_URL": database_url_of_test_db(), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "manage.py", "account_delete", "beta", "--confirm", "bet"],
        cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["CommandError: refusing to delete 'beta': repeat its slug with --confirm beta (got 'bet')"]
    assert Account.objects.filter(schema_name="beta").exists() and schema_exists("beta")


@pytest.mark.usefixtures("committed_db")
def test_delete_exports_first_then_removes_everything_but_the_users(alpha, tmp_path):
    created = account_create(name="Gone Co", slug="gone", owner_email="boss@gone.example", owner_password="gone-secret-123")
    api_token_create(user=created.owner, account=created.account, name="CRM")
    with tenant_context(created.account):
        services.conversation_open(inbox=InboxFactory(), contact=ContactFactory(), content="last words")
        cache.set("greeting", "gone's value")
    with tenant_context(alpha):
        cache.set("greeting", "alpha's value")

    call_command("account_delete", "gone", "--confirm", "gone", "--out", str(tmp_path / "gone.zip"))

    assert not schema_exists("gone")
    assert not Account.objects.filter(schema_name="gone").exists()
    assert not Domain.objects.filter(domain="gone.localhost").exists()
    assert not Membership.objects.filter(user=created.owner).exists()
    assert not ApiToken.objects.filter(user=created.owner).exists() and not Invitation.objects.filter(email="boss@gone.example").exists()
    assert User.objects.filter(email="boss@gone.example").exists()  # logins are never deleted
    with schema_context("gone"):
        assert cache.get("greeting") is None  # the gone tenant's keys are dropped...
    with tenant_context(alpha):
        assert cache.get("greeting") == "alpha's value"  # ...and nobody else's

    # The export made before the deletion brings the account back.
    call_command("account_import", str(tmp_path / "gone.zip"), "--slug", "back", "--domain", "gone.localhost")
    back = Account.objects.get(schema_name="back")
    assert back.name == "Gone Co" and Domain.objects.get(domain="gone.localhost").tenant == back
    with tenant_context(back):
        assert Conversation.objects.get().messages.get().content == "last words"


@pytest.mark.usefixtures("committed_db")
def test_a_deletion_stopped_half_way_is_finished_by_running_again(tmp_path):
    created = account_create(name="Half Co", slug="half", owner_email="boss@half.example", owner_password="half-secret-123")
    with connection.cursor() as cursor:  # as if the command died right after dropping the schema
        cursor.execute('DROP SCHEMA "half" CASCADE')

    with pytest.raises(CommandError, match="has no schema any more .*run again with --no-export to finish"):
        call_command("account_delete", "half", "--confirm", "half", "--out", str(tmp_path / "half.zip"))
    assert Account.objects.filter(schema_name="half").exists() and not (tmp_path / "half.zip").exists()

    call_command("account_delete", "half", "--confirm", "half", "--no-export")
    assert not Account.objects.filter(pk=created.account.pk).exists()
    assert not Domain.objects.filter(tenant_id=created.account.pk).exists()


def test_every_tenant_model_is_exported():
    """Read from the app registry: a model added to a tenant app later is exported and
    imported without editing the exporter."""
    from django.apps import apps
    from django.conf import settings

    tenant_apps = [app for app in settings.TENANT_APPS if app not in settings.SHARED_APPS]
    expected = {model for app in tenant_apps for model in apps.get_app_config(app).get_models(include_auto_created=True)}
    exported = catalog.tenant_models()
    assert set(exported) == expected and len(exported) == len(expected)
    position = {model: index for index, model in enumerate(exported)}
    for model in exported:  # parents first
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model in position and field.related_model is not model:
                assert position[field.related_model] < position[model], f"{model._meta.label} before {field.related_model._meta.label}"


def test_every_public_model_of_an_account_has_a_decision():
    """A public table that points at accounts (a new one, say usage counters) must be
    exported, restored and deleted on purpose, not forgotten."""
    from django.apps import apps
    from django.conf import settings

    public_only = [app for app in settings.SHARED_APPS if app not in settings.TENANT_APPS]
    pointing = {
        model._meta.label
        for config in apps.get_app_configs() if config.name in public_only
        for model in config.get_models(include_auto_created=True)
        if any(field.is_relation and field.related_model is Account for field in model._meta.concrete_fields)
    }
    assert pointing <= set(catalog.PUBLIC_ACCOUNT_MODELS), (
        f"{sorted(pointing - set(catalog.PUBLIC_ACCOUNT_MODELS))}: decide in accounts/portability what export, import and delete do with it"
    )


@pytest.mark.usefixtures("committed_db")
def test_a_deletion_deadlocked_by_work_in_the_account_tries_again_and_finishes():
    """A task holding a lock in the account while DROP SCHEMA waits, then asking for a table
    the drop already holds: PostgreSQL ends the drop (its deadlock check runs first: 5 s after
    it starts waiting, the task's 60 s); the command tries again once the task's transaction is
    over. PostgreSQL checks once per wait, so the cycle must close within the drop's 5 s."""
    created = account_create(name="Busy Co", slug="busy", owner_email="boss@busy.example", owner_password="busy-secret-123")
    with tenant_context(created.account):
        services.conversation_open(inbox=InboxFactory(), contact=ContactFactory(), content="still being classified")
    failures = []

    def delete():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET deadlock_timeout = '5s'")
            call_command("account_delete", "busy", "--confirm", "busy", "--no-export")
        except Exception as error:  # whatever the command raised, reported by the assertion below
            failures.append(error)
        finally:
            connection.close()

    with psycopg.connect(database_url_of_test_db(), autocommit=False) as task:
        task.execute("SET deadlock_timeout = '60s'")
        task.execute('UPDATE busy.conversations_conversation SET subject = subject')  # the task's row lock
        deleting = threading.Thread(target=delete)
        deleting.start()
        drop_pid = _waiting_backend("DROP SCHEMA%")
        held = _relations_locked_by(drop_pid, schema="busy")
        assert held, "the drop waits on the conversation table before locking any other: pick another first table"
        task.execute(f'LOCK TABLE busy."{held[0]}" IN ACCESS SHARE MODE')  # waits for the drop: a cycle
        task.commit()
        deleting.join(timeout=90)

    assert not deleting.is_alive() and failures == []
    assert not schema_exists("busy") and not Account.objects.filter(schema_name="busy").exists()


def _waiting_backend(query_like: str, timeout: float = 30.0) -> int:
    with connection.cursor() as cursor:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE %s",
                [query_like],
            )
            row = cursor.fetchone()
            if row:
                return row[0]
            time.sleep(0.05)
    pytest.fail(f"no backend waiting on a lock for {query_like!r}")


def _relations_locked_by(pid: int, *, schema: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE l.pid = %s AND l.granted AND n.nspname = %s AND c.relkind = 'r' ORDER BY c.relname",
            [pid, schema],
        )
        return [row[0] for row in cursor.fetchall()]
