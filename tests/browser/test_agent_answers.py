"""An agent, in a real browser, logs in, opens the queue, answers a conversation and sees the
reply in the thread."""

import pytest
from django_tenants.utils import schema_context, tenant_context

from conversations import services
from conversations.models import Message
from tests.browser.conftest import sign_in
from tests.conversations.factories import ContactFactory, InboxFactory, TeamFactory, TeamMemberFactory

pytestmark = pytest.mark.usefixtures("committed_db")


def test_agent_answers_a_conversation_in_the_browser(alpha, alpha_base, alpha_agent, browser):
    agent = alpha_agent("Bea Browser")
    with tenant_context(alpha):
        team = TeamFactory(name="Support")
        TeamMemberFactory(team=team, user=agent)
        conversation = services.conversation_open(
            inbox=InboxFactory(auto_assign=False, default_team=team), contact=ContactFactory(name="Carla Customer"),
            content="My parcel never arrived", subject="Parcel missing",
        )
    base = alpha_base

    page = browser.new_page()
    sign_in(page, base, agent.email)
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
