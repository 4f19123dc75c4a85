"""People join an account by invitation: the owner learns nothing about anyone outside it."""

import re

import pytest
from django.core import mail
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts.models import Invitation, Membership, User
from accounts.tasks import invitation_send
from tests.accounts.factories import PASSWORD, MembershipFactory, UserFactory
from tests.conftest import admin_login

pytestmark = pytest.mark.django_db
Role = Membership.Role
INVITE = "/admin/accounts/invitation/"
BASE_URL = "http://alpha.localhost/"


@pytest.fixture
def owner(alpha, alpha_client):
    user = MembershipFactory(account=alpha, role=Role.OWNER, user=UserFactory(full_name="Olive Owner")).user
    admin_login(alpha_client, user.email, PASSWORD)
    return user


@pytest.fixture
def outsider(beta):
    """Someone with a login in another account only."""
    return MembershipFactory(account=beta, role=Role.OWNER, user=UserFactory(email="bart@elsewhere.example", full_name="Bartholomew Outsider")).user


@pytest.fixture
def invite(alpha_client, django_capture_on_commit_callbacks):
    """The owner invites through the desk; the e-mail task is queued after commit (one
    callback) and run here in-process, its mail landing in Django's locmem outbox."""

    def make(email, role="agent"):
        mail.outbox.clear()
        with django_capture_on_commit_callbacks() as callbacks:
            response = alpha_client.post(f"{INVITE}add/", {"email": email, "role": role}, follow=True)
        assert len(callbacks) == 1  # the e-mail task, queued for after commit
        assert mail.outbox == []  # nothing is sent before the invitation is committed
        invitation = Invitation.objects.get(email=email.lower(), accepted_at__isnull=True, revoked_at__isnull=True)
        return response, invitation

    return make


