"""The seam later features hang on: the work that follows the desk's writes, queued after
commit, in the tenant that made the write.

Explicit calls, not signals: the services call these functions inside their transaction, and
nothing happens unless the transaction commits (`transaction.on_commit`). The task then runs in
the same tenant's schema (tenant-schemas-celery stamps it on the message, config/celery.py).

- `message_received(message)`: after a customer message is stored. Its task runs
  `message_followup_run`: today it marks the day for reporting and stamps
  `Message.followup_done_at`; the AI pipeline (classify, draft, auto-reply) and the knowledge
  base plug their steps in there.
- `conversation_changed(conversation, at=)`: after status, assignment, priority, labels,
  classification, SLA breach or CSAT change. Its task runs `conversation_followup_run`:
  today it marks the days whose reporting must be recomputed; the analytics rollups use them.

Queueing never fails the write: if the broker cannot be reached the error is logged and the
customer still gets their answer; `message_followups_requeue` (a per-tenant beat job) finds the
incoming messages whose follow-up never ran and queues them again.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from analytics.services import reporting_days_mark_dirty
from config.publish import task_publish
from conversations.models import Conversation, Message

logger = logging.getLogger(__name__)

# A broker that is down must not hold a customer's request: one quick retry, then the sweep.
PUBLISH_RETRIES = 1
# Messages younger than this are left to the task already queued for them.
SWEEP_GRACE = timedelta(minutes=2)
# Older misses are not re-queued: an AI answer days late helps nobody; an operator looks.
SWEEP_WINDOW = timedelta(days=1)
SWEEP_BATCH = 500


def _enqueue(task_name: str, *args) -> bool:
    """Send one follow-up task in the current tenant; log (never raise) when the broker fails.
    (config.publish: one LPUSH on a kept Redis client, a quarter of a widget POST's CPU less
    than apply_async; the same message, the tenant stamped as tenant-schemas-celery does.)"""
    from conversations import tasks  # tasks call the services, which call this module

    try:
        task_publish(getattr(tasks, task_name), args, retries=PUBLISH_RETRIES)
    except Exception:  # noqa: BLE001: any broker failure; the sweep is the safety net
        logger.exception("could not queue %s%r in %s; left to the sweep", task_name, args, connection.schema_name)
        return False
    return True


class _AfterCommit:
    """One follow-up per task and row per transaction, however many changes the transaction
    makes: a second call finds the first's callback still pending and adds its days to it.
    (A rolled-back savepoint takes its callbacks with it, so nothing stale is found.)"""

    def __init__(self, task_name: str, pk: int):
        self.task_name, self.pk, self.days = task_name, pk, set()

    def __call__(self) -> None:
        if self.days:
            _enqueue(self.task_name, self.pk, sorted(day.isoformat() for day in self.days))
        else:
            _enqueue(self.task_name, self.pk)

    def key(self):
        return (self.task_name, self.pk)


def _after_commit(task_name: str, pk: int, days=()) -> None:
    # The connection itself, read once (through the `connection` proxy each attribute costs a
    # dozen calls); its on_commit is what transaction.on_commit calls for the default database.
    db = connections[DEFAULT_DB_ALIAS]
    for _savepoints, callback, *_ in db.run_on_commit:
        if isinstance(callback, _AfterCommit) and callback.key() == (task_name, pk):
            callback.days.update(days)
            return
    callback = _AfterCommit(task_name, pk)
    callback.days.update(days)  # before registering: outside a transaction it runs at once
    db.on_commit(callback)


def _day(moment: datetime) -> date:
    """The account's calendar day of `moment`: reports count days where the business is."""
    tz_name = getattr(getattr(connection, "tenant", None), "timezone", None) or "UTC"
    return timezone.localtime(moment, ZoneInfo(tz_name)).date()


# ----------------------------------------------------------------------------- called by services


def message_received(message: Message) -> None:
    """Call in the transaction that stores a customer message."""
    _after_commit("message_followup", message.pk)


def conversation_changed(conversation: Conversation, *, at: datetime) -> None:
    """Call in the transaction that changes a conversation's state."""
    # Reports by day of opening change too (e.g. how many of that day's were resolved).
    days = {_day(at), _day(conversation.created_at)} if conversation.created_at else {_day(at)}
    _after_commit("conversation_followup", conversation.pk, days)


# ----------------------------------------------------------------------------- run by the tasks


def message_followup_run(*, message_id: int) -> bool:
    """The follow-up of one customer message; False when it already ran (or the message is
    gone). Each step must tolerate running twice: the sweep may re-queue a message whose
    task is merely late. No transaction is held over the steps (AI steps call networks)."""
    message = Message.objects.select_related("conversation").filter(
        pk=message_id, direction=Message.Direction.INCOMING, followup_done_at__isnull=True
    ).first()
    if message is None:
        return False
    # The steps, in order. Issue 9 (AI: classify, route, draft or auto-reply) and issue 11
    # (knowledge-base gaps, analytics) add theirs to this list.
    steps = [
        _message_reporting_day_mark,
        *([_message_classify, _message_answer] if settings.AI_PIPELINE else []),
    ]
    for step in steps:
        step(message)
    Message.objects.filter(pk=message.pk, followup_done_at__isnull=True).update(followup_done_at=timezone.now())
    return True


def _message_reporting_day_mark(message: Message) -> None:
    reporting_days_mark_dirty(days=[_day(message.created_at)])


def _message_classify(message: Message) -> None:
    from ai.pipeline import message_classify  # ai builds on the desk, not the other way round

    message_classify(message)


def _message_answer(message: Message) -> None:
    """A draft reply grounded in the knowledge base, then (where the inbox allows it and the
    AI is sure) that draft sent to the customer, or the conversation handed to people."""
    from ai.autoreply import draft_autoreply
    from ai.drafts import message_draft

    draft = message_draft(message)
    if draft is not None:
        draft_autoreply(draft)


def conversation_followup_run(*, conversation_id: int, days: list[date]) -> None:
    """The follow-up of a change to a conversation: reporting facts of `days` are stale.
    (`conversation_id` is for the steps to come; today's step needs only the days.)"""
    # The steps, in order. Issue 11 (analytics rollups) adds its own; issue 9 may add
    # learning from agents' corrections of the AI's classification.
    steps = [
        lambda: reporting_days_mark_dirty(days=days),
    ]
    for step in steps:
        step()


def message_followups_requeue(*, at: datetime | None = None) -> int:
    """Queue again the follow-up of incoming messages that never got it (the broker was down
    when they arrived, or a worker lost the task). Beat runs this per tenant."""
    moment = at or timezone.now()
    missed = (
        Message.objects.filter(
            direction=Message.Direction.INCOMING, followup_done_at__isnull=True,
            created_at__lt=moment - SWEEP_GRACE, created_at__gte=moment - SWEEP_WINDOW,
        ).order_by("created_at").values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    return sum(1 for pk in missed if _enqueue("message_followup", pk))
