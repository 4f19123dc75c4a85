"""The cap on a conversation's search document (conversations/services/intake.py): a message
on a conversation whose document has reached SEARCH_DOCUMENT_CAP is stored and answered, but
its words are not added (PostgreSQL refuses a tsvector over 1 MB); below the cap they are, and
the queue's search finds them at once. The size is read from the row: the document is stored
uncompressed (migration 0014). (A document still compressed from before would be measured by
its text form; PostgreSQL's pglz did not compress any tsvector tried here, so no test makes one.)"""

from __future__ import annotations

import pytest
from django.db import connection

from conversations import selectors, services
from conversations.models import Conversation, Message
from conversations.services.intake import SEARCH_DOCUMENT_CAP

# 60,000 distinct words: ~0.8 MB as a tsvector, ~0.9 MB as text (over the cap, under 1 MB).
_BIG_DOCUMENT = "to_tsvector('simple', (SELECT string_agg('w' || i, ' ') FROM generate_series(1, 60000) i))"


def _document_set_big(conversation: Conversation) -> tuple[int, str | None]:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE conversations_conversation SET search_document = {_BIG_DOCUMENT} WHERE id = %s", [conversation.pk])
        cursor.execute(
            "SELECT pg_column_size(search_document), pg_column_compression(search_document) FROM conversations_conversation WHERE id = %s",
            [conversation.pk],
        )
        return cursor.fetchone()


def _found_by_search(word: str) -> list[int]:
    return sorted(selectors.conversation_search(Conversation.objects.all(), word).values_list("pk", flat=True))


@pytest.mark.usefixtures("in_alpha")
def test_a_document_at_the_cap_takes_no_more_words_and_one_below_it_does(open_conversation):
    full, room = open_conversation(), open_conversation()
    size, compression = _document_set_big(full)
    assert compression is None and size > SEARCH_DOCUMENT_CAP  # stored uncompressed, measured from the row
    for conversation in (full, room):
        message, created = services.message_add_incoming(conversation=conversation, content="zebracorn sighted")
        assert created and Message.objects.filter(pk=message.pk).exists()
    assert _found_by_search("zebracorn") == [room.pk]
    assert _found_by_search("w59999") == [full.pk]  # the document is kept as it was


def _words_waiting(conversation: Conversation, text: str) -> None:
    """A message's words waiting in SearchWords, as the widget's statement leaves them while
    the document has room (here: the document filled up after they arrived)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO conversations_searchwords (conversation_id, words) VALUES (%s, to_tsvector('english', %s))",
            [conversation.pk, text],
        )


@pytest.mark.usefixtures("in_alpha")
@pytest.mark.parametrize("way", ["note", "reply", "widget message", "fold"])
def test_every_way_words_reach_a_document_keeps_the_one_cap(open_conversation, make_member, way):
    """The cap's rule is one SQL fragment (intake.search_document_has_room_sql); each writer of
    the document goes through it: a full document takes no words, one with room does."""
    agent = make_member()
    full, room = open_conversation(), open_conversation()
    size, _ = _document_set_big(full)
    for conversation in (full, room):
        if way == "note":
            services.message_add_note(conversation=conversation, content="zebracorn sighted", author=agent)
        elif way == "reply":
            services.message_add_reply(conversation=conversation, content="zebracorn sighted", author=agent)
        elif way == "widget message":
            message, created = services.message_add_incoming_by_number(
                number=conversation.number, contact_id=conversation.contact_id, inbox_id=conversation.inbox_id,
                content="zebracorn sighted")
            assert created
        else:
            _words_waiting(conversation, "zebracorn sighted")
    services.search_words_fold()
    assert _found_by_search("zebracorn") == [room.pk]
    assert _found_by_search("w59999") == [full.pk]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_column_size(search_document) FROM conversations_conversation WHERE id = %s", [full.pk])
        assert cursor.fetchone()[0] == size  # the full document is exactly as it was
        cursor.execute("SELECT count(*) FROM conversations_searchwords WHERE conversation_id IN (%s, %s)", [full.pk, room.pk])
        assert cursor.fetchone()[0] == 0  # folded or never stored
