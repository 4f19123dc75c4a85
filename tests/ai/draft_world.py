"""A conversation of team A with a pending AI draft for its customer's message, an agent of
team A and one of team B, and the article the draft cites (shared by the drafts' page, API
and admin tests). The draft row is made as ai/drafts.py stores one; how drafts are composed
is tests/ai/test_drafts.py."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from ai.models import Draft
from conversations import services
from conversations.events import Actor
from conversations.models import Message
from kb.services import article_create
from tests.conversations.conftest import in_alpha, make_member, open_conversation  # noqa: F401 (fixtures)
from tests.conversations.factories import InboxFactory, TeamFactory, TeamMemberFactory

Role = Membership.Role
DRAFT_TEXT = "Hello Camille,\n\nA refund takes five to seven working days to appear on your statement.\n\nI hope this helps."


def draft_add(conversation, *, article, content=DRAFT_TEXT, **fields) -> Draft:
    message = conversation.messages.filter(sender_type=Message.SenderType.CONTACT).order_by("-created_at", "-id").first()
    return Draft.objects.create(
        conversation=conversation, message=message, content=content, confidence=fields.pop("confidence", 0.91),
        sources=[{"chunk_id": 1, "article_id": article.pk, "slug": article.slug, "title": article.title,
                  "heading_path": article.title, "score": 0.9, "similarity": 0.9}],
        provider="local", model="extractive", language="en", reasoning="Extractive: 1 sentence from [1] “Refunds”", **fields,
    )


@pytest.fixture
def draft_world(make_member, open_conversation):  # noqa: F811 (the fixture imported above)
    team_a, team_b = TeamFactory(name="Team A"), TeamFactory(name="Team B")
    agent_a, agent_b = make_member(role=Role.AGENT), make_member(role=Role.AGENT)
    TeamMemberFactory(team=team_a, user=agent_a)
    TeamMemberFactory(team=team_b, user=agent_b)
    conversation = open_conversation(inbox=InboxFactory(auto_assign=False), content="How long until my refund arrives?")
    services.conversation_team_set(conversation=conversation, team=team_a, by=Actor.system())
    article = article_create(title="Refunds", body="A refund takes five to seven working days.", slug="refunds")
    draft = draft_add(conversation, article=article)
    return {"conversation": conversation, "draft": draft, "article": article, "agent_a": agent_a, "agent_b": agent_b, "teams": (team_a, team_b)}
