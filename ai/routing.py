"""Routing: the tenant's rules send a classified conversation to a team, then the team's own
auto-assignment picks an agent.

- Rules are read in `position` order; the first active rule whose every condition holds acts,
  the rest are not read. A blank condition matches anything (a rule with none is a catch-all).
- Conditions: category (only when the classification is in scope and at least as confident as
  `AISettings.routing_confidence_threshold`: a guess never moves a conversation), priority
  (the classification's, at or above the rule's), language (ISO code; "pt" matches "pt-br"),
  inbox (the conversation's).
- Actions: the team, a priority, a label; each through the desk's own services, each with its
  event, the AI as the actor and the rule as the reason.
- The AI never overrides a person. Once an agent has set the team or the assignee (or has
  replied, which takes the conversation), the team stays; a priority an agent set stays; a
  label an agent removed is not added back. The team an inbox gives a conversation when it
  opens, and assignments by the system or by the AI itself, may be changed by a later rule.
"""

from __future__ import annotations

from django.db import transaction

from ai.models import AISettings, Classification, RoutingRule
from conversations import services
from conversations.events import Actor
from conversations.models import Conversation, ConversationEvent, Message, Priority
from conversations.services.assignment import UNCHANGED

ActorType = ConversationEvent.ActorType


def routing_threshold() -> float:
    """The tenant's confidence below which category conditions do not match."""
    settings = AISettings.objects.only("routing_confidence_threshold").first()
    return settings.routing_confidence_threshold if settings else AISettings._meta.get_field("routing_confidence_threshold").default


def _language_matches(wanted: str, language: str) -> bool:
    wanted, language = wanted.strip().lower(), (language or "").lower()
    return language == wanted or language.split("-")[0] == wanted


def _conditions_met(rule: RoutingRule, classification: Classification, *, inbox_id: int, threshold: float) -> list[str] | None:
    """The conditions the rule names, as they held ("category billing (0.91)"), or None when
    one of them does not hold."""
    met = []
    if rule.category_id is not None:
        if classification.is_out_of_scope or classification.category != rule.category.name or classification.confidence < threshold:
            return None
        met.append(f"category {classification.category} ({classification.confidence:.2f})")
    if rule.priority is not None:
        if classification.priority < rule.priority:
            return None
        met.append(f"priority {Priority(classification.priority).label.lower()}")
    if rule.language:
        if not _language_matches(rule.language, classification.language):
            return None
        met.append(f"language {classification.language}")
    if rule.inbox_id is not None:
        if rule.inbox_id != inbox_id:
            return None
        met.append(f"inbox {rule.inbox.name}")
    return met


def routing_rule_match(*, classification: Classification, inbox_id: int) -> tuple[RoutingRule | None, str]:
    """The first active rule the classification meets, and the reason to show for it."""
    threshold = routing_threshold()
    rules = RoutingRule.objects.filter(is_active=True).select_related("category", "inbox", "team", "add_label").order_by("position", "id")
    for rule in rules:
        met = _conditions_met(rule, classification, inbox_id=inbox_id, threshold=threshold)
        if met is not None:
            return rule, f"rule '{rule.name}' matched {', '.join(met) if met else 'every message'}"
    return None, ""


def _agent_did(conversation: Conversation, **event_fields) -> bool:
    return ConversationEvent.objects.filter(conversation=conversation, actor_type=ActorType.AGENT, **event_fields).exists()


def _people_own_assignment(conversation: Conversation) -> bool:
    """An agent set the team or the assignee, or replied (a reply takes the conversation)."""
    return _agent_did(conversation, field__in=("team", "assignee")) or conversation.messages.filter(
        sender_type=Message.SenderType.AGENT, kind=Message.Kind.TEXT
    ).exists()


@transaction.atomic
def conversation_route(*, conversation: Conversation, classification: Classification) -> RoutingRule | None:
    """Apply the first matching rule to the conversation; returns the rule, or None."""
    rule, reason = routing_rule_match(classification=classification, inbox_id=conversation.inbox_id)
    if rule is None:
        return None
    by = Actor.ai(reason)
    # Under the row lock: an agent's change committed a moment ago is seen below, and one made
    # while this runs waits for it, then applies on top.
    conversation = Conversation.objects.select_for_update(of=("self",)).select_related("inbox").get(pk=conversation.pk)
    people_own_assignment = _people_own_assignment(conversation)
    if rule.team_id is not None and conversation.team_id != rule.team_id and not people_own_assignment:
        # An assignee from the previous team (auto-assigned, never chosen by a person) goes
        # with it; the new team's rota picks again below.
        services.conversation_assignment_set(
            conversation=conversation, team=rule.team, assignee=None if conversation.assignee_id else UNCHANGED, by=by,
        )
        conversation.refresh_from_db(fields=["team", "assignee"])
    if rule.set_priority is not None and conversation.priority != rule.set_priority and not _agent_did(conversation, field="priority"):
        services.conversation_priority_set(conversation=conversation, priority=rule.set_priority, by=by)
    if rule.add_label_id is not None and not _agent_did(conversation, action="label_removed", old_value=rule.add_label.name):
        services.conversation_labels_add(conversation=conversation, labels=[rule.add_label], by=by)
    if not people_own_assignment and conversation.assignee_id is None and conversation.team_id is not None and conversation.inbox.auto_assign:
        services.conversation_auto_assign(conversation=conversation, by=by)
    return rule
