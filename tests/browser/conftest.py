import pytest
from django.conf import global_settings
from django.test import override_settings

from accounts.models import Membership
from tests.accounts.factories import PASSWORD, MembershipFactory


@pytest.fixture
def alpha_agent(alpha):
    """An agent of alpha whose password the web server process can check (it hashes with the
    project's hashers, not the fast one the suite uses in-process)."""

    def make(full_name):
        agent = MembershipFactory(account=alpha, role=Membership.Role.AGENT, user__full_name=full_name).user
        with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):
            agent.set_password(PASSWORD)
            agent.save(update_fields=["password"])
        return agent

    return make


@pytest.fixture
def alpha_base(live_server_url):
    return live_server_url.replace("//", "//alpha.")  # Chromium resolves *.localhost itself


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")
