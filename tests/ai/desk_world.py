"""The desk as the AI's corrections see it, shared by tests/ai/test_corrections.py and
tests/ai/test_ai_admin.py: two teams, an agent in one, categories, and conversations whose
messages the AI classified (rows made with the ORM, as ai/pipeline.py would store them)."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from ai.models import Category, Classification, Sentiment
from conversations import services
from conversations.events import Actor
from conversations.models import Message, Priority
from tests.conversations.conftest import in_alpha, make_member, open_conversation  # noqa: F401 (fixtures)
from tests.conversations.factories import InboxFactory, TeamFactory, TeamMemberFactory

Role = Membership.Role
QUEUE = "/admin/conversations/conversation/"


def page_of(conversation) -> str:
    return f"{QUEUE}{conversation.pk}/change/"


def classification_add(message: Message, category: str, *, confidence: float = 0.62, out_of_scope: bool = False, **fields) -> Classification:
    """What the pipeline stores for a message, and the conversation's mirror of it."""
    row = Classification.objects.create(
        message=message, conversation=message.conversation, category="" if out_of_scope else category,
        is_out_of_scope=out_of_scope, confidence=confidence, provider=fields.pop("provider", "local"),
        model=fields.pop("model", "e5-small+centroid"), **fields,
    )
    services.conversation_classification_set(conversation=message.conversation, category=row.category, confidence=confidence)
    return row


@pytest.fixture
def world(make_member, open_conversation):  # noqa: F811 (the fixture imported above)
    billing_team, technical_team = TeamFactory(name="Billing team"), TeamFactory(name="Technical team")
    agent = make_member(role=Role.AGENT)
    TeamMemberFactory(team=billing_team, user=agent)
    categories = {name: Category.objects.create(name=name) for name in ("billing", "shipping", "login")}
    inbox = InboxFactory(auto_assign=False)

    ours = open_conversation(inbox=inbox, content="Where is my parcel? It was due Monday")
    services.conversation_team_set(conversation=ours, team=billing_team, by=Actor.system())
    later, _ = services.message_add_incoming(conversation=ours, content="I was charged twice for the same parcel")
    first = ours.messages.get(sender_type=Message.SenderType.CONTACT, content__startswith="Where")
    classification_add(first, "shipping", confidence=0.81)
    latest = classification_add(
        later, "login", confidence=0.44, priority=Priority.HIGH, sentiment=Sentiment.FRUSTRATED, sentiment_score=-0.7,
        language="en", reasoning='similar to "my card was charged twice" (billing, 0.71)', suggested_team=billing_team,
        suggested_agent=agent,
    )

    theirs = open_conversation(inbox=inbox, content="Zqteamb the API returns 500")
    services.conversation_team_set(conversation=theirs, team=technical_team, by=Actor.system())
    theirs_classification = classification_add(theirs.messages.get(sender_type=Message.SenderType.CONTACT), "login", confidence=0.5)
    return {
        "agent": agent, "categories": categories, "ours": ours, "theirs": theirs, "latest": latest, "inbox": inbox,
        "theirs_classification": theirs_classification, "teams": (billing_team, technical_team),
    }
