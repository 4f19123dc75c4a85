"""Erasing one contact (a customer's right to erasure), in one transaction.

What the customer wrote and who they are is replaced by a tombstone (`TOMBSTONE`) or emptied;
the rows stay, with their times, statuses, counts and links, so reports, SLA figures and the
conversation numbers are unchanged. Every table of a tenant was read for a column that can
hold a customer's words or identity, and decided on here:

conversations
- Contact: name -> TOMBSTONE; email, phone -> ""; external_id -> NULL; custom_attributes ->
  {}; business_fields -> []; `erased_at`, `erased_by` set (there is no avatar column).
- WidgetSession: every open session of the contact ends (`revoked_at`), and the cached
  sessions of the tenant go stale (session_cache), so a widget token stops working at once.
- Conversation (all of the contact's): subject, and the AI's handoff sentence when set ->
  TOMBSTONE; the search document becomes the tombstone's words (the trigram indexes follow
  the subject and the contact's name and e-mail); idempotency_key (the client's) -> NULL.
- SearchWords (a customer message's words waiting to be folded into the search document,
  services/search_words.py): the contact's conversations' rows deleted (searched like the
  document, and rebuilt nowhere: the document is the tombstone's words).
- Message (all, the customer's, the agents' and the AI's replies, notes and activity lines):
  content -> TOMBSTONE, attachments -> [] (metadata with names and URLs). `sources` (the
  knowledge base's articles) are the tenant's own text and stay.
- ConversationEvent: the customer's name as actor (`actor_name`) and the reasons of automatic
  changes -> TOMBSTONE; old/new values are statuses, people, labels, categories and rule
  codes, never the customer's words, and stay. One `contact_erased` event is added to each
  conversation: the audit trail of who erased and when.
- CSATResponse: comment -> TOMBSTONE (the rating stays).
- Inbox, Team, Label, CannedResponse, SLA*, MessageFeedback: no customer text.

ai
- AICall (the ledger): `error` (a provider's error can echo the prompt) -> "" for the
  conversations' calls; counts, tokens, cost, latency and status stay. No call's prompt or
  response is stored on the ledger.
- CachedResponse: responses and embeddings are keyed by a hash of their input, so which rows
  came from this customer cannot be told: every row written since the customer's first
  message is deleted (a cache; it fills again).
- Classification: `reasoning` -> "", `evidence` -> {} (category, confidence, sentiment stay).
- Draft: content -> TOMBSTONE, reasoning and rejected_reason -> "" (status, similarity and
  knowledge-base sources stay).
- KnowledgeGap: question -> TOMBSTONE (the category still counts the gap).
- TrainingExample made from the customer's messages (agents' corrections): deleted; its text
  is theirs. The classifier quotes corrections by reference (ai/training.py), never by words.
- AISettings, Category, ClassifierVersion, RoutingRule, Correction: no customer text.

django.contrib.admin (tenant schema)
- LogEntry (the admin's history): names each changed row by its text as it was (the contact's
  name, "#12 <subject>", a message's first words, a knowledge gap's question), and an inline's
  text in its change message: both -> TOMBSTONE for the rows erased (who changed what kind of
  row, and when, stays).

kb (articles and passages) and analytics (numbers per day and group; JobStatus): no customer
text. Redis holds no customer text but the widget's session cache, made stale above.

PostgreSQL keeps old row versions until VACUUM reclaims them (autovacuum does, within
minutes to hours); no query can read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.postgres.search import SearchVector
from django.db import transaction
from django.db.models import Min, Value

from config.errors import ApplicationError
from conversations import events, session_cache
from conversations.events import Actor
from conversations.models import (
    SEARCH_CONFIG,
    Contact,
    Conversation,
    ConversationEvent,
    CSATResponse,
    Message,
    WidgetSession,
)
from conversations.services._common import now
from conversations.services.search_words import search_words_discard

# What erased text reads as, everywhere: recognisable in the desk, in exports and in SQL.
TOMBSTONE = "[erased]"


@dataclass(frozen=True)
class ContactErasure:
    """What an erasure did; `already_erased` when the contact had been erased before (nothing changed)."""

    contact_id: int
    erased_at: datetime
    erased_by_id: int | None
    already_erased: bool = False
    conversations: int = 0
    messages: int = 0

    def summary(self) -> str:
        if self.already_erased:
            return f"contact {self.contact_id} was already erased on {self.erased_at:%Y-%m-%d %H:%M} UTC: nothing changed"
        return f"contact {self.contact_id} erased: {self.conversations} conversation(s), {self.messages} message(s)"


def _ai_artefacts_purge(*, conversation_ids: list[int], message_ids: list[int], since: datetime | None) -> None:
    from ai.models import AICall, CachedResponse, Classification, Draft, KnowledgeGap, TrainingExample

    AICall.objects.filter(conversation_id__in=conversation_ids).exclude(error="").update(error="")
    Classification.objects.filter(conversation_id__in=conversation_ids).update(reasoning="", evidence={})
    Draft.objects.filter(conversation_id__in=conversation_ids).update(content=TOMBSTONE, reasoning="", rejected_reason="")
    gaps = KnowledgeGap.objects.filter(conversation_id__in=conversation_ids)
    admin_log_tombstone(model=KnowledgeGap, ids=list(gaps.values_list("pk", flat=True)))
    gaps.update(question=TOMBSTONE)
    examples = TrainingExample.objects.filter(message_id__in=message_ids)
    admin_log_tombstone(model=TrainingExample, ids=list(examples.values_list("pk", flat=True)))
    examples.delete()
    if since is not None:
        CachedResponse.objects.filter(created_at__gte=since).delete()


def admin_log_tombstone(*, model, ids) -> int:
    """Tombstone the admin history's text about these rows (see the module's list)."""
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    if not ids:
        return 0
    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(model), object_id__in=[str(pk) for pk in ids],
    ).update(object_repr=TOMBSTONE, change_message=TOMBSTONE)


def _erased_by_actor(by) -> Actor:
    return Actor.agent(by) if by is not None else Actor(events.ActorType.SYSTEM, None, "Hearth operator")


@transaction.atomic
def contact_erase(*, contact: Contact, by=None, at: datetime | None = None) -> ContactErasure:
    """Erase the contact's personal data and the contents of all their conversations (see the
    module's list); `by` is the user who asked (None: an operator's command). Erasing an
    erased contact changes nothing and says so."""
    locked = Contact.objects.select_for_update().filter(pk=contact.pk).first()
    if locked is None:
        raise ApplicationError(f"no contact {contact.pk}", code="not_found")
    if locked.erased_at is not None:
        return ContactErasure(contact_id=locked.pk, erased_at=locked.erased_at, erased_by_id=locked.erased_by_id, already_erased=True)
    moment = now(at)

    # The contact, then its conversations in key order. Intake locks one conversation and never
    # the contact, so the two cannot deadlock; a message waiting for the lock is stored after
    # the erasure, as new data (the contact's widget sessions end with this commit).
    conversation_ids = list(
        Conversation.objects.select_for_update(of=("self",)).filter(contact=locked).order_by("pk").values_list("pk", flat=True)
    )
    messages = Message.objects.filter(conversation_id__in=conversation_ids)
    message_ids = list(messages.values_list("pk", flat=True))
    first_message_at = messages.aggregate(first=Min("created_at"))["first"]

    messages.update(content=TOMBSTONE, attachments=[])
    conversations = Conversation.objects.filter(pk__in=conversation_ids)
    conversations.update(
        subject=TOMBSTONE, idempotency_key=None, search_document=SearchVector(Value(TOMBSTONE), config=SEARCH_CONFIG),
    )
    search_words_discard(conversation_ids=conversation_ids)  # the messages' words not yet in the document
    conversations.exclude(ai_handoff_reason="").update(ai_handoff_reason=TOMBSTONE)
    timeline = ConversationEvent.objects.filter(conversation_id__in=conversation_ids)
    timeline.filter(actor_type=ConversationEvent.ActorType.CONTACT).update(actor_name=TOMBSTONE)
    timeline.exclude(reason="").update(reason=TOMBSTONE)
    CSATResponse.objects.filter(conversation_id__in=conversation_ids).exclude(comment="").update(comment=TOMBSTONE)
    admin_log_tombstone(model=Contact, ids=[locked.pk])
    admin_log_tombstone(model=Conversation, ids=conversation_ids)
    admin_log_tombstone(model=Message, ids=message_ids)
    _ai_artefacts_purge(conversation_ids=conversation_ids, message_ids=message_ids, since=first_message_at)

    WidgetSession.objects.filter(contact=locked, revoked_at__isnull=True).update(revoked_at=moment)
    Contact.objects.filter(pk=locked.pk).update(
        name=TOMBSTONE, email="", phone="", external_id=None, custom_attributes={}, business_fields=[],
        erased_at=moment, erased_by=by,
    )
    session_cache.sessions_stale()  # queryset updates send no signal

    actor = _erased_by_actor(by)
    for conversation in conversations.order_by("pk"):
        events.contact_erased(conversation, actor, at=moment)
    return ContactErasure(
        contact_id=locked.pk, erased_at=moment, erased_by_id=getattr(by, "pk", None),
        conversations=len(conversation_ids), messages=len(message_ids),
    )
