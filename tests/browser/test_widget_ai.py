"""The AI answers in the widget, in a real browser, through the real pipeline: a customer asks,
a Celery worker classifies, drafts from the knowledge base and auto-replies; the widget shows
the answer marked as the AI's with its source as a link and thumbs; the customer asks for a
person; an agent finds the conversation in the team's queue, answers, and the customer sees it."""

import pytest
from django_tenants.utils import schema_context, tenant_context

from conversations.models import Conversation, Inbox, Message, MessageFeedback
from kb.services import article_chunks_sync, article_create
from tests.browser.conftest import sign_in
from tests.conversations.factories import InboxFactory, TeamFactory, TeamMemberFactory

pytestmark = pytest.mark.usefixtures("committed_db", "celery_worker")
HELP_URL = "https://help.example.com/reset-password"


def test_widget_gets_an_ai_answer_with_its_source_then_a_person_takes_over(alpha, alpha_base, alpha_agent, browser):
    agent = alpha_agent("Hana Handoff")
    with tenant_context(alpha):
        team = TeamFactory(name="Chat", auto_assign=False)
        TeamMemberFactory(team=team, user=agent)
        # A low threshold: this test is about the way an answer travels, not about calibration.
        InboxFactory(name="Website chat", channel=Inbox.Channel.WEB_WIDGET, default_team=team, auto_assign=False,
                     ai_auto_reply=True, ai_confidence_threshold=0.2)
        article = article_create(
            title="Resetting your password", slug="reset-password", source_url=HELP_URL,
            body="To reset your password, open Settings, choose Security and click “Reset password”.\n\n"
                 "The reset link arrives by email within a minute; check your spam folder if it does not.",
        )
        article_chunks_sync(article=article)
    base = alpha_base

    customer = browser.new_page()
    customer.goto(f"{base}/widget/demo/")
    customer.fill("#hw-input", "How do I reset my password?")
    customer.click("#hw-send")
    customer.wait_for_selector(".hw-msg.incoming")

    # The worker classifies, drafts and answers; the widget's poll brings the answer in.
    answer = customer.wait_for_selector(".hw-msg.ai", timeout=90000)
    assert answer.query_selector(".hw-ai-badge").text_content() == "AI answer"
    link = customer.locator(".hw-msg.ai .hw-sources a")
    assert link.inner_text() == "Resetting your password" and link.get_attribute("href") == HELP_URL

    customer.click(".hw-msg.ai .hw-thumb-up")
    customer.wait_for_selector(".hw-msg.ai .hw-thumb-up[aria-pressed=true]")
    with schema_context("alpha"):
        conversation = Conversation.objects.get()
        ai_answer = conversation.messages.get(sender_type=Message.SenderType.AI, kind=Message.Kind.TEXT)
        assert MessageFeedback.objects.get(message=ai_answer).rating == "up"

    customer.click("#hw-person")
    customer.wait_for_function("document.getElementById('hw-person').textContent === 'A person will answer here soon'")
    with schema_context("alpha"):
        conversation.refresh_from_db()
        assert conversation.ai_handoff_reason == "customer asked for a person" and conversation.team_id == team.pk

    agent_page = browser.new_page()
    sign_in(agent_page, base, agent.email)
    agent_page.goto(f"{base}/admin/conversations/conversation/")
    agent_page.locator("#result_list tbody tr", has_text="How do I reset my password?").locator("a", has_text=f"#{conversation.number}").click()
    agent_page.wait_for_selector("#thread")
    thread = agent_page.locator("#thread").inner_text()
    assert "customer asked for a person" in thread  # the AI's note says why
    agent_page.fill("#id_reply-content", "Hi, Hana here: I have sent you a fresh reset link.")
    agent_page.click("input[name=send-reply]")
    agent_page.wait_for_selector("#thread .msg.agent")

    customer.wait_for_selector(".hw-msg.outgoing[data-sender=agent]", timeout=15000)
    assert "I have sent you a fresh reset link." in customer.locator(".hw-msg.outgoing[data-sender=agent]").inner_text()
    customer.close()
    agent_page.close()
