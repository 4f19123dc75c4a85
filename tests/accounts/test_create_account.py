"""`manage.py create_account`: schema, domain and owner in one step, or nothing at all."""

import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_exists

from accounts.models import Account, Domain, Membership, User
from tests.accounts.factories import UserFactory
from tests.conftest import REPO_DIR, admin_login, database_url_of_test_db

pytestmark = pytest.mark.usefixtures("committed_db")


def _snapshot():
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace ORDER BY nspname")
        schemas = [row[0] for row in cursor.fetchall()]
    return {
        "accounts": sorted(Account.objects.values_list("schema_name", flat=True)),
        "domains": sorted(Domain.objects.values_list("domain", flat=True)),
        "users": sorted(User.objects.values_list("email", flat=True)),
        "memberships": Membership.objects.count(),
        "schemas": schemas,
    }


def test_creates_schema_domain_and_owner_who_can_sign_in(capsys):
    call_command("create_account", name="Gamma Ltd", slug="gamma", owner_email="Boss@Gamma.example", password="gamma-secret-1")

    out = capsys.readouterr().out
    assert "created account 'gamma'" in out and "gamma.localhost" in out
    account = Account.objects.get(schema_name="gamma")
    assert account.name == "Gamma Ltd"
    assert schema_exists("gamma")
    assert Domain.objects.get(tenant=account).domain == "gamma.localhost"
    membership = Membership.objects.get(account=account)
    assert (membership.user.email, membership.role) == ("boss@gamma.example", Membership.Role.OWNER)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'gamma' AND table_name = 'analytics_jobstatus'")
        assert cursor.fetchone() == (1,)

    client = Client(HTTP_HOST="gamma.localhost")
    admin_login(client, "boss@gamma.example", "gamma-secret-1")
    assert client.get("/admin/").status_code == 200


def test_existing_user_becomes_owner_and_keeps_their_password(capsys):
    existing = UserFactory(email="shared@example.com")
    old_hash = existing.password
    call_command("create_account", name="Delta", slug="delta", owner_email="shared@example.com", password="ignored-pass-1", domain="help.delta.example")

    existing.refresh_from_db()
    assert existing.password == old_hash
    assert Domain.objects.get(tenant__schema_name="delta").domain == "help.delta.example"
    assert "(existing user)" in capsys.readouterr().out


def test_new_owner_without_password_gets_one_printed_once(capsys):
    call_command("create_account", name="Eps", slug="eps", owner_email="new@eps.example")
    out = capsys.readouterr().out
    password = out.split("owner password (shown once): ")[1].strip()
    assert User.objects.get(email="new@eps.example").check_password(password)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"slug": "alpha"}, "slug 'alpha' is already taken"),
        ({"slug": "Bad-Slug"}, "slug 'Bad-Slug' is invalid"),
        ({"slug": "public"}, "slug 'public' is reserved"),
        ({"slug": "x"}, "is invalid"),
        ({"owner_email": "not-an-email"}, "owner email 'not-an-email' is not a valid email address"),
        ({"domain": "alpha.localhost"}, "domain 'alpha.localhost' already serves another account"),
        ({"password": "short"}, "too short"),
        ({"timezone": "Mars/Olympus"}, "not a known time zone"),
        ({"name": "   "}, "name must not be empty"),
    ],
)
def test_each_failure_is_one_readable_error_and_creates_nothing(arguments, message):
    before = _snapshot()
    options = {"name": "Zeta", "slug": "zeta", "owner_email": "owner@zeta.example", "password": "zeta-secret-1", **arguments}
    with pytest.raises(CommandError, match=message):
        call_command("create_account", **options)
    assert _snapshot() == before


def test_failure_exits_non_zero_with_one_line():
    before = _snapshot()
    env = {"HEARTH_DEV": "1", "DATABASE_URL": database_url_of_test_db(), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "manage.py", "create_account", "--name", "Again", "--slug", "beta", "--owner-email", "x@y.example"],
        cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["CommandError: slug 'beta' is already taken"]
    assert _snapshot() == before
