"""Secrets in the desk: an inbox's HMAC secret is shown once to an owner or admin, masked
after; widget tokens are hidden from managers; API token hashes are never shown."""

import re

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import ApiToken, Membership
from accounts.services import api_token_create
from conversations.models import Inbox, WidgetSession
from tests.accounts.factories import PASSWORD, MembershipFactory, UserFactory
from tests.conftest import admin_login
from tests.conversations.factories import ContactFactory, InboxFactory

pytestmark = pytest.mark.django_db
Role = Membership.Role
INBOXES = "/admin/conversations/inbox/"


def _login(client, account, role):
    user = MembershipFactory(account=account, role=role).user
    admin_login(client, user.email, PASSWORD)
    return user


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_owner_sees_a_new_inboxs_hmac_secret_once_then_masked(alpha, alpha_client):
    _login(alpha_client, alpha, Role.OWNER)
    made = alpha_client.post(f"{INBOXES}add/", {
        "name": "Website", "channel": "web_widget", "greeting": "", "timezone": "UTC", "business_hours": "{}",
        "ai_confidence_threshold": "0.8", "allowed_origins": "", "auto_assign": "on",
    }, follow=True)
    with tenant_context(alpha):
        inbox = Inbox.objects.get(name="Website")
    assert [m for m in _messages(made) if inbox.hmac_secret in m], _messages(made)
    page = alpha_client.get(f"{INBOXES}{inbox.pk}/change/").content.decode()
    assert inbox.hmac_secret not in page
    assert f"••••{inbox.hmac_secret[-4:]}" in page
    assert inbox.widget_token in page  # owners paste it into the widget snippet
    assert inbox.hmac_secret not in alpha_client.get(f"{INBOXES}{inbox.pk}/change/").content.decode()  # once only


def test_rotating_the_hmac_secret_shows_the_new_one_once_and_ends_identified_sessions(alpha, alpha_client):
    with tenant_context(alpha):
        inbox, contact = InboxFactory(), ContactFactory(external_id="cust-1")
        identified = WidgetSession.objects.create(inbox=inbox, contact=contact, identified=True, expires_at=timezone.now() + timezone.timedelta(hours=1))
        anonymous = WidgetSession.objects.create(inbox=inbox, contact=contact, identified=False, expires_at=timezone.now() + timezone.timedelta(hours=1))
        old = inbox.hmac_secret
    _login(alpha_client, alpha, Role.ADMIN)
    response = alpha_client.post(INBOXES, {"action": "rotate_hmac_secret", "_selected_action": [inbox.pk]}, follow=True)
    with tenant_context(alpha):
        inbox.refresh_from_db()
        identified.refresh_from_db()
        anonymous.refresh_from_db()
    assert inbox.hmac_secret != old
    assert any(inbox.hmac_secret in m for m in _messages(response))
    assert identified.revoked_at is not None and anonymous.revoked_at is None
    assert inbox.hmac_secret not in alpha_client.get(f"{INBOXES}{inbox.pk}/change/").content.decode()


def test_managers_never_see_the_hmac_secret_or_the_widget_token_and_cannot_rotate(alpha, alpha_client):
    with tenant_context(alpha):
        inbox = InboxFactory()
    _login(alpha_client, alpha, Role.MANAGER)
    page = alpha_client.get(f"{INBOXES}{inbox.pk}/change/").content.decode()
    assert alpha_client.get(f"{INBOXES}{inbox.pk}/change/").status_code == 200
    assert inbox.hmac_secret not in page and inbox.widget_token not in page
    assert "rotate_hmac_secret" not in alpha_client.get(INBOXES).content.decode()
    alpha_client.post(INBOXES, {"action": "rotate_hmac_secret", "_selected_action": [inbox.pk]})
    with tenant_context(alpha):
        assert Inbox.objects.get(pk=inbox.pk).hmac_secret == inbox.hmac_secret


def test_owner_lists_and_revokes_their_accounts_api_tokens_never_seeing_a_hash(alpha, beta, alpha_client):
    owner = _login(alpha_client, alpha, Role.OWNER)
    token, key = api_token_create(user=owner, account=alpha, name="CRM sync")
    beta_user = MembershipFactory(account=beta, role=Role.OWNER).user
    api_token_create(user=beta_user, account=beta, name="Beta export")
    listing = alpha_client.get("/admin/accounts/apitoken/").content.decode()
    assert "CRM sync" in listing and f"{token.prefix}…" in listing
    assert "Beta export" not in listing
    detail = alpha_client.get(f"/admin/accounts/apitoken/{token.pk}/change/").content.decode()
    for page in (listing, detail):
        assert token.key_hash not in page and key not in page

    assert alpha_client.get("/api/v1/contacts/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    alpha_client.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert alpha_client.get("/api/v1/contacts/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


@pytest.mark.parametrize("role", [Role.MANAGER, Role.AGENT])
def test_managers_and_agents_see_no_api_tokens(role, alpha, alpha_client):
    _login(alpha_client, alpha, role)
    assert alpha_client.get("/admin/accounts/apitoken/").status_code == 403


def test_platform_operator_revokes_a_token_by_setting_revoked_at(alpha, alpha_client, public_client):
    member = MembershipFactory(account=alpha, role=Role.AGENT).user
    token, key = api_token_create(user=member, account=alpha, name="Old integration")
    operator = UserFactory(is_superuser=True)
    admin_login(public_client, operator.email, PASSWORD)
    page = public_client.get(f"/admin/accounts/apitoken/{token.pk}/change/").content.decode()
    assert token.key_hash not in page and 'name="revoked_at_0"' in page
    saved = public_client.post(f"/admin/accounts/apitoken/{token.pk}/change/", {"revoked_at_0": "2026-01-01", "revoked_at_1": "10:00:00"})
    assert saved.status_code == 302
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert alpha_client.get("/api/v1/contacts/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert re.search(token.key_hash, public_client.get("/admin/accounts/apitoken/").content.decode()) is None
