"""Auto-reply: the AI answers the customer by itself when the inbox allows it and it is sure,
and hands the conversation to people when it should not answer.

`draft_autoreply(draft)` runs in the customer message's follow-up (conversations/followups.py,
in Celery, after `ai.drafts.message_draft`). Under the conversation's row lock, in order:

1. The inbox's auto-reply is off, the conversation was handed to people, the draft is no
   longer pending (a second delivery of the task finds it `auto_sent`), or the conversation
   was answered after the message (by an agent or the AI): nothing.
2. A handoff rule fires (ai/handoff.py): hand off instead of answering, whatever the draft.
3. The customer wrote again since (that message's own follow-up answers), the draft has no
   source, or its confidence is below the inbox's threshold: nothing; the draft waits for an
   agent.
4. Otherwise the draft is sent as an AI message with its sources as links, marked `auto_sent`,
   with an `ai_replied` event and an `auto_reply` ledger row.

Everything happens in one transaction holding the conversation's row: two deliveries of the
same follow-up serialise on the lock, and the second finds the draft already sent.
"""

from __future__ import annotations

import time

from django.db import transaction
from django.utils import timezone

from ai import handoff
from ai.models import AICall, Classification, Draft, Operation
from conversations import events, services
from conversations.models import Conversation, Message
from conversations.services._common import locked
from kb.models import Article


def _sources_for_customer(draft: Draft) -> list[dict]:
    """The draft's articles, once each, in its order, as the customer sees them: title and
    the article's public address (blank when it has none; the widget then shows the title)."""
    slugs = list(dict.fromkeys(source.get("slug") for source in draft.sources if source.get("slug")))
    published = dict(Article.objects.filter(slug__in=slugs, status=Article.Status.PUBLISHED).values_list("slug", "source_url"))
    titles = {source["slug"]: source.get("title", "") for source in draft.sources if source.get("slug")}
    # An article archived since the draft was made is not offered to the customer.
    return [{"slug": slug, "title": titles[slug], "url": published[slug]} for slug in slugs if slug in published]


def _later_text(message: Message, **direction) -> bool:
    """A text message (of `direction`, if given) came after `message`."""
    return Message.objects.filter(conversation_id=message.conversation_id, kind=Message.Kind.TEXT, pk__gt=message.pk, **direction).exists()


def draft_autoreply(draft: Draft) -> bool:
    """Send `draft` to the customer if the inbox's rules allow; True when sent."""
    started = time.perf_counter()
    with transaction.atomic():
        conversation = locked(Conversation(pk=draft.conversation_id))
        inbox = conversation.inbox
        if not inbox.ai_auto_reply or conversation.ai_handoff_at is not None:
            return False
        draft = Draft.objects.select_for_update(of=("self",)).filter(pk=draft.pk).select_related("message").first()
        if draft is None or draft.status != Draft.Status.PENDING or draft.message is None:
            return False
        message = draft.message
        message.conversation = conversation
        if _later_text(message, direction=Message.Direction.OUTGOING):
            return False  # someone already answered after it
        classification = Classification.objects.filter(message=message).first()
        fired = handoff.handoff_rule_fired(message=message, classification=classification)
        if fired is not None:
            handoff.conversation_handoff(conversation=conversation, reason=fired.reason, rule=fired.rule, message=message)
            return False
        if _later_text(message):
            return False  # the customer wrote again: that message's follow-up answers both
        if draft.no_source or draft.confidence < inbox.ai_confidence_threshold:
            return False
        sources = _sources_for_customer(draft)
        if not sources:
            return False  # every article it cited is gone: an answer without a source is not sent
        moment = timezone.now()
        reply = services.message_add_reply(conversation=conversation, content=draft.content, by_ai=True, sources=sources, at=moment)
        draft.status, draft.sent_message, draft.used_at = Draft.Status.AUTO_SENT, reply, moment
        draft.save(update_fields=["status", "sent_message", "used_at"])
        events.ai_replied(conversation, confidence=draft.confidence, sources=len(sources), at=moment)
        AICall.objects.create(
            operation=Operation.AUTO_REPLY, provider=draft.provider[:20], model=draft.model[:100], conversation=conversation,
            message=message, latency_ms=(time.perf_counter() - started) * 1000, created_at=moment,
        )
    return True
