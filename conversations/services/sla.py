"""SLA: due times from the policy's target for the conversation's priority, and the breach
flags once a due time passes unmet.

Two clocks: the first response counts from when the conversation was opened (a reopen never
resets it); the resolution counts from `resolution_clock_started_at`, set at open and again
at each reopen, so recomputing the due times (a new priority, a new policy) keeps the
reopen's clock instead of going back to the conversation's creation.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from conversations import events, followups
from conversations.business_hours import BusinessHours
from conversations.models import Conversation, SLATarget
from conversations.services._common import Status, now


def _target(policy, priority) -> SLATarget | None:
    if policy is None:
        return None
    return SLATarget.objects.filter(policy=policy, priority=priority).first()


def _due(conversation: Conversation, start: datetime, minutes: int) -> datetime:
    policy = conversation.sla_policy
    if policy is not None and policy.business_hours_only:
        return BusinessHours.of_inbox(conversation.inbox).add_minutes(start, minutes)
    return BusinessHours(schedule={}, tz=timezone.get_current_timezone()).add_minutes(start, minutes)


def _resolution_clock(conversation: Conversation) -> datetime:
    return conversation.resolution_clock_started_at or conversation.created_at


def resolution_clock_restart(conversation: Conversation, *, start: datetime) -> None:
    """A reopen: a new resolution clock from `start` (the caller saves the row)."""
    conversation.resolution_clock_started_at = start
    target = _target(conversation.sla_policy, conversation.priority)
    conversation.resolution_due_at = _due(conversation, start, target.resolution_minutes) if target else None
    conversation.resolution_breached = False


def sla_apply(*, conversation: Conversation, policy) -> Conversation:
    """Set the due times from the policy's target for the conversation's priority; a
    conversation whose priority has no target has no due times. The caller holds the row."""
    conversation.sla_policy = policy
    target = _target(policy, conversation.priority)
    if target is None:
        conversation.first_response_due_at = None
        conversation.resolution_due_at = None
    else:
        if conversation.first_response_at is None:
            conversation.first_response_due_at = _due(conversation, conversation.created_at, target.first_response_minutes)
        conversation.resolution_due_at = _due(conversation, _resolution_clock(conversation), target.resolution_minutes)
    conversation.save(update_fields=["sla_policy", "first_response_due_at", "resolution_due_at"])
    return conversation


# What "late" means, in one place: the candidates are listed with it and each one is re-checked
# with it under its row lock, because a reply, a priority change or a reopen may commit in
# between (PostgreSQL re-evaluates a locking read's WHERE on the row's newest version).
_LATE = {
    "first_response": lambda moment: Q(
        first_response_at__isnull=True, first_response_due_at__lt=moment, first_response_breached=False
    ) & ~Q(status=Status.RESOLVED),
    "resolution": lambda moment: Q(resolution_due_at__lt=moment, resolution_breached=False) & ~Q(status=Status.RESOLVED),
}
_FLAG = {"first_response": "first_response_breached", "resolution": "resolution_breached"}
_DUE = {"first_response": "first_response_due_at", "resolution": "resolution_due_at"}


def sla_breaches_mark(*, at: datetime | None = None) -> int:
    """Flag conversations whose due time passed unmet (beat runs this per tenant)."""
    moment = now(at)
    marked = 0
    for target, late in _LATE.items():
        candidates = list(Conversation.objects.filter(late(moment)).order_by("pk").values_list("pk", flat=True))
        for pk in candidates:
            with transaction.atomic():
                conversation = Conversation.objects.select_for_update(of=("self",)).filter(late(moment), pk=pk).first()
                if conversation is None:
                    continue  # answered, re-prioritised, resolved or flagged meanwhile
                setattr(conversation, _FLAG[target], True)
                conversation.save(update_fields=[_FLAG[target]])
                events.sla_breached(conversation, target=target, due_at=getattr(conversation, _DUE[target]), at=moment)
                followups.conversation_changed(conversation, at=moment)
                marked += 1
    return marked


def breach_if_late(conversation: Conversation, *, target: str, moment: datetime) -> bool:
    """At the moment a reply or a resolution happens: flag the target if its due time passed."""
    due = getattr(conversation, _DUE[target])
    if due is None or moment <= due or getattr(conversation, _FLAG[target]):
        return False
    setattr(conversation, _FLAG[target], True)
    events.sla_breached(conversation, target=target, due_at=due, at=moment)
    return True
