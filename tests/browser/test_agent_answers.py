"""An agent, in a real browser, logs in, opens the queue, answers a conversation and sees the
reply in the thread."""

import pytest
from django.conf import global_settings
from django.test import override_settings
from django_tenants.utils import schema_context, tenant_context

from accounts.models import Membership
from conversations import services
from conversations.models import Message
from tests.accounts.factories import PASSWORD, MembershipFactory
from tests.conversations.factories import ContactFactory, InboxFactory, TeamFactory, TeamMemberFactory

pytestmark = pytest.mark.usefixtures("committed_db")


def test_agent_answers_a_conversation_in_the_browser(alpha, live_server_url, browser):
    agent = MembershipFactory(account=alpha, role=Membership.Role.AGENT, user__full_name="Bea Browser").user
    with override_settings(PASSWORD_HASHERS=global_settings.PASSWORD_HASHERS):  # what the server process checks with
        agent.set_password(PASSWORD)
        agent.save(update_fields=["password"])
    with tenant_context(alpha):
        team = TeamFactory(name="Support")
        TeamMemberFactory(team=team, user=agent)
        conversation = services.conversation_open(
            inbox=InboxFactory(auto_assign=False, default_team=team), contact=ContactFactory(name="Carla Customer"),
            content="My parcel never arrived", subject="Parcel missing",
        )
    base = live_server_url.replace("//", f"//{alpha.schema_name}.")

    page = browser.new_page()
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", agent.email)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.goto(f"{base}/admin/conversations/conversation/")
    row = page.locator("#result_list tbody tr", has_text="Parcel missing")
    assert row.count() == 1
    row.locator("a", has_text=f"#{conversation.number}").click()
    page.wait_for_selector("#thread")
    assert "My parcel never arrived" in page.locator("#thread .msg.contact").inner_text()

    page.fill("#id_reply-content", "So sorry! A replacement ships today.")
    page.click("input[name=send-reply]")
    page.wait_for_selector("#thread .msg.agent")
    reply_bubble = page.locator("#thread .msg.agent").last.inner_text()
    assert "So sorry! A replacement ships today." in reply_bubble and "Bea Browser" in reply_bubble
    page.close()

    with schema_context(alpha.schema_name):
        assert Message.objects.filter(conversation=conversation, sender_type="agent", content="So sorry! A replacement ships today.").exists()
