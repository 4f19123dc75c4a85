"""What every service module of the desk shares: the clock, the current account, the
internal activity line. Private to the package."""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.utils import timezone

from conversations.models import Conversation, Message

Status = Conversation.Status
# Conversations that count against an agent's max concurrent load.
ACTIVE_STATUSES = (Status.OPEN, Status.PENDING)


def now(at: datetime | None) -> datetime:
    """`at` lets imports and the demo seed record past events; live callers omit it."""
    return at or timezone.now()


def current_account():
    return connection.tenant


def locked(conversation: Conversation) -> Conversation:
    """The conversation's row, locked until the transaction ends, as it is now (not as the
    caller last read it): every change re-reads under the lock, so none is lost."""
    return Conversation.objects.select_for_update(of=("self",)).get(pk=conversation.pk)


def activity_add(conversation: Conversation, text: str, moment: datetime) -> None:
    Message.objects.create(
        conversation=conversation, direction=Message.Direction.OUTGOING, kind=Message.Kind.ACTIVITY,
        sender_type=Message.SenderType.SYSTEM, content=text, created_at=moment,
    )
