"""The AI's classification of a conversation, kept on the row where the queue filters on it."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from conversations import events, followups
from conversations.events import Actor
from conversations.models import Conversation
from conversations.services._common import locked, now


@transaction.atomic
def conversation_classification_set(*, conversation: Conversation, category: str, confidence: float, at: datetime | None = None) -> Conversation:
    """Record the AI's latest classification, with its event, under the row lock: the timeline
    and the row agree even when two classifications of one conversation land together."""
    category = category.strip()[:50]
    conversation = locked(conversation)
    if conversation.ai_category == category and conversation.ai_confidence == confidence:
        return conversation
    moment = now(at)
    events.classified(conversation, old=conversation.ai_category, new=category, confidence=confidence, at=moment)
    conversation.ai_category, conversation.ai_confidence = category, confidence
    conversation.save(update_fields=["ai_category", "ai_confidence"])
    followups.conversation_changed(conversation, at=moment)
    return conversation


@transaction.atomic
def conversation_category_set(*, conversation: Conversation, category: str, by: Actor, at: datetime | None = None) -> Conversation:
    """A person's category for the conversation (an agent correcting the AI), under the row
    lock like the AI's. The confidence is cleared: it was the model's belief in its own
    category, and a person's choice is not a probability (1.0 would read as a very sure AI and
    skew any look at how sure the model was). The event names the person, not the AI."""
    category = category.strip()[:50]
    conversation = locked(conversation)
    if conversation.ai_category == category:
        return conversation  # choosing the category it already has changes nothing
    moment = now(at)
    events.category_changed(conversation, by, old=conversation.ai_category, new=category, at=moment)
    conversation.ai_category, conversation.ai_confidence = category, None
    conversation.save(update_fields=["ai_category", "ai_confidence"])
    followups.conversation_changed(conversation, at=moment)
    return conversation
