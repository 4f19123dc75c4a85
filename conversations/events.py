"""The conversation timeline and audit trail: one function per kind of change, and
`describe(event)`, which reads an event as the sentence the conversation page shows.

Every service that changes a conversation calls one of these in the same transaction, so the
timeline can never disagree with the row.
"""

from __future__ import annotations

from dataclasses import dataclass

from conversations.models import Conversation, ConversationEvent, Priority

ActorType = ConversationEvent.ActorType


@dataclass(frozen=True)
class Actor:
    """Who made a change: an agent (user), the customer (contact), the AI or the system."""

    type: str
    id: int | None = None
    name: str = ""
    # Why the change was made, for automatic changes (the AI's routing): shown on the timeline.
    reason: str = ""

    @classmethod
    def agent(cls, user) -> "Actor":
        return cls(ActorType.AGENT, user.pk, user.get_full_name())

    @classmethod
    def contact(cls, contact) -> "Actor":
        return cls(ActorType.CONTACT, contact.pk, str(contact))

    @classmethod
    def ai(cls, reason: str = "") -> "Actor":
        return cls(ActorType.AI, None, "AI", reason)

    @classmethod
    def system(cls) -> "Actor":
        return cls(ActorType.SYSTEM, None, "Hearth")


def _record(conversation: Conversation, actor: Actor, action: str, *, field: str = "", old="", new="", at=None) -> ConversationEvent:
    event = ConversationEvent(
        conversation=conversation, actor_type=actor.type, actor_id=actor.id, actor_name=actor.name[:200],
        reason=actor.reason[:300],
        action=action, field=field, old_value="" if old is None else str(old), new_value="" if new is None else str(new),
    )
    if at is not None:
        event.created_at = at
    event.save()
    return event


def conversation_opened(conversation, actor, *, at=None):
    return _record(conversation, actor, "opened", at=at)


def status_changed(conversation, actor, *, old, new, at=None):
    return _record(conversation, actor, "status_changed", field="status", old=old, new=new, at=at)


def assignee_changed(conversation, actor, *, old, new, at=None):
    return _record(conversation, actor, "assigned", field="assignee", old=old or "", new=new or "", at=at)


def team_changed(conversation, actor, *, old, new, at=None):
    return _record(conversation, actor, "team_changed", field="team", old=old or "", new=new or "", at=at)


def priority_changed(conversation, actor, *, old: int, new: int, at=None):
    return _record(conversation, actor, "priority_changed", field="priority", old=Priority(old).label, new=Priority(new).label, at=at)


def label_added(conversation, actor, *, label, at=None):
    return _record(conversation, actor, "label_added", field="labels", new=label.name, at=at)


def label_removed(conversation, actor, *, label, at=None):
    return _record(conversation, actor, "label_removed", field="labels", old=label.name, at=at)


def sla_breached(conversation, *, target: str, due_at, at=None):
    return _record(conversation, Actor.system(), "sla_breached", field=target, new=due_at.isoformat(), at=at)


def csat_recorded(conversation, actor, *, rating: int, at=None):
    return _record(conversation, actor, "csat_recorded", field="csat", new=rating, at=at)


def classified(conversation, *, old: str, new: str, confidence: float, at=None):
    return _record(conversation, Actor.ai(), "classified", field="ai_category", old=old, new=f"{new or 'out of scope'} ({confidence:.2f})", at=at)


def category_changed(conversation, actor, *, old: str, new: str, at=None):
    """A person chose the category (a correction of the AI's): the agent is the actor, so the
    timeline says who overruled the AI."""
    return _record(conversation, actor, "category_changed", field="ai_category", old=old, new=new, at=at)


def ai_replied(conversation, *, confidence: float, sources: int, at=None):
    """The AI answered the customer by itself (ai/autoreply.py): analytics count these."""
    return _record(conversation, Actor.ai(), "ai_replied", field="draft", new=f"{confidence:.2f} ({sources} sources)", at=at)


def handed_off(conversation, *, rule: str, reason: str, at=None):
    """The AI handed the conversation to people (ai/handoff.py); `rule` is the handoff rule's
    code (analytics count handoffs per rule), `reason` the sentence agents read."""
    return _record(conversation, Actor.ai(reason), "handed_off", field="ai_handoff", new=rule, at=at)


def contact_erased(conversation, actor, *, at=None):
    """The customer's personal data and this conversation's contents were erased
    (services/erasure.py): who asked and when stay on the audit trail."""
    return _record(conversation, actor, "contact_erased", field="contact", at=at)


def ai_skipped(conversation, *, reason: str, at=None):
    """The AI did not look at a customer message: the plan's monthly AI allowance is used up
    (ai/plan_allowance.py). `reason` names the limit and the plan, for the agents."""
    return _record(conversation, Actor(ActorType.SYSTEM, None, "Hearth", reason), "ai_skipped", field="ai", at=at)


# ----------------------------------------------------------------------------- sentences

_STATUS_VERBS = {"resolved": "resolved this", "pending": "marked this as pending", "snoozed": "snoozed this"}
_SLA_TARGETS = {"first_response": "the first response", "resolution": "the resolution"}


def _who(event: ConversationEvent) -> str:
    if event.actor_type == ActorType.CONTACT:
        return "Customer"
    if event.actor_type == ActorType.AI:
        return "AI"
    if event.actor_type == ActorType.SYSTEM:
        return "Hearth"
    return event.actor_name or "An agent"


def _status_sentence(event: ConversationEvent) -> str:
    if event.new_value == "open":
        return "reopened this" if event.old_value == "resolved" or event.actor_type != ActorType.SYSTEM else "woke this from its snooze"
    return _STATUS_VERBS.get(event.new_value, f"set the status to {event.new_value}")


def _assignment_sentence(event: ConversationEvent) -> str:
    if not event.new_value:
        return f"unassigned this from {event.old_value}" if event.old_value else "unassigned this"
    if event.field == "assignee" and event.actor_type == ActorType.AGENT and event.new_value == event.actor_name:
        return "took this"
    return f"assigned this to {event.new_value}"


def describe(event: ConversationEvent) -> str:
    """The event as a sentence: "Dana Reyes assigned this to Billing", "Customer reopened this"."""
    sentences = {
        "opened": lambda: "opened this conversation",
        "status_changed": lambda: _status_sentence(event),
        "assigned": lambda: _assignment_sentence(event),
        "team_changed": lambda: _assignment_sentence(event) if event.new_value else f"took this out of {event.old_value}",
        "priority_changed": lambda: f"changed the priority from {event.old_value} to {event.new_value}",
        "label_added": lambda: f"added the label {event.new_value}",
        "label_removed": lambda: f"removed the label {event.old_value}",
        "sla_breached": lambda: f"marked {_SLA_TARGETS.get(event.field, event.field)} as late",
        "csat_recorded": lambda: f"rated this {event.new_value}/5",
        "classified": lambda: f"classified this as {event.new_value}",
        "ai_replied": lambda: f"answered the customer (confidence {event.new_value})",
        "handed_off": lambda: "handed this to the team",
        "contact_erased": lambda: "erased the customer's personal data and this conversation's messages",
        "ai_skipped": lambda: "left this message to people, without the AI",
        "category_changed": lambda: (
            f"changed the category from {event.old_value} to {event.new_value}" if event.old_value else f"set the category to {event.new_value}"
        ),
    }
    sentence = sentences.get(event.action)
    text = sentence() if sentence else " ".join(part for part in (event.action.replace("_", " "), event.field) if part)
    because = f": {event.reason}" if event.reason else ""
    return f"{_who(event)} {text}{because}"
