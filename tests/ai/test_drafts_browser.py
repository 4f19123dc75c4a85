"""In a real browser, an agent uses the AI draft (the page's script fills the reply box),
sends it unchanged (recorded accepted, similarity 1.0, whatever line endings the browser
sends), then searches the Knowledge panel and inserts a passage into the reply."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from ai.models import Draft
from conversations import services
from kb.services import article_chunks_sync, article_create
from tests.ai.draft_world import DRAFT_TEXT, draft_add
from tests.browser.conftest import alpha_agent, alpha_base, sign_in  # noqa: F401 (fixtures)
from tests.conversations.factories import ContactFactory, InboxFactory, TeamFactory, TeamMemberFactory

pytestmark = pytest.mark.usefixtures("committed_db")


def test_an_agent_uses_the_draft_and_inserts_a_knowledge_passage(alpha, alpha_base, alpha_agent, browser):  # noqa: F811
    agent = alpha_agent("Dora Drafts")
    with tenant_context(alpha):
        team = TeamFactory(name="Support")
        TeamMemberFactory(team=team, user=agent)
        conversation = services.conversation_open(
            inbox=InboxFactory(auto_assign=False, default_team=team), contact=ContactFactory(name="Camille"),
            content="How long until my refund arrives?", subject="Refund",
        )
        refunds = article_create(title="Refunds", slug="refunds", body="A refund takes five to seven working days.")
        article_chunks_sync(article=article_create(
            title="Delivery times", slug="delivery-times",
            body="Standard delivery takes three to five working days in Europe.\n\nExpress delivery arrives the next working day.",
        ))
        draft = draft_add(conversation, article=refunds)

    page = browser.new_page()
    sign_in(page, alpha_base, agent.email)
    page.goto(f"{alpha_base}/admin/conversations/conversation/{conversation.pk}/change/")
    page.click("#draft-use")
    assert page.input_value("#id_reply-content") == DRAFT_TEXT
    page.click("input[name=send-reply]")
    page.wait_for_selector("#thread .msg.agent")

    with tenant_context(alpha):
        draft.refresh_from_db()
        assert (draft.status, draft.similarity, draft.used_by_id) == (Draft.Status.ACCEPTED, 1.0, agent.pk)

    page.fill("#knowledge-q", "how long is standard delivery")
    page.click("#knowledge-form input[type=submit]")
    page.wait_for_selector('#knowledge-results .kb-result[data-slug="delivery-times"] .kb-insert-passage')
    assert page.url.endswith(f"/{conversation.pk}/change/")  # searched in place: the reply box is kept
    page.fill("#id_reply-content", "Hi Camille,")
    page.locator('#knowledge-results .kb-result[data-slug="delivery-times"] .kb-insert-passage').click()
    assert "three to five working days" in page.input_value("#id_reply-content")
    assert page.input_value("#id_reply-content").startswith("Hi Camille,")
    page.close()
