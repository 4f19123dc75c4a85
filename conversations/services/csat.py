"""The customer's satisfaction rating of a conversation: one per conversation."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction

from config.errors import ApplicationError
from conversations import events, followups
from conversations.events import Actor
from conversations.models import Conversation, CSATResponse
from conversations.services._common import now


@transaction.atomic
def csat_record(*, conversation: Conversation, rating: int, comment: str = "", at: datetime | None = None) -> CSATResponse:
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ApplicationError("rating must be a whole number from 1 to 5", code="invalid_rating", fields={"rating": ["1-5"]})
    if CSATResponse.objects.filter(conversation=conversation).exists():
        raise ApplicationError("this conversation has already been rated", code="already_rated")
    moment = now(at)
    try:
        with transaction.atomic():
            response = CSATResponse.objects.create(conversation=conversation, rating=rating, comment=(comment or "").strip(), created_at=moment)
    except IntegrityError as error:
        raise ApplicationError("this conversation has already been rated", code="already_rated") from error
    events.csat_recorded(conversation, Actor.contact(conversation.contact), rating=rating, at=moment)
    followups.conversation_changed(conversation, at=moment)
    return response
