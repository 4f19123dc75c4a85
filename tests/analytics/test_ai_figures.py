"""The AI's figures: classifications and corrections, drafts by what became of them,
auto-replies, handoffs, deflection, thumbs, and the provider calls of the ledger (the AI's own
acts on the ledger are not provider calls)."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from ai.handoff import conversation_handoff
from ai.models import AICall, Category, Classification, Correction, Draft
from analytics import selectors
from analytics.models import AIUsageDaily
from analytics.rollups import day_rollup
from conversations import services
from conversations.events import Actor
from conversations.models import Conversation, MessageFeedback
from tests.accounts.factories import MembershipFactory
from tests.conversations.factories import ContactFactory, InboxFactory

DAY = date(2026, 7, 14)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 7, 14, hour, minute, tzinfo=ZoneInfo("UTC"))


def test_ai_figures_from_the_contract_models(tenant_in_zone, alpha):
    tenant_in_zone("UTC")
    agent = MembershipFactory(account=alpha, role="agent").user
    inbox = InboxFactory(auto_assign=False)
    answered = services.conversation_open(inbox=inbox, contact=ContactFactory(), content="How do I reset my password?", at=at(9))
    question = answered.messages.get()
    Classification.objects.create(message=question, conversation=answered, category="account", confidence=0.9, provider="local",
                                  model="e5", created_at=at(9, 1))
    Correction.objects.create(conversation=answered, from_category="account", to_category=Category.objects.create(name="billing"),
                              corrected_by=agent, created_at=at(9, 2))
    for status in (Draft.Status.ACCEPTED, Draft.Status.EDITED, Draft.Status.REJECTED, Draft.Status.AUTO_SENT):
        Draft.objects.create(conversation=answered, message=question, origin=Draft.Origin.REGENERATE, status=status, content="…",
                             provider="local", model="extractive", created_at=at(9, 3))
    reply = services.message_add_reply(conversation=answered, content="Use the reset link.", by_ai=True, at=at(9, 5))
    MessageFeedback.objects.create(message=reply, rating=MessageFeedback.Rating.UP, created_at=at(9, 6))
    services.conversation_status_set(conversation=answered, status=Conversation.Status.RESOLVED, by=Actor.ai(), at=at(10))
    # Another one the AI hands to people, then an agent answers and resolves: not deflected.
    handed = services.conversation_open(inbox=inbox, contact=ContactFactory(), content="I want a human", at=at(11))
    services.message_add_reply(conversation=handed, content="Let me check.", by_ai=True, at=at(11, 1))
    conversation_handoff(conversation=handed, reason="asked for a person", at=at(11, 2))
    services.message_add_reply(conversation=handed, content="Hi, I'm Sam.", author=agent, at=at(11, 30))
    services.conversation_status_set(conversation=handed, status=Conversation.Status.RESOLVED, by=Actor.agent(agent), at=at(12))
    for latency, cache_hit, status, cost in ((10, False, "ok", "0.002"), (20, True, "ok", "0"), (30, False, "error", "0")):
        AICall.objects.create(operation="generate", provider="openai", model="gpt-x", input_tokens=100, output_tokens=50,
                              cost=Decimal(cost), latency_ms=latency, cache_hit=cache_hit, status=status, created_at=at(9, 4))
    day_rollup(day=DAY)

    ai = selectors.period_summary(since=DAY, until=DAY)["ai"]
    assert (ai["classifications"], ai["corrections"], ai["corrected_share"]) == (1, 1, 1.0)
    assert (ai["drafts"], ai["drafts_accepted"], ai["drafts_edited"], ai["drafts_rejected"]) == (4, 1, 1, 1)
    assert (ai["auto_replies"], ai["handoffs"], ai["deflected"], ai["deflection_share"]) == (2, 1, 1, 0.5)
    assert (ai["feedback_up"], ai["feedback_down"]) == (1, 0)
    # Three provider calls; the handoff's ledger row is not one.
    assert (ai["calls"], ai["errors"], ai["error_rate"], ai["cache_hits"]) == (3, 1, round(1 / 3, 4), 1)
    assert (ai["input_tokens"], ai["output_tokens"], ai["cost"]) == (300, 150, "0.002000")
    assert ai["latency_p95_ms"] == 29.0  # percentile_cont(0.95) of 10, 20, 30
    assert [(row["provider"], row["model"], row["calls"]) for row in ai["by_model"]] == [("openai", "gpt-x", 3)]
    assert list(AIUsageDaily.objects.values_list("operation", flat=True)) == ["generate"]
    # The same figures for a day not rolled up yet come live from the raw tables.
    day_rollup(day=DAY + timedelta(days=1))
    assert selectors.period_summary(since=DAY, until=DAY + timedelta(days=1))["ai"]["calls"] == 3
