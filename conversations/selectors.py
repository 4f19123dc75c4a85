"""Reads for the desk: the queue, a conversation's thread and timeline, a contact's history."""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from config import inputs
from conversations.access import conversations_visible_to
from conversations.models import CannedResponse, Contact, Conversation, ConversationEvent, Message


def conversation_queue(*, user, account) -> QuerySet[Conversation]:
    """The conversations the user may see, with everything a queue row shows joined or
    prefetched (one query for the page, one for its labels), longest-waiting first."""
    return (
        conversations_visible_to(user, account=account)
        .select_related("contact", "inbox", "assignee", "team")
        .prefetch_related("labels")
        .order_by(F("waiting_since").asc(nulls_last=True), "-priority", "-last_activity_at")
    )


def conversation_search(queryset: QuerySet[Conversation], term: str) -> QuerySet[Conversation]:
    """Match the contact's name or email, the subject, the #number or any message text.

    ILIKE '%term%' on these columns is served by their pg_trgm GIN indexes; messages are
    matched with EXISTS so a conversation with many hits appears once.
    """
    term = term.strip()
    if not term:
        return queryset
    condition = (
        Q(contact__name__icontains=term) | Q(contact__email__icontains=term) | Q(subject__icontains=term)
        | Q(Exists(Message.objects.filter(conversation=OuterRef("pk"), content__icontains=term)))
    )
    number = inputs.int_or_none(term.lstrip("#"), min_value=1, max_value=2**31 - 1)
    if number is not None:
        condition |= Q(number=number)
    return queryset.filter(condition)


def conversation_thread(*, conversation: Conversation, include_notes: bool = True) -> QuerySet[Message]:
    messages = Message.objects.filter(conversation=conversation).order_by("created_at", "id")
    if not include_notes:
        messages = messages.exclude(kind=Message.Kind.NOTE)
    return messages


def conversation_timeline(*, conversation: Conversation) -> QuerySet[ConversationEvent]:
    return ConversationEvent.objects.filter(conversation=conversation).order_by("created_at", "id")


def contact_conversations(*, contact: Contact, user, account, exclude: Conversation | None = None, limit: int = 10):
    """The contact's other conversations that the user may see (an agent: their teams' only)."""
    conversations = conversations_visible_to(user, account=account).filter(contact=contact).order_by("-created_at")
    if exclude is not None:
        conversations = conversations.exclude(pk=exclude.pk)
    return conversations[:limit]


def canned_response_expand(content: str) -> str:
    """A reply that is just `/short_code` becomes that canned response's body."""
    stripped = content.strip()
    if stripped.startswith("/") and " " not in stripped:
        canned = CannedResponse.objects.filter(short_code=stripped[1:]).first()
        if canned is not None:
            return canned.body
    return content
