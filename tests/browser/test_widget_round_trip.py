"""The widget round trip in a real browser: a customer writes in the demo widget, an agent
answers in the admin, and the answer appears in the widget without a reload."""

import pytest
from django_tenants.utils import schema_context, tenant_context

from conversations.models import Conversation, Inbox
from tests.browser.conftest import sign_in
from tests.conversations.factories import InboxFactory, TeamFactory, TeamMemberFactory

pytestmark = pytest.mark.usefixtures("committed_db")


def test_customer_writes_in_widget_agent_answers_in_admin_widget_shows_it(alpha, alpha_base, alpha_agent, browser):
    agent = alpha_agent("Walt Widget")
    with tenant_context(alpha):
        team = TeamFactory(name="Chat")
        TeamMemberFactory(team=team, user=agent)
        InboxFactory(name="Website chat", channel=Inbox.Channel.WEB_WIDGET, default_team=team, auto_assign=False, greeting="Ask us anything")
    base = alpha_base

    customer = browser.new_page()
    customer.goto(f"{base}/widget/demo/")
    customer.wait_for_function("document.getElementById('hw-greeting').textContent === 'Ask us anything'")
    customer.fill("#hw-input", "Do you ship to Norway?")
    customer.click("#hw-send")
    customer.wait_for_selector(".hw-msg.incoming")
    assert customer.locator(".hw-msg.incoming").inner_text() == "Do you ship to Norway?"

    with schema_context("alpha"):
        conversation = Conversation.objects.get()
    agent_page = browser.new_page()
    sign_in(agent_page, base, agent.email)
    agent_page.goto(f"{base}/admin/conversations/conversation/{conversation.pk}/change/")
    assert "Do you ship to Norway?" in agent_page.locator("#thread").inner_text()
    agent_page.fill("#id_reply-content", "Yes, in 3-5 days!")
    agent_page.click("input[name=send-reply]")
    agent_page.wait_for_selector("#thread .msg.agent")

    # The widget polls every 2 s; the answer arrives without a reload, signed with a first name.
    customer.wait_for_selector(".hw-msg.outgoing", timeout=15000)
    answer = customer.locator(".hw-msg.outgoing").inner_text()
    assert "Yes, in 3-5 days!" in answer and "Walt" in answer and "Widget" not in answer.replace("Yes, in 3-5 days!", "")
    customer.close()
    agent_page.close()
