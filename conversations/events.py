"""The conversation timeline and audit trail: one function per kind of change.

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

    @classmethod
    def agent(cls, user) -> "Actor":
        return cls(ActorType.AGENT, user.pk, user.get_full_name())

    @classmethod
    def contact(cls, contact) -> "Actor":
        return cls(ActorType.CONTACT, contact.pk, str(contact))

    @classmethod
    def ai(cls) -> "Actor":
        return cls(ActorType.AI, None, "AI")

    @classmethod
    def system(cls) -> "Actor":
        return cls(ActorType.SYSTEM, None, "Hearth")


def _record(conversation: Conversation, actor: Actor, action: str, *, field: str = "", old="", new="", at=None) -> ConversationEvent:
    event = ConversationEvent(
        conversation=conversation, actor_type=actor.type, actor_id=actor.id, actor_name=actor.name[:200],
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
