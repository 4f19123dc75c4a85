"""The AI pipeline for one incoming customer message: classify, store, mirror, route.

Runs as a step of the message's follow-up (conversations/followups.py): in Celery, in the
message's tenant schema, after the message committed; never inside the customer's request.

1. Build the request: the text, the tenant's active categories (with their descriptions, for
   an LLM), its teams and available agents (the only answers an LLM may give), and a few
   earlier customer messages of the conversation as context.
2. `ai.calls.classify`: the tenant's provider, the ledger, the fallback to local.
3. Store one `Classification` per message, suggested team and agent included. Celery delivers
   at least once and the sweep may re-queue a late task: the unique message column is the
   guard (insert; a second delivery's insert fails and it carries on with the stored row).
4. Under the conversation's row lock, if this message is the conversation's newest classified
   one: mirror the classification on the conversation (`ai_category`/`ai_confidence`, with its
   event; not once an agent has corrected the conversation's category) and apply the routing
   rules (ai/routing.py). Two messages classified out of order leave the newer one's result,
   whichever finishes last.

Out of scope is stored as such (category blank, `is_out_of_scope`) and the conversation's
category is cleared: the timeline says "classified this as out of scope", never a forced guess.
No transaction is open during the provider call (it may be a network call).
"""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from accounts.models import Membership
from ai import calls, plan_allowance, routing, suggestions
from ai.models import Category, Classification, Correction
from ai.providers.base import AgentOption, CategoryOption, ClassifyRequest, TeamOption
from conversations import services
from conversations.models import Conversation, Message, Team

# Earlier customer messages given as context: enough for "it still doesn't work" to mean
# something, few enough to keep an LLM prompt small.
CONTEXT_MESSAGES = 3
CONTEXT_CHARS = 1000


def classify_request_build(*, message: Message) -> ClassifyRequest:
    categories = tuple(CategoryOption(name=name, description=description) for name, description in
                       Category.objects.filter(is_active=True).order_by("name").values_list("name", "description"))
    teams = tuple(TeamOption(id=pk, name=name) for pk, name in Team.objects.order_by("name").values_list("pk", "name"))
    available = Membership.objects.filter(
        account=connection.tenant, availability=Membership.Availability.ONLINE, user__is_active=True,
    ).select_related("user").order_by("user_id")
    agents = tuple(AgentOption(id=m.user_id, name=m.user.get_full_name() or m.user.email) for m in available)
    earlier = (
        Message.objects.filter(conversation_id=message.conversation_id, direction=Message.Direction.INCOMING, kind=Message.Kind.TEXT)
        .filter(Q(created_at__lt=message.created_at) | Q(created_at=message.created_at, pk__lt=message.pk))
        .order_by("-created_at", "-pk").values_list("content", flat=True)[:CONTEXT_MESSAGES]
    )
    context = tuple(text[:CONTEXT_CHARS] for text in reversed(list(earlier)))
    return ClassifyRequest(text=message.content, categories=categories, teams=teams, agents=agents, context=context)


def _classification_build(message: Message, outcome: calls.CallOutcome) -> Classification:
    result = outcome.value
    return Classification(
        message=message,
        conversation_id=message.conversation_id,
        category=(result.category or "")[:50],
        is_out_of_scope=result.category is None,
        confidence=result.confidence,
        priority=result.priority,
        sentiment=result.sentiment,
        sentiment_score=result.sentiment_score,
        language=(result.language or "")[:16],
        reasoning=result.reasoning,
        evidence=result.evidence,
        provider=outcome.provider,
        model=outcome.model[:100],
        classifier_version=result.classifier_version,
        latency_ms=outcome.latency_ms,
    )


def _is_newest(classification: Classification, message: Message) -> bool:
    """No later message of the conversation has a classification yet."""
    later = Q(message__created_at__gt=message.created_at) | Q(message__created_at=message.created_at, message_id__gt=message.pk)
    return not Classification.objects.filter(conversation_id=classification.conversation_id).filter(later).exists()


@transaction.atomic
def conversation_classification_apply(*, classification: Classification, message: Message) -> bool:
    """Mirror the classification on its conversation and route it, if it is the newest;
    False when a later message's classification is already there (it decides)."""
    conversation = Conversation.objects.select_for_update(of=("self",)).get(pk=classification.conversation_id)
    if not _is_newest(classification, message):
        return False
    # An agent who corrected the category has decided it: later messages' guesses do not
    # undo the correction (their classifications are still stored, and still routed).
    if not Correction.objects.filter(conversation_id=conversation.pk).exists():
        services.conversation_classification_set(
            conversation=conversation, category=classification.category, confidence=classification.confidence,
        )
    routing.conversation_route(conversation=conversation, classification=classification)
    return True


def message_classify(message: Message) -> Classification | None:
    """Classify one incoming customer message and act on it; safe to run twice."""
    if message.kind != Message.Kind.TEXT or not message.content.strip():
        return None  # attachments alone: nothing to read
    # A read to spare a second (possibly paid) provider call on redelivery; the guard against
    # a second row is the unique constraint below, which also settles two deliveries at once.
    classification = Classification.objects.filter(message=message).first()
    if classification is None:
        if plan_allowance.message_ai_skipped(message=message):
            return None  # the plan's AI allowance is used up: routed by rules, said on the timeline
        outcome = calls.classify(request=classify_request_build(message=message), conversation=message.conversation, message=message)
        classification = _classification_build(message, outcome)
        rule, _reason = routing.routing_rule_match(classification=classification, inbox_id=message.conversation.inbox_id)
        suggestions.classification_suggest(
            classification=classification, rule=rule,
            provider_team_id=outcome.value.suggested_team_id, provider_agent_id=outcome.value.suggested_agent_id,
        )
        try:
            with transaction.atomic():
                classification.save(force_insert=True)
        except IntegrityError:
            classification = Classification.objects.get(message=message)
    conversation_classification_apply(classification=classification, message=message)
    return classification
