"""Suspending and resuming an account: the commands, and what a suspended tenant's people,
customers, API clients and background jobs meet (accounts/lifecycle.py)."""

import io
import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context, tenant_context

from accounts.models import Account, AccountEvent, Membership
from accounts.services import api_token_create
from analytics.models import JobStatus
from analytics.tasks import tenant_heartbeat
from config.celery import app as celery_app
from tests.accounts.factories import PASSWORD, MembershipFactory
from tests.conftest import REPO_DIR, admin_login, database_url_of_test_db, wait_for
from tests.conversations.factories import InboxFactory

SHOP = "https://shop.example"


def _states():
    return {
        "accounts": sorted(Account.objects.values_list("schema_name", "state", "suspended_at", "suspended_reason")),
        "events": AccountEvent.objects.count(),
    }


# ----------------------------------------------------------------------------- the commands


@pytest.mark.django_db
def test_suspend_then_resume_records_who_when_and_why(alpha, capsys):
    call_command("account_suspend", "alpha", reason="Unpaid invoice 2026-11")

    assert capsys.readouterr().out.strip() == "suspended account 'alpha': Unpaid invoice 2026-11"
    alpha.refresh_from_db()
    assert alpha.is_suspended and alpha.suspended_at is not None and alpha.suspended_reason == "Unpaid invoice 2026-11"
    event = AccountEvent.objects.get(account=alpha)
    assert (event.action, event.reason, event.by) == (AccountEvent.Action.SUSPENDED, "Unpaid invoice 2026-11", None)
    assert event.source.startswith("manage.py account_suspend (system user ")
    assert not Account.objects.get(schema_name="beta").is_suspended

    call_command("account_resume", "alpha")

    assert capsys.readouterr().out.strip() == "resumed account 'alpha'"
    alpha.refresh_from_db()
    assert (alpha.state, alpha.suspended_at, alpha.suspended_reason) == (Account.State.ACTIVE, None, "")
    assert list(AccountEvent.objects.filter(account=alpha).values_list("action", flat=True)) == ["resumed", "suspended"]


@pytest.mark.django_db
def test_each_command_twice_changes_nothing_the_second_time_and_says_so(alpha, capsys):
    call_command("account_suspend", "alpha", reason="abuse")
    capsys.readouterr()
    before = _states()

    call_command("account_suspend", "alpha", reason="another reason")
    out = capsys.readouterr().out.strip()
    assert out.startswith("account 'alpha' was already suspended since ") and out.endswith(" UTC (abuse); nothing changed")
    assert _states() == before

    call_command("account_resume", "alpha")
    capsys.readouterr()
    before = _states()
    call_command("account_resume", "alpha")
    assert capsys.readouterr().out.strip() == "account 'alpha' is already active; nothing changed"
    assert _states() == before


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["account_suspend", "account_resume"])
@pytest.mark.parametrize(("slug", "message"), [
    ("Bad-Slug", "'Bad-Slug' is not an account slug"),
    ("zeta", "no account 'zeta'"),
    ("public", "'public' is the platform's own schema, not an account"),
])
def test_bad_slug_unknown_account_and_public_schema_are_refused_changing_nothing(django_db_setup, command, slug, message):
    if command == "account_resume":  # something to resume, so a refusal that changed state would show
        call_command("account_suspend", "beta")
    before = _states()
    with pytest.raises(CommandError) as refused:
        call_command(command, slug)
    assert str(refused.value).startswith(message)
    assert _states() == before


@pytest.mark.django_db
def test_a_reason_too_long_is_refused_changing_nothing(alpha):
    before = _states()
    with pytest.raises(CommandError, match="the reason may be at most 200 characters"):
        call_command("account_suspend", "alpha", reason="x" * 201)
    assert _states() == before


@pytest.mark.django_db
@pytest.mark.parametrize(("arguments", "line"), [
    (["account_suspend", "public"], "CommandError: 'public' is the platform's own schema, not an account"),
    (["account_resume", "nosuchaccount"], "CommandError: no account 'nosuchaccount' (the account's slug, as in its schema name)"),
])
def test_a_refused_command_exits_1_with_one_line(django_db_setup, arguments, line):
    before = _states()
    env = {"HEARTH_DEV": "1", "DATABASE_URL": database_url_of_test_db(), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "manage.py", *arguments], cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [line]
    assert _states() == before


# ----------------------------------------------------------------------------- the desk and the APIs (in process)


@pytest.fixture
def suspend(django_capture_on_commit_callbacks):
    """Suspend or resume through the command, running its after-commit work (the tenant
    cache's invalidation) as a real commit would."""
    def change(command: str, slug: str):
        with django_capture_on_commit_callbacks(execute=True):
            call_command(command, slug, stdout=io.StringIO())

    return change


