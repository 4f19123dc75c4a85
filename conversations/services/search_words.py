"""Customers' words waiting in SearchWords, folded into their conversations' search documents.

The usual customer message stores its words in a SearchWords row instead of the conversation's
search document (services/intake.py: so that its UPDATE of the conversation is a HOT update).
Search reads those rows too (selectors.conversation_search), so nothing waits for this fold to
be found; the fold only keeps the table small and the documents whole. Every five minutes,
per tenant (beat: `fold-search-words`), in batches of conversations (a document is rewritten
once per run however many messages its conversation got meanwhile: a live chat's dozen
messages cost one rewrite instead of twelve; the interval bounds the table's size, which
search reads through its GIN index):

1. the conversations that have words waiting, locked in key order (as intake, erasure and
   retention lock them: no deadlock), so no new words arrive for them and no erasure runs on
   them until the batch commits;
2. their words deleted and appended to each document in the order they arrived, each
   message's words only while the document is under the cap (intake.search_document_has_room_sql),
   as if each message had added them itself; the document rewritten once per batch.

Search sees either the rows and the old document or the new document without the rows (one
transaction). Erasure and retention rebuild a document from the messages and delete the
conversation's rows with it (`search_words_discard`).
"""

from __future__ import annotations

from django.db import connection, transaction

from conversations.models import Conversation, SearchWords
from conversations.services.intake import search_document_appended_sql

# Conversations per transaction: each holds its rows locked for the batch (a widget POST to one
# of them waits until the batch commits), and a batch is one UPDATE. 100 keeps that wait to one
# statement over 100 documents while still folding a busy tenant's run in a few statements.
FOLD_BATCH = 100


def _batch_fold(conversation_ids: list[int]) -> int:
    """Folds the (locked) conversations' waiting words into their documents; how many
    messages' words were folded."""
    conversations, words = Conversation._meta.db_table, SearchWords._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH RECURSIVE taken AS (
                    DELETE FROM "{words}" WHERE "conversation_id" = ANY(%(ids)s) RETURNING "id", "conversation_id", "words"
                ), waiting AS MATERIALIZED (
                    SELECT "conversation_id", "words", row_number() OVER (PARTITION BY "conversation_id" ORDER BY "id") AS n
                    FROM taken
                ), folded ("conversation_id", n, document) AS (
                    SELECT c."id", 0::bigint, c."search_document" FROM "{conversations}" c
                    WHERE c."id" IN (SELECT "conversation_id" FROM waiting)
                    UNION ALL
                    SELECT f."conversation_id", w.n, {search_document_appended_sql("f.document", 'w."words"')}
                    FROM folded f JOIN waiting w ON w."conversation_id" = f."conversation_id" AND w.n = f.n + 1
                ), latest AS (
                    SELECT DISTINCT ON ("conversation_id") "conversation_id", n, document FROM folded
                    ORDER BY "conversation_id", n DESC
                ), written AS (
                    UPDATE "{conversations}" c SET "search_document" = latest.document FROM latest
                    WHERE c."id" = latest."conversation_id"
                )
                SELECT coalesce(sum(n), 0) FROM latest""",
            {"ids": conversation_ids},
        )
        return int(cursor.fetchone()[0])


def search_words_fold(*, batch_size: int = FOLD_BATCH) -> int:
    """Fold the current tenant's waiting words into their conversations' documents; how many
    messages' words were folded. Stops at a batch smaller than `batch_size` (words arriving
    meanwhile wait for the next run)."""
    folded, after = 0, 0
    while True:
        with transaction.atomic():
            waiting = (
                SearchWords.objects.filter(conversation_id__gt=after).order_by("conversation_id")
                .values_list("conversation_id", flat=True).distinct()[:batch_size]
            )
            waiting = list(waiting)
            ids = list(
                Conversation.objects.select_for_update(of=("self",)).filter(pk__in=waiting).order_by("pk").values_list("pk", flat=True)
            )
            if len(ids) < len(waiting):  # deleted since (ids are never reused): their words go too
                search_words_discard(conversation_ids=sorted(set(waiting) - set(ids)))
            if ids:
                folded += _batch_fold(ids)
        if len(waiting) < batch_size:
            return folded
        after = waiting[-1]


def search_words_discard(*, conversation_ids: list[int]) -> None:
    """Drops the conversations' waiting words: their documents were just rebuilt from the
    messages as they are now (erasure, retention), so the words are either in them or erased.
    The caller holds the conversations locked."""
    SearchWords.objects.filter(conversation_id__in=conversation_ids).delete()
