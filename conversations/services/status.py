"""Status (open, pending, snoozed, resolved), the snooze wake-up, and priority.

- Resolving clears the wait and flags a late resolution at once.
- Reopening (any status after resolved) starts a new wait and a new resolution clock; the
  first response stays the first.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from config.errors import ApplicationError
from conversations import events, followups
from conversations.events import Actor
from conversations.models import Conversation, Priority
from conversations.services._common import Status, activity_add, locked, now
from conversations.services.sla import breach_if_late, resolution_clock_restart, sla_apply


def status_apply(conversation: Conversation, status: str, actor: Actor, moment: datetime, snoozed_until=None) -> None:
    """Change the status of a row the caller holds locked (the caller saves it)."""
    old = conversation.status
    if status == Status.RESOLVED:
        conversation.resolved_at = moment
        conversation.resolved_by = Conversation.ResolvedBy.AI if actor.type == Actor.ai().type else Conversation.ResolvedBy.AGENT
        conversation.waiting_since = None
        breach_if_late(conversation, target="resolution", moment=moment)
    elif old == Status.RESOLVED:
        conversation.resolved_at = None
        conversation.resolved_by = ""
        conversation.waiting_since = moment
        resolution_clock_restart(conversation, start=moment)
    conversation.snoozed_until = snoozed_until if status == Status.SNOOZED else None
    conversation.status = status
    conversation.last_activity_at = moment
    events.status_changed(conversation, actor, old=old, new=status, at=moment)
    activity_add(conversation, f"{actor.name or actor.type} changed the status from {old} to {status}", moment)
    followups.conversation_changed(conversation, at=moment)


@transaction.atomic
def conversation_status_set(
    *, conversation: Conversation, status: str, by: Actor, snoozed_until: datetime | None = None, at: datetime | None = None
) -> Conversation:
    if status not in Status.values:
        raise ApplicationError(f"status {status!r} is not one of {', '.join(Status.values)}", code="invalid_status", fields={"status": ["invalid"]})
    moment = now(at)
    if status == Status.SNOOZED and (snoozed_until is None or snoozed_until <= moment):
        raise ApplicationError("snoozing needs a time in the future", code="invalid_snooze", fields={"snoozed_until": ["must be in the future"]})
    conversation = locked(conversation)
    if conversation.status == status and status != Status.SNOOZED:
        return conversation
    status_apply(conversation, status, by, moment, snoozed_until)
    conversation.save()
    return conversation


def conversations_wake_snoozed(*, at: datetime | None = None) -> int:
    """Reopen every snoozed conversation whose time has come (beat runs this per tenant)."""
    moment = now(at)
    woken = 0
    due = Conversation.objects.filter(status=Status.SNOOZED, snoozed_until__lte=moment).order_by("pk").values_list("pk", flat=True)
    for pk in list(due):
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update(skip_locked=True).filter(pk=pk, status=Status.SNOOZED).first()
            if conversation is None:
                continue
            status_apply(conversation, Status.OPEN, Actor.system(), moment)
            if conversation.waiting_since is None:
                conversation.waiting_since = moment
            conversation.save()
            woken += 1
    return woken


@transaction.atomic
def conversation_priority_set(*, conversation: Conversation, priority: int, by: Actor, at: datetime | None = None) -> Conversation:
    """A new priority moves the SLA due times to that priority's target."""
    if priority not in Priority.values:
        raise ApplicationError(f"priority {priority!r} is not one of {Priority.values}", code="invalid_priority", fields={"priority": ["invalid"]})
    conversation = locked(conversation)
    if conversation.priority == priority:
        return conversation
    moment = now(at)
    events.priority_changed(conversation, by, old=conversation.priority, new=priority, at=moment)
    conversation.priority = priority
    conversation.save(update_fields=["priority"])
    sla_apply(conversation=conversation, policy=conversation.sla_policy)
    followups.conversation_changed(conversation, at=moment)
    return conversation
