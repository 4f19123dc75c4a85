"""Retention per account: how long message contents and AI payloads are kept.

`Account.retention_message_days` and `Account.retention_ai_payload_days` (blank: keep for as
long as the account exists) are applied nightly in each tenant (`conversations.tasks.
retention_apply`, CELERY_BEAT_SCHEDULE) and by `manage.py retention_apply`.

- Messages older than N days: their contents become the tombstone as an erasure makes them
  (services/erasure.py): content, attachments, and the copies of their words (the
  conversation's search document, rebuilt from the newer messages; the subject once the
  conversation itself is older; the knowledge gap quoting the message; a CSAT comment). Rows
  stay: counts, times and statuses are unchanged.
- AI payloads older than M days: what an AI call read or wrote, wherever it is stored (the
  ledger keeps no prompt or response itself): the response cache's rows are deleted; the
  classification's reasoning and evidence, a draft's text and reasoning, a knowledge gap's
  question and a ledger row's error text are emptied or tombstoned. Counts, tokens, cost,
  categories and statuses stay.
- Training examples that agents' corrections made are the tenant's training data and stay
  until deleted in the admin (erasing a contact deletes theirs).

Work goes in batches of `BATCH_SIZE` rows, one transaction each: a long run never holds
locks for long, and an interrupted one resumes where it stopped (a done row no longer
matches), so running twice is the same as running once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q, QuerySet

from conversations.models import SEARCH_CONFIG, Conversation, CSATResponse, Message
from conversations.services._common import now
from conversations.services.erasure import TOMBSTONE, admin_log_tombstone
from conversations.services.search_words import search_words_discard

BATCH_SIZE = 1000
# As migration 0007's backfill: a document rebuilt from at most this many characters of text
# stays under PostgreSQL's 1 MB tsvector limit.
REBUILT_TEXT_CAP = 300_000


@dataclass(frozen=True)
class RetentionRun:
    """Rows changed by one run in one tenant."""

    messages: int = 0
    ai_payloads: int = 0

    def summary(self) -> str:
        return f"{self.messages} message(s) erased, {self.ai_payloads} AI payload(s) dropped"


def _batched(queryset: QuerySet, apply: Callable[[list[int]], int], *, batch_size: int) -> int:
    """`apply(pks)` on the queryset's rows, `batch_size` at a time in primary-key order, one
    transaction per batch. Each batch starts after the last one's key, so a run reads the
    table once however many rows it changes; rows another transaction holds are skipped, for
    the next run."""
    done, after = 0, 0
    while True:
        with transaction.atomic():
            pks = list(
                queryset.filter(pk__gt=after).select_for_update(skip_locked=True).order_by("pk").values_list("pk", flat=True)[:batch_size]
            )
            if not pks:
                return done
            done += apply(pks)
        after = pks[-1]
        if len(pks) < batch_size:
            return done


def search_documents_rebuild(*, conversation_ids: list[int]) -> None:
    """The conversations' search documents again from their subject and messages (activity
    lines left out, as intake writes them): after contents were tombstoned."""
    table, messages = Conversation._meta.db_table, Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {table} c
                SET search_document = to_tsvector(%s, left(c.subject || ' ' || coalesce((
                    SELECT string_agg(m.content, ' ' ORDER BY m.created_at, m.id) FROM {messages} m
                    WHERE m.conversation_id = c.id AND m.kind <> 'activity'
                ), ''), %s))
                WHERE c.id = ANY(%s)""",
            [SEARCH_CONFIG, REBUILT_TEXT_CAP, conversation_ids],
        )
    # Their words waiting to be folded are in the rebuilt document, or tombstoned: gone too.
    search_words_discard(conversation_ids=conversation_ids)


def _knowledge_gaps_tombstone(pks: list[int]) -> int:
    """A knowledge gap's question is the customer's message, quoted."""
    from ai.models import KnowledgeGap

    admin_log_tombstone(model=KnowledgeGap, ids=pks)
    return KnowledgeGap.objects.filter(pk__in=pks).update(question=TOMBSTONE)


