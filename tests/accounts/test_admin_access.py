"""Who may enter which admin: members into their tenant's desk, operators into the platform."""

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts.models import Membership
from analytics.models import JobStatus
from tests.accounts.factories import PASSWORD, MembershipFactory, UserFactory
from tests.conftest import admin_login

pytestmark = pytest.mark.django_db


def _login_response(client, email, password=PASSWORD, prefix=""):
    return client.post(f"{prefix}/admin/login/", {"username": email, "password": password})


def test_member_signs_into_their_own_tenants_desk(alpha, alpha_client):
    agent = MembershipFactory(account=alpha, role=Membership.Role.AGENT).user
    admin_login(alpha_client, agent.email, PASSWORD)
    index = alpha_client.get("/admin/")
    assert index.status_code == 200
    assert b"Hearth \xc2\xb7 Alpha Corp" in index.content


def test_email_login_is_case_insensitive(alpha, alpha_client):
    agent = MembershipFactory(account=alpha, user=UserFactory(email="casey@example.com")).user
    admin_login(alpha_client, "Casey@Example.COM", PASSWORD)
    assert alpha_client.get("/admin/").status_code == 200
    assert agent.email == "casey@example.com"


def test_member_of_another_tenant_is_refused_with_the_right_password(alpha, beta, beta_client):
    alpha_agent = MembershipFactory(account=alpha, role=Membership.Role.OWNER).user
    refused = _login_response(beta_client, alpha_agent.email)
    assert refused.status_code == 200  # the form again, with an error
    assert b"Enter the email and password of a member of this account." in refused.content
    assert beta_client.get("/admin/").status_code == 302


def test_session_from_one_tenant_opens_nothing_in_another(alpha, beta, alpha_client):
    alpha_agent = MembershipFactory(account=alpha).user
    admin_login(alpha_client, alpha_agent.email, PASSWORD)
    assert alpha_client.get("/admin/").status_code == 200
    # Same cookie jar, other tenant's host: that tenant's schema holds no such session.
    other = alpha_client.get("/admin/", HTTP_HOST="beta.localhost")
    assert other.status_code == 302
    assert other["Location"].startswith("/admin/login/")
    # And by path prefix on the public host.
    prefixed = alpha_client.get("/t/beta/admin/", HTTP_HOST="localhost")
    assert prefixed.status_code == 302


def test_platform_operator_without_membership_is_refused_by_tenant_desk(alpha, alpha_client, public_client):
    operator = UserFactory(is_superuser=True)
    refused = _login_response(alpha_client, operator.email)
    assert b"member of this account" in refused.content
    admin_login(public_client, operator.email, PASSWORD)
    assert public_client.get("/admin/").status_code == 200


def test_tenant_member_is_refused_by_platform_admin(alpha, public_client):
    owner = MembershipFactory(account=alpha, role=Membership.Role.OWNER).user
    refused = _login_response(public_client, owner.email)
    assert b"Enter the email and password of a platform operator." in refused.content
    assert public_client.get("/admin/accounts/account/").status_code == 302


def test_wrong_password_is_refused(alpha, alpha_client):
    agent = MembershipFactory(account=alpha).user
    refused = _login_response(alpha_client, agent.email, password="not-the-password")
    assert b"member of this account" in refused.content
    assert alpha_client.get("/admin/").status_code == 302


def test_role_decides_actions_agent_views_owner_deletes(alpha, alpha_client):
    with schema_context("alpha"):
        job = JobStatus.objects.create(job="heartbeat", last_started_at=timezone.now())
    agent = MembershipFactory(account=alpha, role=Membership.Role.AGENT).user
    owner = MembershipFactory(account=alpha, role=Membership.Role.OWNER).user

    admin_login(alpha_client, agent.email, PASSWORD)
    assert alpha_client.get("/admin/analytics/jobstatus/").status_code == 200
    assert alpha_client.get(f"/admin/analytics/jobstatus/{job.pk}/delete/").status_code == 403

    admin_login(alpha_client, owner.email, PASSWORD)
    assert alpha_client.get(f"/admin/analytics/jobstatus/{job.pk}/delete/").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/accounts/account/",
        "/admin/accounts/domain/",
        "/admin/accounts/domain/add/",
        "/admin/accounts/user/",
        "/admin/accounts/user/add/",
        "/admin/accounts/membership/",
        "/admin/accounts/membership/add/",
    ],
)
def test_every_platform_admin_page_renders(path, alpha, public_client):
    operator = UserFactory(is_superuser=True)
    admin_login(public_client, operator.email, PASSWORD)
    assert public_client.get(path).status_code == 200


def test_platform_admin_object_pages_render(alpha, public_client):
    operator = UserFactory(is_superuser=True)
    member = MembershipFactory(account=alpha)
    admin_login(public_client, operator.email, PASSWORD)
    for path in [
        f"/admin/accounts/account/{alpha.pk}/change/",
        f"/admin/accounts/user/{member.user.pk}/change/",
        f"/admin/accounts/membership/{member.pk}/change/",
        f"/admin/accounts/domain/{alpha.domains.first().pk}/change/",
    ]:
        assert public_client.get(path).status_code == 200, path


@pytest.mark.parametrize("path", ["/admin/", "/admin/analytics/", "/admin/analytics/jobstatus/"])
def test_every_desk_admin_page_renders(path, alpha, alpha_client):
    owner = MembershipFactory(account=alpha, role=Membership.Role.OWNER).user
    admin_login(alpha_client, owner.email, PASSWORD)
    assert alpha_client.get(path).status_code == 200
