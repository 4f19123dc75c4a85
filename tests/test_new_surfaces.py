"""An attacker's pass over the surfaces added last session (issues 11 and 12): the reports API
and analytics pages, the queue's drill-down filters, invitations, members' roles, retention
periods, the portability commands and a suspended tenant's widget API.

Each test is a way in that answered a 500, let someone do what their role may not, or left
an operator with a traceback instead of one line; each asserts what the caller would notice
and that nothing stored changed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import Account, Invitation, Membership, User
from accounts.services import api_token_create
from config.errors import error_body
from conversations import services
from conversations.models import Message
from tests.accounts.factories import PASSWORD, MembershipFactory, UserFactory
from tests.conftest import REPO_DIR, admin_login, database_url_of_test_db
from tests.conversations.factories import ContactFactory, InboxFactory

pytestmark = pytest.mark.django_db
Role = Membership.Role


def _client(host: str = "alpha.localhost") -> Client:
    return Client(HTTP_HOST=host, raise_request_exception=False)


def _signed_in(account, role, host: str = "alpha.localhost"):
    user = MembershipFactory(account=account, role=role).user
    client = _client(host)
    admin_login(client, user.email, PASSWORD)
    return user, client


def _api_key(account, role) -> tuple[User, str]:
    user = MembershipFactory(account=account, role=role).user
    return user, api_token_create(user=user, account=account, name="audit")[1]


# ----------------------------------------------------------------------------- days at the edges of the calendar

# 9999-12-31 parses, but its end (the next midnight) and its month's successor overflow; year 1
# overflows in a zone east of UTC. Each of these gave a 500.
EDGE_PERIODS = [("9999-12-01", "9999-12-31"), ("0001-01-01", "0001-01-31"), ("9999-12-31", "9999-12-31")]


@pytest.mark.parametrize("report", ["summary", "daily", "monthly"])
@pytest.mark.parametrize(("since", "until"), EDGE_PERIODS)
def test_the_reports_api_answers_a_period_at_the_calendars_edge_with_a_400(alpha, report, since, until):
    _, key = _api_key(alpha, Role.MANAGER)
    response = _client().get(f"/api/v1/reports/{report}", {"since": since, "until": until}, HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "invalid" and "between 1900-01-01 and 9000-12-31" in error["message"]


@pytest.mark.parametrize("page", ["", "csat/", "months/", "ai/", "agents/", "teams/", "inboxes/", "categories/"])
def test_an_analytics_page_asked_for_a_period_at_the_calendars_edge_shows_the_form_error(alpha, page):
    _, client = _signed_in(alpha, Role.MANAGER)
    for since, until in EDGE_PERIODS:
        response = client.get(f"/admin/analytics/{page}", {"period": "custom", "since": since, "until": until})
        assert response.status_code == 200, (since, until, response.status_code)
        assert "must be between 1900-01-01 and 9000-12-31" in response.content.decode()


@pytest.mark.parametrize("parameter", ["created_day", "first_response_day", "resolved_day", "rated_day"])
def test_the_queues_drill_down_filters_match_nothing_for_a_day_at_the_calendars_edge(alpha, parameter):
    _, client = _signed_in(alpha, Role.MANAGER)
    with tenant_context(alpha):
        services.conversation_open(inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content="Where is my parcel?")
    for value in ["9999-12-31", "0001-01-01", "0001-01-01..9999-12-31", "2026-01-01..9999-12-31"]:
        response = client.get("/admin/conversations/conversation/", {parameter: value})
        assert response.status_code == 200, (value, response.status_code)
        assert "Where is my parcel?" not in response.content.decode()
    assert "Where is my parcel?" in client.get("/admin/conversations/conversation/").content.decode()


# ----------------------------------------------------------------------------- who may make an owner

# Owners alone erase contacts and set retention (accounts.access.ROLE_ACTIONS); an admin who
# could make an owner, or remove one, would have both.


def test_an_admin_cannot_invite_an_owner_through_the_api_but_an_owner_can(alpha):
    alpha.plan = Account.Plan.GROWTH  # seats for everyone here
    alpha.save(update_fields=["plan"])
    _, admin_key = _api_key(alpha, Role.ADMIN)
    _, owner_key = _api_key(alpha, Role.OWNER)
    client = _client()

    def invite(key, email, role):
        return client.post("/api/v1/invitations/", {"email": email, "role": role}, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Token {key}")

    refused = invite(admin_key, "second-me@example.org", "owner")
    assert refused.status_code == 403
    assert refused.json() == error_body("role_not_allowed", "only an owner may give or take away the owner role", {"role": ["not allowed"]})
    assert not Invitation.objects.filter(email="second-me@example.org").exists()
    assert invite(admin_key, "new-agent@example.org", "admin").status_code == 201  # any other role
    assert invite(owner_key, "co-owner@example.org", "owner").status_code == 201


def test_an_admin_cannot_invite_an_owner_in_the_desk(alpha):
    _, client = _signed_in(alpha, Role.ADMIN)
    page = client.get("/admin/accounts/invitation/add/").content.decode()
    roles = re.findall(r'<option value="(\w+)"', page.split('name="role"')[1].split("</select>")[0])
    assert "owner" not in roles and "admin" in roles
    response = client.post("/admin/accounts/invitation/add/", {"email": "second-me@example.org", "role": "owner"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Invitation.objects.filter(email="second-me@example.org").exists()


def test_an_admin_cannot_make_themselves_or_anyone_an_owner_nor_demote_or_remove_an_owner(alpha):
    admin, client = _signed_in(alpha, Role.ADMIN)
    owner = MembershipFactory(account=alpha, role=Role.OWNER).user
    agent = MembershipFactory(account=alpha, role=Role.AGENT).user
    mine, owners, agents = (Membership.objects.get(account=alpha, user=user) for user in (admin, owner, agent))

    def change(membership, role):
        return client.post(f"/admin/accounts/membership/{membership.pk}/change/", {
            "role": role, "availability": membership.availability,
            "max_concurrent_conversations": membership.max_concurrent_conversations or "",
        })

    for membership in (mine, agents):
        change(membership, "owner")
    change(owners, "agent")
    client.post(f"/admin/accounts/membership/{owners.pk}/delete/", {"post": "yes"})
    client.post("/admin/accounts/membership/", {"action": "delete_selected", "_selected_action": [owners.pk], "post": "yes"})
    roles = dict(Membership.objects.filter(account=alpha).values_list("user_id", "role"))
    assert roles == {admin.pk: "admin", owner.pk: "owner", agent.pk: "agent"}

    assert change(agents, "manager").status_code == 302  # other roles are the admin's to give
    assert Membership.objects.get(pk=agents.pk).role == "manager"

    _, owner_client = _signed_in(alpha, Role.OWNER)
    owner_client.post(f"/admin/accounts/membership/{mine.pk}/change/", {
        "role": "owner", "availability": mine.availability, "max_concurrent_conversations": mine.max_concurrent_conversations or "",
    })
    assert Membership.objects.get(pk=mine.pk).role == "owner"  # an owner makes owners


# ----------------------------------------------------------------------------- accepting an invitation


@pytest.mark.parametrize("field, value", [
    ("full_name", "Ann\x00Other"), ("full_name", "x" * 100_000), ("password1", "pass\x00word-long-enough"), ("full_name", "   "),
])
def test_accepting_an_invitation_with_hostile_fields_is_refused_and_makes_no_login(alpha, field, value):
    from accounts.services import invitation_email_send

    owner = MembershipFactory(account=alpha, role=Role.OWNER).user
    invitation = Invitation.objects.create(account=alpha, email="newcomer@example.org", role=Role.AGENT, invited_by=owner,
                                           expires_at=timezone.now() + timedelta(days=7))
    form = {"full_name": "Ann Other", "password1": "a-long-password-1", "password2": "a-long-password-1", field: value}
    if field == "password1":
        form["password2"] = value
    link = invitation_email_send(invitation=invitation, base_url="http://alpha.localhost/")
    response = _client().post(link.removeprefix("http://alpha.localhost"), form)
    assert response.status_code in (200, 400), response.status_code
    assert not User.objects.filter(email="newcomer@example.org").exists()
    assert Invitation.objects.get(pk=invitation.pk).accepted_at is None


# ----------------------------------------------------------------------------- retention periods


def _platform_operator() -> Client:
    client = _client("localhost")
    admin_login(client, UserFactory(is_superuser=True).email, PASSWORD)
    return client


def _form_of(client: Client, path: str) -> dict[str, list[str]]:
    from tests.test_every_url import _FormFields, _form_data

    fields = _FormFields()
    fields.feed(client.get(path).content.decode())
    return _form_data(fields)


@pytest.mark.parametrize("days", ["0", "-1", "36501", "2147483647", "999999999"])
def test_no_admin_stores_a_retention_period_the_nightly_job_cannot_keep(alpha, days):
    """0 days would erase every message at the next run (today's too); a period past what a
    date can hold would stop the nightly job in that tenant for good."""
    operator = _platform_operator()
    platform_page = f"/admin/accounts/account/{alpha.pk}/change/"
    _, owner = _signed_in(alpha, Role.OWNER)
    desk_page = f"/admin/accounts/account/{alpha.pk}/change/"
    for client, path in ((operator, platform_page), (owner, desk_page)):
        form = _form_of(client, path)
        form.update(retention_message_days=[days], retention_ai_payload_days=[days])
        response = client.post(path, form)
        assert response.status_code == 200, (path, response.status_code)  # the form again, with its error
        assert "Ensure this value is" in response.content.decode()  # the field's own error, shown by the field
        alpha.refresh_from_db()
        assert (alpha.retention_message_days, alpha.retention_ai_payload_days) == (None, None)


def test_the_retention_service_refuses_a_period_past_what_a_date_can_hold(alpha):
    from config.errors import ApplicationError

    with pytest.raises(ApplicationError, match="at most 36500"):
        services.account_retention_set(account=alpha, message_days=36_501, ai_payload_days=None)
    alpha.refresh_from_db()
    assert alpha.retention_message_days is None


# ----------------------------------------------------------------------------- portability commands


@pytest.mark.parametrize("arguments", [
    ["account_export", "alpha", "--out", "/proc/alpha.zip"],
    ["account_delete", "alpha", "--confirm", "alpha", "--out", "/proc/alpha.zip"],
])
def test_an_export_to_a_directory_it_cannot_write_is_one_line_and_deletes_nothing(alpha, arguments):
    with tenant_context(alpha):
        services.conversation_open(inbox=InboxFactory(), contact=ContactFactory(), content="kept")
    with pytest.raises(CommandError, match=r"^cannot write the export in /proc: "):
        call_command(*arguments)
    assert Account.objects.filter(schema_name="alpha").exists()
    with tenant_context(alpha):
        assert list(Message.objects.values_list("content", flat=True)) == ["kept"]


def test_an_unwritable_out_exits_1_with_one_line():
    env = {"HEARTH_DEV": "1", "DATABASE_URL": database_url_of_test_db(), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "manage.py", "account_export", "beta", "--out", "/proc/beta.zip"],
                            cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("CommandError: cannot write the export in /proc: ")


# ----------------------------------------------------------------------------- a suspended tenant's widget


def test_a_suspended_tenants_widget_preflight_is_answered_for_its_origins_only(alpha, django_capture_on_commit_callbacks):
    shop = "https://shop.example"
    with tenant_context(alpha):
        token = InboxFactory(allowed_origins=[shop]).widget_token
    with django_capture_on_commit_callbacks(execute=True):
        call_command("account_suspend", "alpha", stdout=__import__("io").StringIO())
    client = _client()
    preflight = client.options("/api/widget/v1/sessions", HTTP_ORIGIN=shop, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                               HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type")
    assert preflight.status_code < 500 and preflight.get("Access-Control-Allow-Origin") in (shop, "*")
    stranger = client.post("/api/widget/v1/sessions", json.dumps({"widget_token": token}), content_type="application/json",
                           HTTP_ORIGIN="https://evil.example")
    assert stranger.status_code == 403 and stranger.json()["error"]["code"] == "account_suspended"
    assert stranger.get("Access-Control-Allow-Origin") in (None, "*") or stranger["Access-Control-Allow-Origin"] != "https://evil.example"


# ----------------------------------------------------------------------------- the platform's suspend action


@pytest.mark.parametrize(("reason", "selected", "told"), [
    ("no\x00thanks", ["alpha", "public"], None),  # refused where the form enters (400)
    ("x" * 201, ["alpha"], "the reason may be at most 200 characters"),
    ("Unpaid", ["public"], "the platform's own account (public schema) cannot be suspended or resumed"),
])
def test_the_platform_suspend_action_refuses_a_bad_reason_and_the_platforms_own_row_changing_nothing(reason, selected, told):
    from accounts.models import AccountEvent

    operator = _platform_operator()
    before = sorted(Account.objects.values_list("schema_name", "state")), AccountEvent.objects.count()
    response = operator.post("/admin/accounts/account/", {
        "action": "suspend_accounts", "confirm": "yes", "reason": reason,
        "_selected_action": list(Account.objects.filter(schema_name__in=selected).values_list("pk", flat=True)),
    }, follow=True)
    assert response.status_code in (200, 400)
    assert (sorted(Account.objects.values_list("schema_name", "state")), AccountEvent.objects.count()) == before
    if told is not None:
        assert told in [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize(("field", "value", "told"), [
    ("timezone", "Mars/Olympus_Mons", "timezone"),
    ("retention_message_days", 0, "retention_message_days"),
    ("plan", "platinum", "plan"),
    ("name", "Acme\x00", "name"),
])
def test_an_export_whose_account_fields_were_edited_into_nonsense_is_refused_whole(alpha, tmp_path, field, value, told):
    """An account row the desk cannot serve (a time zone no clock knows, a retention of 0 days
    that would erase everything tonight) never becomes a tenant: one line, nothing made."""
    from tests.accounts.test_export_commands import _export_of, _snapshot, _with_manifest

    _export_of(alpha, tmp_path / "alpha.zip")
    _with_manifest(tmp_path / "alpha.zip", tmp_path / "edited.zip", lambda manifest: manifest["account"].update({field: value}))
    before = _snapshot()
    with pytest.raises(CommandError, match=rf"^the export's account is not valid: {told}: "):
        call_command("account_import", str(tmp_path / "edited.zip"), "--slug", "fresh")
    assert _snapshot() == before