@pytest.mark.django_db
def test_a_signed_in_member_is_refused_at_once_and_served_again_after_resume(alpha, beta, alpha_client, beta_client, suspend):
    member = MembershipFactory(account=alpha, role=Membership.Role.OWNER).user
    beta_owner = MembershipFactory(account=beta, role=Membership.Role.OWNER).user
    admin_login(alpha_client, member.email, PASSWORD)
    admin_login(beta_client, beta_owner.email, PASSWORD)
    assert alpha_client.get("/admin/").status_code == 200  # the tenant is now in this process's cache

    suspend("account_suspend", "alpha")

    page = alpha_client.get("/admin/")
    assert page.status_code == 403
    assert "This account is suspended" in page.content.decode() and "Alpha Corp" in page.content.decode()
    login = alpha_client.post("/admin/login/", {"username": member.email, "password": PASSWORD})
    assert login.status_code == 403 and b"This account is suspended" in login.content
    # Reached by its path prefix instead of its host: the same answer.
    assert alpha_client.get("/t/alpha/admin/", HTTP_HOST="localhost").status_code == 403
    assert beta_client.get("/admin/").status_code == 200  # other tenants are not touched

    suspend("account_resume", "alpha")

    assert alpha_client.get("/admin/").status_code == 200  # the same session: nothing was deleted


@pytest.mark.django_db
def test_a_suspended_tenants_apis_answer_403_account_suspended(alpha, beta, alpha_client, beta_client, suspend):
    with tenant_context(alpha):
        inbox = InboxFactory(allowed_origins=[SHOP])
        token = inbox.widget_token
    member = MembershipFactory(account=alpha, role=Membership.Role.OWNER).user
    key = api_token_create(user=member, account=alpha, name="crm")[1]
    beta_member = MembershipFactory(account=beta, role=Membership.Role.OWNER).user
    beta_key = api_token_create(user=beta_member, account=beta, name="crm")[1]

    def open_session():
        return alpha_client.post("/api/widget/v1/sessions", data=json.dumps({"widget_token": token}),
                                 content_type="application/json", HTTP_ORIGIN=SHOP)

    assert open_session().status_code == 201
    assert alpha_client.get("/api/v1/conversations/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200

    suspend("account_suspend", "alpha")

    widget = open_session()
    assert widget.status_code == 403
    assert widget.json() == {"error": {"code": "account_suspended", "message": "This account is suspended.", "fields": {}}}
    assert widget["Access-Control-Allow-Origin"] == SHOP  # the widget on the shop's page can read why
    agents = alpha_client.get("/api/v1/conversations/", HTTP_AUTHORIZATION=f"Token {key}")
    assert agents.status_code == 403 and agents.json()["error"]["code"] == "account_suspended"
    assert beta_client.get("/api/v1/conversations/", HTTP_AUTHORIZATION=f"Token {beta_key}").status_code == 200

    suspend("account_resume", "alpha")

    assert open_session().status_code == 201
    assert alpha_client.get("/api/v1/conversations/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


# ----------------------------------------------------------------------------- another process's cache


@pytest.fixture
def accounts_active_afterwards(committed_db):
    """alpha and beta stay for the whole session: a committed test that fails half-way must
    not leave one suspended for the tests after it (nor cached as such by another process)."""
    yield
    from accounts.middleware import tenant_cache_invalidate

    Account.objects.update(state=Account.State.ACTIVE, suspended_at=None, suspended_reason="")
    tenant_cache_invalidate()


def _get(url: str, host: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.usefixtures("accounts_active_afterwards")
def test_a_web_process_that_cached_the_tenant_refuses_its_next_request(live_server_url):
    """The web server is another process, whose tenant cache holds alpha as active: the next
    request after the suspension is refused all the same, without a restart."""
    login = f"{live_server_url}/admin/login/"
    assert _get(login, "alpha.localhost")[0] == 200

    call_command("account_suspend", "alpha", stdout=io.StringIO())

    status, body = _get(login, "alpha.localhost")
    assert status == 403 and "This account is suspended" in body
    assert _get(login, "beta.localhost")[0] == 200

    call_command("account_resume", "alpha", stdout=io.StringIO())

    assert _get(login, "alpha.localhost")[0] == 200


# ----------------------------------------------------------------------------- Celery


def _heartbeats(schema: str) -> int:
    with schema_context(schema):
        status = JobStatus.objects.filter(job="heartbeat").first()
        return status.run_count if status else 0


@pytest.mark.usefixtures("accounts_active_afterwards", "celery_worker")
def test_a_real_worker_skips_a_suspended_tenants_tasks_and_runs_them_again_after_resume(tmp_path):
    from tenant_schemas_celery.scheduler import TenantAwarePersistentScheduler

    call_command("account_suspend", "beta", stdout=io.StringIO())
    # One worker takes the queue in order: once alpha's task (queued last) has run, beta's
    # (queued first) has been taken too, and skipped.
    with schema_context("beta"):
        tenant_heartbeat.delay()
    with schema_context("alpha"):
        tenant_heartbeat.delay()
    wait_for(lambda: _heartbeats("alpha") == 1, what="alpha's heartbeat")
    assert _heartbeats("beta") == 0

    # Beat's per-tenant dispatch meets the same check.
    scheduler = TenantAwarePersistentScheduler(app=celery_app, schedule_filename=str(tmp_path / "beat"), lazy=True)
    scheduler.setup_schedule()
    with celery_app.producer_or_acquire() as producer:
        scheduler.apply_entry(scheduler.schedule["tenant-heartbeat@__all_tenants_only__"], producer=producer)
    with schema_context("alpha"):
        tenant_heartbeat.delay()
    wait_for(lambda: _heartbeats("alpha") == 3, what="alpha's beat and queued heartbeats")
    assert _heartbeats("beta") == 0

    call_command("account_resume", "beta", stdout=io.StringIO())
    with schema_context("beta"):
        tenant_heartbeat.delay()
    wait_for(lambda: _heartbeats("beta") == 1, what="beta's heartbeat after resume")