def send(invitation) -> str:
    """Run the e-mail task as the worker would; the link from the e-mail it sent."""
    mail.outbox.clear()
    assert invitation_send(invitation_id=invitation.pk, base_url=BASE_URL) is True
    assert [message.to for message in mail.outbox] == [[invitation.email]]
    return re.search(r"http://alpha\.localhost(/invite/[\w-]+/)", mail.outbox[0].body).group(1)


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_a_new_person_accepts_with_a_name_and_password_and_lands_in_the_desk(owner, invite, alpha, client):
    response, invitation = invite("New.Person@Example.com", role="manager")
    assert _messages(response) == ["Invitation sent to new.person@example.com. It is valid for 7 days."]
    assert not User.objects.filter(email="new.person@example.com").exists()  # nothing made before acceptance
    link = send(invitation)
    assert "Olive Owner invited you to join Alpha Corp" in mail.outbox[0].body

    page = client.get(link, HTTP_HOST="alpha.localhost")
    assert page.status_code == 200 and b"Choose your name and a password" in page.content
    refused = client.post(link, {"full_name": "Nina New", "password1": "short", "password2": "short"}, HTTP_HOST="alpha.localhost")
    assert refused.status_code == 200 and b"too short" in refused.content
    assert not User.objects.filter(email="new.person@example.com").exists()

    joined = client.post(link, {"full_name": "Nina New", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"}, HTTP_HOST="alpha.localhost")
    assert joined.status_code == 302 and joined["Location"] == "/admin/"
    membership = Membership.objects.get(account=alpha, user__email="new.person@example.com")
    assert (membership.role, membership.user.full_name) == ("manager", "Nina New")
    assert client.get("/admin/", HTTP_HOST="alpha.localhost").status_code == 200  # signed in
    again = client.get(link, HTTP_HOST="alpha.localhost")
    assert again.status_code == 410 and b"already been used" in again.content


def test_someone_with_a_login_elsewhere_must_sign_in_with_their_password(owner, invite, outsider, alpha, client):
    _, invitation = invite(outsider.email)
    link = send(invitation)
    page = client.get(link, HTTP_HOST="alpha.localhost")
    assert b"already has a Hearth login" in page.content
    wrong = client.post(link, {"password": "not-their-password"}, HTTP_HOST="alpha.localhost")
    assert wrong.status_code == 200 and b"password is not right" in wrong.content
    assert not Membership.objects.filter(account=alpha, user=outsider).exists()
    # Nor can a new login be forced onto the address through the other form.
    client.post(link, {"full_name": "Mallory", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"}, HTTP_HOST="alpha.localhost")
    assert not Membership.objects.filter(account=alpha, user=outsider).exists()

    joined = client.post(link, {"password": PASSWORD}, HTTP_HOST="alpha.localhost")
    assert joined.status_code == 302
    assert Membership.objects.get(account=alpha, user=outsider).role == "agent"
    outsider.refresh_from_db()
    assert outsider.check_password(PASSWORD) and outsider.full_name == "Bartholomew Outsider"  # their login is untouched


def test_password_guesses_through_a_link_are_limited(owner, invite, outsider, alpha, client):
    _, invitation = invite(outsider.email)
    link = send(invitation)
    for _ in range(10):
        assert client.post(link, {"password": "guess"}, HTTP_HOST="alpha.localhost").status_code == 200
    blocked = client.post(link, {"password": PASSWORD}, HTTP_HOST="alpha.localhost")
    assert blocked.status_code == 429 and b"Too many attempts" in blocked.content
    assert not Membership.objects.filter(account=alpha, user=outsider).exists()


def test_inviting_an_address_of_another_tenant_answers_exactly_as_a_new_address(owner, invite, outsider, alpha_client):
    known, _ = invite(outsider.email)
    unknown, _ = invite("nobody-yet@elsewhere.example")

    def normalised(response, email):
        return [m.replace(email, "ADDRESS") for m in _messages(response)], response.status_code, response.redirect_chain

    assert normalised(known, outsider.email) == normalised(unknown, "nobody-yet@elsewhere.example")
    rows = alpha_client.get(INVITE).content.decode()
    row_known = next(row.split("</tr>")[0] for row in rows.split("<tr") if outsider.email in row)
    row_unknown = next(row.split("</tr>")[0] for row in rows.split("<tr") if "nobody-yet@elsewhere.example" in row)
    def strip(row, email):  # ids and the minute it was sent may differ; nothing else may
        row = re.sub(r'nowrap">[^<]*<', 'nowrap"><', row.replace(email, "ADDRESS"))
        return re.sub(r"/\d+/", "/N/", re.sub(r'value="\d+"', "", row))

    assert strip(row_known, outsider.email) == strip(row_unknown, "nobody-yet@elsewhere.example")


def test_the_name_of_a_user_outside_the_tenant_never_appears(owner, invite, outsider, alpha_client):
    response, invitation = invite(outsider.email)
    pages = [response, alpha_client.get(INVITE), alpha_client.get(f"{INVITE}{invitation.pk}/change/"),
             alpha_client.get(INVITE, {"q": "bart"}), alpha_client.get("/admin/accounts/membership/", {"q": "bart"}),
             alpha_client.post(f"{INVITE}add/", {"email": outsider.email, "role": "admin"}, follow=True)]
    for page in pages:
        assert page.status_code == 200
        assert b"Bartholomew" not in page.content and b"Outsider" not in page.content


def test_an_address_already_in_this_account_is_told_so(owner, alpha_client, alpha):
    member = MembershipFactory(account=alpha, role=Role.AGENT).user
    response = alpha_client.post(f"{INVITE}add/", {"email": member.email.upper(), "role": "agent"})
    assert response.status_code == 200 and b"already a member of this account" in response.content
    assert not Invitation.objects.exists()


def test_inviting_again_resends_with_a_new_link_and_the_old_link_stops_working(owner, invite, alpha_client, client, django_capture_on_commit_callbacks):
    _, invitation = invite("twice@example.com")
    first = send(invitation)
    _, again = invite("twice@example.com", role="admin")
    assert again.pk == invitation.pk and again.role == "admin"
    second = send(again)
    assert client.get(first, HTTP_HOST="alpha.localhost").status_code == 404
    assert client.get(second, HTTP_HOST="alpha.localhost").status_code == 200

    with django_capture_on_commit_callbacks() as callbacks:
        resent = alpha_client.post(INVITE, {"action": "resend", "_selected_action": [invitation.pk]}, follow=True)
    assert len(callbacks) == 1 and "Sent 1 invitation(s) again." in _messages(resent)
    third = send(invitation)
    assert client.get(second, HTTP_HOST="alpha.localhost").status_code == 404
    assert client.get(third, HTTP_HOST="alpha.localhost").status_code == 200


def test_revoked_expired_unknown_and_foreign_links_get_a_clear_page(owner, invite, alpha_client, client, beta):
    _, revoked = invite("revoked@example.com")
    revoked_link = send(revoked)
    alpha_client.post(INVITE, {"action": "revoke", "_selected_action": [revoked.pk]})
    page = client.get(revoked_link, HTTP_HOST="alpha.localhost")
    assert page.status_code == 410 and b"withdrawn" in page.content
    assert invitation_send(invitation_id=revoked.pk, base_url=BASE_URL) is False  # a queued send after revoking sends nothing

    _, expired = invite("expired@example.com")
    expired_link = send(expired)
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    page = client.get(expired_link, HTTP_HOST="alpha.localhost")
    assert page.status_code == 410 and b"expired" in page.content
    assert client.post(expired_link, {"full_name": "Late", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
                       HTTP_HOST="alpha.localhost").status_code == 410
    assert not User.objects.filter(email="expired@example.com").exists()

    for token in ["x" * 43, "short", "²" * 30]:
        page = client.get(f"/invite/{token}/", HTTP_HOST="alpha.localhost")
        assert page.status_code == 404 and b"not valid" in page.content
    # A NUL in any path is refused before routing (config/middleware.py), like everywhere else.
    assert client.get(f"/invite/{'%00' * 30}/", HTTP_HOST="alpha.localhost").status_code == 400

    # A link of alpha's opened on beta's host: beta knows no such invitation.
    _, pending = invite("pending@example.com")
    link = send(pending)
    assert client.get(link, HTTP_HOST="beta.localhost").status_code == 404


def test_only_owners_and_admins_invite_and_see_invitations(alpha, alpha_client, beta):
    with schema_context("public"):
        Invitation.objects.create(account=beta, email="beta-only@example.com", expires_at=timezone.now() + timezone.timedelta(days=1))
    for role, status in [(Role.MANAGER, 403), (Role.AGENT, 403), (Role.ADMIN, 200)]:
        user = MembershipFactory(account=alpha, role=role).user
        admin_login(alpha_client, user.email, PASSWORD)
        assert alpha_client.get(INVITE).status_code == status
        assert alpha_client.get(f"{INVITE}add/").status_code == status
    assert b"beta-only@example.com" not in alpha_client.get(INVITE).content