def messages_retention_apply(*, days: int, at: datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Tombstone the contents of the current tenant's messages older than `days` days (and
    their copies, see the module); how many messages changed."""
    from ai.models import KnowledgeGap

    cutoff = now(at) - timedelta(days=days)

    def erase(pks: list[int]) -> int:
        # The conversations first, in key order as intake locks them: no deadlock with a new message.
        conversation_ids = sorted(set(Message.objects.filter(pk__in=pks).values_list("conversation_id", flat=True)))
        list(Conversation.objects.select_for_update(of=("self",)).filter(pk__in=conversation_ids).order_by("pk").values_list("pk"))
        changed = Message.objects.filter(pk__in=pks).update(content=TOMBSTONE, attachments=[])
        admin_log_tombstone(model=Message, ids=pks)
        old_conversations = Conversation.objects.filter(pk__in=conversation_ids, created_at__lt=cutoff).exclude(subject=TOMBSTONE)
        admin_log_tombstone(model=Conversation, ids=list(old_conversations.values_list("pk", flat=True)))
        old_conversations.update(subject=TOMBSTONE)
        _knowledge_gaps_tombstone(list(KnowledgeGap.objects.filter(message_id__in=pks).values_list("pk", flat=True)))
        search_documents_rebuild(conversation_ids=conversation_ids)
        return changed

    old_messages = Message.objects.filter(created_at__lt=cutoff).exclude(content=TOMBSTONE, attachments=[])
    changed = _batched(old_messages, erase, batch_size=batch_size)
    old_comments = CSATResponse.objects.filter(created_at__lt=cutoff).exclude(comment="").exclude(comment=TOMBSTONE)
    _batched(old_comments, lambda pks: CSATResponse.objects.filter(pk__in=pks).update(comment=TOMBSTONE), batch_size=batch_size)
    return changed


def ai_payloads_retention_apply(*, days: int, at: datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Drop the current tenant's AI payloads older than `days` days (see the module); how many
    rows changed or went."""
    from ai.models import AICall, CachedResponse, Classification, Draft, KnowledgeGap

    cutoff = now(at) - timedelta(days=days)
    older = Q(created_at__lt=cutoff)
    work = [
        (CachedResponse.objects.filter(older), lambda pks: CachedResponse.objects.filter(pk__in=pks).delete()[0]),
        (AICall.objects.filter(older).exclude(error=""), lambda pks: AICall.objects.filter(pk__in=pks).update(error="")),
        (
            Classification.objects.filter(older).exclude(reasoning="", evidence={}),
            lambda pks: Classification.objects.filter(pk__in=pks).update(reasoning="", evidence={}),
        ),
        (
            Draft.objects.filter(older).exclude(content=TOMBSTONE, reasoning="", rejected_reason=""),
            lambda pks: Draft.objects.filter(pk__in=pks).update(content=TOMBSTONE, reasoning="", rejected_reason=""),
        ),
        (
            KnowledgeGap.objects.filter(older).exclude(question=TOMBSTONE),
            _knowledge_gaps_tombstone,
        ),
    ]
    return sum(_batched(queryset, apply, batch_size=batch_size) for queryset, apply in work)


def retention_apply(*, account, at: datetime | None = None, batch_size: int = BATCH_SIZE) -> RetentionRun:
    """Apply the account's two retention periods in its schema (the caller's tenant context);
    a blank period keeps everything of its kind."""
    messages = ai_payloads = 0
    if account.retention_message_days is not None:
        messages = messages_retention_apply(days=account.retention_message_days, at=at, batch_size=batch_size)
    if account.retention_ai_payload_days is not None:
        ai_payloads = ai_payloads_retention_apply(days=account.retention_ai_payload_days, at=at, batch_size=batch_size)
    return RetentionRun(messages=messages, ai_payloads=ai_payloads)


def account_retention_set(*, account, message_days: int | None, ai_payload_days: int | None) -> None:
    """The account's retention periods (days, RETENTION_DAYS_MIN .. RETENTION_DAYS_MAX; None
    keeps everything)."""
    from accounts.models import RETENTION_DAYS_MAX, RETENTION_DAYS_MIN, Account
    from config.errors import ApplicationError

    for name, value in (("retention_message_days", message_days), ("retention_ai_payload_days", ai_payload_days)):
        if value is not None and (not isinstance(value, int) or not RETENTION_DAYS_MIN <= value <= RETENTION_DAYS_MAX):
            bounds = f"at least {RETENTION_DAYS_MIN} and at most {RETENTION_DAYS_MAX}"
            raise ApplicationError(f"a retention period is a whole number of days, {bounds}", code="invalid", fields={name: [bounds]})
    Account.objects.filter(pk=account.pk).update(retention_message_days=message_days, retention_ai_payload_days=ai_payload_days)
    account.retention_message_days, account.retention_ai_payload_days = message_days, ai_payload_days
