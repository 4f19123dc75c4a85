"""Messages in and out: the customer opens a conversation or writes again; an agent or the AI
replies; agents leave private notes.

Timestamps kept here, and nowhere else:
- `waiting_since`: set when the customer writes and nobody was waiting; cleared by a reply
  (agent or AI) and by resolving; a reopen starts a new wait.
- `first_response_at`: the first outgoing reply by an agent or the AI. Notes and activity do
  not count, and a reopen does not reset it.
- `last_activity_at`: any message or status change.

Every customer message queues its follow-up work after commit (`followups.message_received`).

The conversation's `search_document` (the queue's full-text search) gets the words of the
subject and of each customer message, reply and note; activity lines are not searched. A
reply, a note or a reopen adds them in the UPDATE of the conversation's row that it makes
anyway. The usual customer message (open conversation, the one statement below) does not: its
words go to a row of SearchWords, which search reads as well, so they are found at once, and a
periodic job folds them into the document in batches (services/search_words.py). That keeps
the message's UPDATE of the conversation a HOT update when the customer is waiting already (it
changes last_activity_at only, a column in no index; queue_activity_at, computed from it, stays
NULL while someone waits: models.py): no entry in any of the conversation's indexes, no rewrite of a document
of tens of kB per message (docs/performance.md, branch hot8). PostgreSQL refuses a tsvector
over 1 MB, so a message adds at most its first SEARCH_TEXT_CAP characters, and a document that
has reached SEARCH_DOCUMENT_CAP bytes (thousands of messages; a 500-message thread is ~30 kB)
takes no more words: later messages of such a thread are not found by search. The document is
stored uncompressed (migration 0014), so its size is read from the row without converting it
(a 100,000-character message adds at most ~330 kB: the sum stays under 1 MB); a document still
compressed from before is measured by its text form, as before. The same cap holds for words
through SearchWords: a message whose conversation's document has reached it stores no words,
and the fold adds each message's words while the document is under the cap.
"""

from __future__ import annotations

import operator
import re
import threading
from datetime import datetime

from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import F, Func, Value
from django.db.models.functions import Coalesce
from django.db.models.signals import post_save, pre_save
from psycopg.sql import Literal as sql_literal

from config.errors import ApplicationError
from config.sql import CompiledInsert, CompiledQuery, update_query
from conversations import events, followups
from conversations.events import Actor
from conversations.models import SEARCH_CONFIG, Contact, Conversation, Inbox, Message, Priority, SearchWords
from conversations.services._common import Status, locked, now
from conversations.services.assignment import assignee_apply, conversation_auto_assign
from conversations.services.sla import breach_if_late, sla_apply
from conversations.services.status import status_apply


SEARCH_TEXT_CAP = 100_000
SEARCH_DOCUMENT_CAP = 500_000


def document_size_sql(document: str) -> str:
    """SQL for the size of the search document `document` (a column or a value without
    parameters), the cap's measure, without reading it: stored uncompressed (migration 0015),
    pg_column_size is its size in bytes from the row's header (or the TOAST pointer). Only a
    document last written before that migration is still compressed, and is measured by its
    text form once (the text form of a 20 kB document costs ~0.4 ms of the server's CPU)."""
    return (
        f"CASE WHEN pg_column_compression({document}) IS NULL THEN pg_column_size({document}) "
        f"ELSE octet_length({document}::text) END"
    )


def search_document_has_room_sql(document: str) -> str:
    """SQL: true when the search document `document` (a column or a value without parameters)
    takes more words: no document yet, or one under SEARCH_DOCUMENT_CAP bytes. The cap's rule,
    in this one place: the append below (replies, notes, reopens), the widget's statement
    (whether a message's words wait in SearchWords) and the fold of the waiting words
    (services/search_words.py) all ask it."""
    return f"({document} IS NULL OR {document_size_sql(document)} < {SEARCH_DOCUMENT_CAP})"


def search_document_appended_sql(document: str, words: str) -> str:
    """SQL: the document `document` (as for search_document_has_room_sql) with the tsvector
    `words` appended while it has room, else unchanged. `words` appears once in the text, so it
    may carry parameters. (`''::tsvector || words` is `words`: no document yet takes them as
    they are.)"""
    return f"CASE WHEN {search_document_has_room_sql(document)} THEN COALESCE({document}, ''::tsvector) || {words} ELSE {document} END"


# The message's words into SearchWords (searchable at once, folded into the document later:
# services/search_words.py), as a CTE of the one statement: `target` is the locked
# conversation with its `room`, `added` the message's INSERT. Parameters: the text search
# configuration, the text.
_WORDS_PENDING_CTE = (
    f'worded AS (INSERT INTO "{SearchWords._meta.db_table}" ("conversation_id", "words")'
    f' SELECT target."id", to_tsvector(%s::regconfig, %s) FROM target WHERE target.room AND EXISTS (SELECT FROM added))'
)


class _WordsAdded(Func):
    """`search_document || to_tsvector(text)`, unless the document has reached its cap."""

    output_field = SearchVectorField()

    def __init__(self, text: str):
        super().__init__(F("search_document"), SearchVector(Value(text[:SEARCH_TEXT_CAP]), config=SEARCH_CONFIG))

    def as_sql(self, compiler, connection, **extra_context):
        (document, document_params), (words, words_params) = (compiler.compile(e) for e in self.get_source_expressions())
        if document_params:  # (the column: no parameters, so it may appear several times)
            raise ValueError("the search document's SQL must not carry parameters")
        return search_document_appended_sql(document, words), tuple(words_params)


def _words_saved(conversation: Conversation, text: str, update_fields: list[str] | None) -> None:
    """Saves the (locked) conversation with the text's words added to its search document."""
    conversation.search_document = _WordsAdded(text)
    conversation.save(update_fields=None if update_fields is None else [*update_fields, "search_document"])
    del conversation.search_document  # unloaded again (deferred), so no later save repeats the expression


def _next_conversation_number() -> int:
    # A sequence per tenant schema (migration 0002): numbers never repeat, even under concurrency.
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('conversations_conversation_number_seq')")
        return cursor.fetchone()[0]


def _content_required(content: str, attachments, what: str = "a message") -> str:
    content = (content or "").strip()
    if not content and not attachments:
        raise ApplicationError(f"{what} needs content", code="empty_message", fields={"content": ["required"]})
    return content


@transaction.atomic
def conversation_open(
    *,
    inbox: Inbox,
    contact: Contact,
    content: str,
    subject: str = "",
    priority: int = Priority.NONE,
    attachments: list | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> Conversation:
    """A customer starts a conversation with their first message."""
    if contact.blocked:
        raise ApplicationError("this contact is blocked", code="contact_blocked")
    content = _content_required(content, attachments)
    moment = now(at)
    conversation = Conversation.objects.create(
        number=_next_conversation_number(),
        inbox=inbox,
        contact=contact,
        subject=(subject or content.splitlines()[0] if content else subject)[:300],
        status=Status.OPEN,
        priority=priority,
        team=inbox.default_team,
        waiting_since=moment,
        last_activity_at=moment,
        created_at=moment,
        resolution_clock_started_at=moment,
        idempotency_key=idempotency_key,
        search_document=SearchVector(Value(f"{subject}\n{content}"[:SEARCH_TEXT_CAP]), config=SEARCH_CONFIG),
    )
    del conversation.search_document  # the expression, not its value: leave the field unloaded
    events.conversation_opened(conversation, Actor.contact(contact), at=moment)
    message = Message.objects.create(
        conversation=conversation, direction=Message.Direction.INCOMING, sender_type=Message.SenderType.CONTACT,
        sender_id=contact.pk, content=content, attachments=attachments or [], idempotency_key=idempotency_key, created_at=moment,
    )
    sla_apply(conversation=conversation, policy=inbox.sla_policy)
    if inbox.auto_assign and conversation_auto_assign(conversation=conversation, at=moment) is not None:
        conversation.refresh_from_db()
    followups.message_received(message)
    followups.conversation_changed(conversation, at=moment)
    return conversation


def conversation_open_once(*, inbox: Inbox, contact: Contact, idempotency_key: str | None, **fields) -> tuple[Conversation, bool]:
    """conversation_open that a retried request cannot repeat: the same contact and
    Idempotency-Key return the first conversation, also when two retries race (the unique
    (contact, idempotency_key) constraint decides). Returns (conversation, created)."""
    if idempotency_key:
        existing = Conversation.objects.filter(contact=contact, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
    try:
        return conversation_open(inbox=inbox, contact=contact, idempotency_key=idempotency_key, **fields), True
    except IntegrityError:
        winner = Conversation.objects.filter(contact=contact, idempotency_key=idempotency_key).first() if idempotency_key else None
        if winner is None:
            raise
        return winner, False


# The row lock each incoming message takes, with the contact (blocked or not) beside it.
_LOCKED_WITH_CONTACT = CompiledQuery(
    lambda pk: Conversation.objects.select_for_update(of=("self",)).select_related("contact").filter(pk=pk),
    "pk",
)

# The message's row, and the usual UPDATE of its open conversation (two clocks, the search
# words): what Message.objects.create and _words_saved run, with their SQL built once. The
# INSERT stores nothing when the conversation has the idempotency key already (the unique
# (conversation, idempotency_key) constraint: ON CONFLICT DO NOTHING).
_MESSAGE_INSERT = CompiledInsert(Message, ignore_conflicts=True)
_OPEN_CONVERSATION_TOUCHED = CompiledQuery(
    lambda pk, moment, waiting_since, text: update_query(
        Conversation.objects.filter(pk=pk), last_activity_at=Value(moment), waiting_since=Value(waiting_since),
        search_document=_WordsAdded(text),
    ),
    "pk", "moment", "waiting_since", texts=("text",),
)
_TOUCHED_FIELDS = frozenset({"last_activity_at", "waiting_since", "search_document"})


def _open_conversation_touched(conversation: Conversation, text: str) -> None:
    """_words_saved(conversation, text, ["last_activity_at", "waiting_since"]), compiled: the
    same statement, the same signals (the model's save() sends them with these fields)."""
    alias = connection.alias
    pre_save.send(sender=Conversation, instance=conversation, raw=False, using=alias, update_fields=_TOUCHED_FIELDS)
    changed = _OPEN_CONVERSATION_TOUCHED.execute(
        pk=conversation.pk, moment=conversation.last_activity_at, waiting_since=conversation.waiting_since,
        text=text[:SEARCH_TEXT_CAP],
    )
    if not changed:  # as save(update_fields=...) says it
        raise DatabaseError("Save with update_fields did not affect any rows.")
    conversation.__dict__.pop("search_document", None)  # stale now: unloaded, as _words_saved leaves it
    post_save.send(sender=Conversation, instance=conversation, created=False, update_fields=_TOUCHED_FIELDS, raw=False, using=alias)


def message_add_incoming(
    *,
    conversation: Conversation,
    content: str,
    attachments: list | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> tuple[Message, bool]:
    """The customer writes. Returns (message, created); a repeated idempotency key returns the
    first message and writes nothing, also when two retries race.

    The usual case (an open conversation, a contact not blocked) is one statement
    (`_OpenConversationMessage`); anything else (a reopen, a blocked contact, a conversation
    whose contact is not loaded) takes the transaction below, which holds every rule."""
    content = _content_required(content, attachments)
    moment = now(at)
    contact_id = conversation.__dict__.get("contact_id")  # loaded, or the statement cannot vouch for it
    message, params = _MESSAGE_INSERT.prepare(
        conversation=conversation, direction=Message.Direction.INCOMING, sender_type=Message.SenderType.CONTACT,
        sender_id=contact_id, content=content, attachments=attachments or [], idempotency_key=idempotency_key,
        created_at=moment,
    )
    if contact_id is not None:
        done = _OPEN_CONVERSATION_MESSAGE.run(conversation, message, params, content)
        if done is not None:
            return done
    with transaction.atomic():
        return _message_add_incoming(conversation, message, params, content, idempotency_key, moment)


def _message_add_incoming(conversation, message, params, content, idempotency_key, moment) -> tuple[Message, bool]:
    found = _LOCKED_WITH_CONTACT.instances(pk=conversation.pk)
    if not found:
        raise Conversation.DoesNotExist("Conversation matching query does not exist.")
    conversation, contact = found[0]
    conversation._state.fields_cache["contact"] = contact
    if message.sender_id != conversation.contact_id:  # prepared before the row was read
        message, params = _MESSAGE_INSERT.prepare(
            conversation=conversation, direction=message.direction, sender_type=message.sender_type,
            sender_id=conversation.contact_id, content=message.content, attachments=message.attachments,
            idempotency_key=idempotency_key, created_at=moment,
        )
    else:
        message.conversation = conversation
    # Nearly every key is new, so no probe before: the INSERT itself finds a repeat (a retry
    # whose first try committed, or a concurrent one: it waits for that one to commit).
    message = _MESSAGE_INSERT.insert(message, params)
    if message is None:
        return Message.objects.get(conversation=conversation, idempotency_key=idempotency_key), False
    if conversation.contact.blocked:  # (a blocked contact's retry still gets its first message)
        raise ApplicationError("this contact is blocked", code="contact_blocked")  # the INSERT rolls back
    conversation.last_activity_at = moment
    reopened = conversation.status != Status.OPEN
    if reopened:
        # A customer who writes again needs an answer: resolved, pending and snoozed reopen.
        status_apply(conversation, Status.OPEN, Actor.contact(conversation.contact), moment)
    if conversation.waiting_since is None:
        conversation.waiting_since = moment
    # The row is locked above, so no save here can lose a concurrent change. A reopen saves
    # every field (status, clocks, SLA); the usual message on an open conversation moves two.
    if reopened:
        _words_saved(conversation, content, None)
    else:
        _open_conversation_touched(conversation, content)
    followups.message_received(message)
    return message, True


class _OpenConversationMessage:
    """A customer's message on an open conversation of a contact who is not blocked, in ONE
    statement: lock the conversation's row, insert the message, move the conversation's two
    clocks (a HOT update) and store the message's words in SearchWords (unless the document
    has reached its cap). What `_message_add_incoming` does in a
    transaction of five round trips (BEGIN, lock, INSERT, UPDATE, COMMIT) for this case;
    the rules stay there, and this statement writes nothing unless they are the usual ones:

        WITH target AS (SELECT the conversation FOR UPDATE, if open and its contact not blocked),
             added AS (the message's INSERT ... SELECT ... FROM target ON CONFLICT DO NOTHING),
             touched AS (the conversation's UPDATE ... AND EXISTS (SELECT FROM added)),
             worded AS (INSERT INTO SearchWords ... FROM target WHERE room AND EXISTS (SELECT FROM added))
        SELECT whether target held the row, the message's RETURNING columns, waiting_since

    The INSERT and the UPDATE are the ORM's own (`_MESSAGE_INSERT`, `_OPEN_CONVERSATION_MOVED`),
    built once per process; one statement is atomic on its own, and inside a caller's
    transaction it is part of it (rolled back with it, or with a savepoint). Concurrent
    messages queue on the row lock; PostgreSQL re-reads the row for the UPDATE once the lock is
    theirs (READ COMMITTED), so `waiting_since` keeps the earliest. The signals: the message's
    pre_save/post_save as `create()` sends them; the conversation's around the statement."""

    def __init__(self):
        self._sql: str | None = None
        self._lock = threading.Lock()

    def _compile(self, insert_sql: str, update_sql: str) -> str:
        values = re.fullmatch(r"(INSERT INTO .+?) VALUES \(((?:%s, )*%s)\)( ON CONFLICT DO NOTHING RETURNING .+)", insert_sql)
        where = re.fullmatch(r'(UPDATE "conversations_conversation" SET .+ WHERE "conversations_conversation"\."id" = %s)', update_sql)
        if values is None or where is None:
            raise RuntimeError("the ORM wrote the message's INSERT or the conversation's UPDATE in a shape this does not know")
        conversation, contact = Conversation._meta, Contact._meta
        return (
            f'WITH target AS (SELECT conversation."id", {search_document_has_room_sql("conversation.search_document")} AS room'
            f' FROM "{conversation.db_table}" conversation'
            f' JOIN "{contact.db_table}" contact ON contact."id" = conversation."contact_id"'
            f' WHERE conversation."id" = %s AND conversation."contact_id" = %s AND conversation."status" = %s'
            f' AND NOT contact."blocked" FOR UPDATE OF conversation),'
            f' added AS ({values[1]} SELECT {values[2]} FROM target{values[3]}),'
            f' touched AS ({where[1]} AND EXISTS (SELECT FROM added) RETURNING "conversations_conversation"."waiting_since"),'
            f" {_WORDS_PENDING_CTE}"
            f" SELECT EXISTS (SELECT FROM target), touched.waiting_since, added.* FROM (VALUES (1)) AS one"
            f" LEFT JOIN added ON true LEFT JOIN touched ON true"
        )

    def run(self, conversation: Conversation, message: Message, params: list, content: str) -> tuple[Message, bool] | None:
        """(message, created), or None when the usual case does not hold (nothing written)."""
        update_sql, update_params = _OPEN_CONVERSATION_MOVED._sql_and_params({"pk": conversation.pk, "moment": message.created_at})
        if self._sql is None:
            with self._lock:
                self._sql = self._sql or self._compile(_MESSAGE_INSERT.sql, update_sql)
        alias = connection.alias
        unloaded = {"last_activity_at"} - conversation.__dict__.keys()
        unmoved = conversation.__dict__.get("last_activity_at")
        conversation.last_activity_at = message.created_at
        pre_save.send(sender=Conversation, instance=conversation, raw=False, using=alias, update_fields=_TOUCHED_FIELDS)
        with connections[DEFAULT_DB_ALIAS].prepared_cursor() as cursor:  # prepared once per connection (again after a rollback on it)
            cursor.execute(
                self._sql, [conversation.pk, message.sender_id, Status.OPEN, *params, *update_params, SEARCH_CONFIG, content[:SEARCH_TEXT_CAP]],
            )
            locked, waiting_since, *returned = cursor.fetchone()
        if not locked or returned[0] is None:  # nothing was saved: the instance as it was
            if "last_activity_at" in unloaded:
                del conversation.__dict__["last_activity_at"]
            else:
                conversation.__dict__["last_activity_at"] = unmoved
            if not locked:
                return None
            # The key's message is there already: a retry. Nothing written, nothing queued.
            return Message.objects.get(conversation_id=conversation.pk, idempotency_key=message.idempotency_key), False
        conversation.waiting_since = waiting_since
        conversation.__dict__.pop("search_document", None)  # stale now: unloaded, as _words_saved leaves it
        post_save.send(sender=Conversation, instance=conversation, created=False, update_fields=_TOUCHED_FIELDS, raw=False, using=alias)
        message = _MESSAGE_INSERT.saved(message, returned)
        followups.message_received(message)
        return message, True


# The usual UPDATE of an open conversation a customer writes in, for the statements above and
# below: `waiting_since` kept if someone is waiting already, else the message's moment. When
# someone waits already, only last_activity_at changes, a column in no index (queue_activity_at
# stays NULL): a HOT update (the words go to SearchWords, `_WORDS_PENDING_CTE`).
_OPEN_CONVERSATION_MOVED = CompiledQuery(
    lambda pk, moment: update_query(
        Conversation.objects.filter(pk=pk), last_activity_at=Value(moment), waiting_since=Coalesce(F("waiting_since"), Value(moment)),
    ),
    "pk", "moment",
)
_OPEN_CONVERSATION_MESSAGE = _OpenConversationMessage()


def message_add_incoming_by_number(
    *, number: int, contact_id: int, inbox_id: int, content: str, idempotency_key: str | None = None,
    at: datetime | None = None,
) -> tuple[Message, bool]:
    """message_add_incoming on the contact's conversation #`number` in the inbox (the widget's
    POST: it knows the number, not the row). Conversation.DoesNotExist when the contact has no
    such conversation there.

    The usual case finds the conversation inside the one statement (`_NumberedConversationMessage`:
    one round trip fewer than looking the id up first); anything else (not open, a blocked
    contact) takes message_add_incoming's transaction, which holds every rule."""
    content = _content_required(content, None)
    moment = now(at)
    found = _NUMBERED_CONVERSATION_MESSAGE.run(
        number=number, contact_id=contact_id, inbox_id=inbox_id, content=content, idempotency_key=idempotency_key,
        moment=moment,
    )
    if isinstance(found, tuple):
        return found
    if found is None:
        raise Conversation.DoesNotExist("Conversation matching query does not exist.")
    conversation = Conversation.from_db(None, ["id", "contact_id"], [found, contact_id])
    message, params = _MESSAGE_INSERT.prepare(
        conversation=conversation, direction=Message.Direction.INCOMING, sender_type=Message.SenderType.CONTACT,
        sender_id=contact_id, content=content, attachments=[], idempotency_key=idempotency_key, created_at=moment,
    )
    with transaction.atomic():
        return _message_add_incoming(conversation, message, params, content, idempotency_key, moment)


class _NumberedConversationMessage:
    """`_OpenConversationMessage` with the conversation found in the statement by its number,
    contact and inbox (the lookup the widget made as a query of its own), locked, and the
    usual case decided on the locked row:

        WITH target AS (SELECT id, (open and the contact not blocked) AS usual
                        FROM the contact's conversation #n in the inbox FOR UPDATE),
             added AS (the message's INSERT ... SELECT ..., target.id FROM target WHERE usual
                       ON CONFLICT DO NOTHING),
             touched AS (the conversation's UPDATE WHERE id = target's AND EXISTS (SELECT FROM added)),
             worded AS (the words' INSERT into SearchWords, as above)
        SELECT target's id and usual, waiting_since, the message's RETURNING columns

    No row: no such conversation (nothing written). A row that is not usual: nothing written,
    and the caller runs the rules' transaction on it. The signals: the message's pre_save
    (from `prepare`, before its conversation is known: conversation_id is None then) and
    post_save; the conversation's pre_save and post_save after the statement, when its id is
    known (nothing in Hearth listens to them; they are sent so that a receiver added later sees
    every save)."""

    # The message's columns that `run` gives the same value on every call (the widget's message
    # is always an incoming text from the contact, without attachments; the rest are the model's
    # defaults): written into the statement as constants instead of sent as parameters. psycopg
    # dumps each parameter (a JSON one costs ten Python calls) and PostgreSQL binds it, per POST.
    FIXED_COLUMNS = ("direction", "kind", "sender_type", "attachments", "sources", "read_at", "followup_done_at")

    def __init__(self):
        self._sql: str | None = None
        self._sent = None  # the INSERT's parameters that vary: an itemgetter of their slots
        self._lock = threading.Lock()

    def _compile(self, insert_sql: str, update_sql: str, insert_params: list) -> tuple[str, object]:
        values = re.fullmatch(r"(INSERT INTO \S+ \((.+?)\)) VALUES \(((?:%s, )*%s)\)( ON CONFLICT DO NOTHING RETURNING .+)", insert_sql)
        where = re.fullmatch(r'(UPDATE "conversations_conversation" SET .+ WHERE "conversations_conversation"\."id" = )%s', update_sql)
        if values is None or where is None:
            raise RuntimeError("the ORM wrote the message's INSERT or the conversation's UPDATE in a shape this does not know")
        columns = [column.strip().strip('"') for column in values[2].split(",")]
        selected = ["%s"] * len(columns)
        selected[columns.index("conversation_id")] = 'target."id"'
        for name in self.FIXED_COLUMNS:
            slot = columns.index(name)
            # The parameter as psycopg would send it, as a literal, cast to the column's type
            # (a bare NULL or string in a SELECT list would be text).
            column_type = Message._meta.get_field(name).db_type(connection)
            literal = sql_literal(insert_params[slot]).as_string()
            selected[slot] = literal if literal.endswith(f"::{column_type}") else f"{literal}::{column_type}"
        sent = [slot for slot, placeholder in enumerate(selected) if placeholder == "%s"]
        conversation, contact = Conversation._meta, Contact._meta
        sql = (
            f'WITH target AS (SELECT conversation."id", conversation."status" = {sql_literal(str(Status.OPEN)).as_string()}'
            f' AND NOT contact."blocked" AS usual,'
            f' {search_document_has_room_sql("conversation.search_document")} AS room'
            f' FROM "{conversation.db_table}" conversation JOIN "{contact.db_table}" contact ON contact."id" = conversation."contact_id"'
            f' WHERE conversation."number" = %s AND conversation."contact_id" = %s AND conversation."inbox_id" = %s'
            f' FOR UPDATE OF conversation),'
            f' added AS ({values[1]} SELECT {", ".join(selected)} FROM target WHERE target.usual{values[4]}),'
            f' touched AS ({where[1]}(SELECT "id" FROM target) AND EXISTS (SELECT FROM added)'
            f' RETURNING "conversations_conversation"."waiting_since"),'
            f" {_WORDS_PENDING_CTE.replace('%s::regconfig', f'{sql_literal(SEARCH_CONFIG).as_string()}::regconfig')}"
            f" SELECT target.\"id\", target.usual, touched.waiting_since, added.* FROM (VALUES (1)) AS one"
            f" LEFT JOIN target ON true LEFT JOIN added ON true LEFT JOIN touched ON true"
        )
        return sql, operator.itemgetter(*sent)

    def run(self, *, number, contact_id, inbox_id, content, idempotency_key, moment) -> tuple[Message, bool] | int | None:
        """(message, created) in the usual case; the conversation's id when it is not usual
        (nothing written); None when there is no such conversation."""
        message, params = _MESSAGE_INSERT.prepare(
            conversation_id=None, direction=Message.Direction.INCOMING, sender_type=Message.SenderType.CONTACT,
            sender_id=contact_id, content=content, attachments=[], idempotency_key=idempotency_key, created_at=moment,
        )
        # The UPDATE's own parameters without its last, the id (target's in the statement).
        update_sql, update_params = _OPEN_CONVERSATION_MOVED._sql_and_params({"pk": 0, "moment": moment})
        if self._sql is None:
            with self._lock:
                if self._sql is None:
                    self._sql, self._sent = self._compile(_MESSAGE_INSERT.sql, update_sql, params)
        db = connections[DEFAULT_DB_ALIAS]  # (the connection itself: through the `connection` proxy each read costs a dozen calls)
        with db.prepared_cursor() as cursor:  # prepared once per connection (again after a rollback on it)
            cursor.execute(
                self._sql, [number, contact_id, inbox_id, *self._sent(params), *update_params[:-1], content[:SEARCH_TEXT_CAP]],
            )
            conversation_id, usual, waiting_since, *returned = cursor.fetchone()
        if conversation_id is None:
            return None
        if not usual:
            return conversation_id
        message.conversation_id = conversation_id
        if returned[0] is None:  # the key's message is there already: a retry; nothing written, nothing queued
            return Message.objects.get(conversation_id=conversation_id, idempotency_key=idempotency_key), False
        alias = db.alias
        conversation = Conversation.from_db(None, ["id", "contact_id"], [conversation_id, contact_id])
        conversation.last_activity_at, conversation.waiting_since = moment, waiting_since
        pre_save.send(sender=Conversation, instance=conversation, raw=False, using=alias, update_fields=_TOUCHED_FIELDS)
        post_save.send(sender=Conversation, instance=conversation, created=False, update_fields=_TOUCHED_FIELDS, raw=False, using=alias)
        message = _MESSAGE_INSERT.saved(message, returned)
        followups.message_received(message)
        return message, True


_NUMBERED_CONVERSATION_MESSAGE = _NumberedConversationMessage()


@transaction.atomic
def message_add_reply(
    *, conversation: Conversation, content: str, author=None, by_ai: bool = False, attachments: list | None = None,
    at: datetime | None = None, sources: list[dict] | None = None,
) -> Message:
    """An agent (`author`) or the AI (`by_ai=True`) answers the customer. `sources`: an AI
    answer's knowledge-base articles ([{"slug", "title", "url"}]), shown as links under it."""
    content = _content_required(content, attachments, "a reply")
    if author is None and not by_ai:
        raise ApplicationError("a reply needs an author", code="no_author")
    moment = now(at)
    conversation = locked(conversation)
    message = Message.objects.create(
        conversation=conversation, direction=Message.Direction.OUTGOING, kind=Message.Kind.TEXT,
        sender_type=Message.SenderType.AI if by_ai else Message.SenderType.AGENT,
        sender_id=None if by_ai else author.pk, content=content, attachments=attachments or [], sources=sources or [], created_at=moment,
    )
    conversation.last_activity_at = moment
    conversation.waiting_since = None
    fields = ["last_activity_at", "waiting_since"]
    if conversation.first_response_at is None:
        conversation.first_response_at = moment
        fields.append("first_response_at")
        if breach_if_late(conversation, target="first_response", moment=moment):
            fields.append("first_response_breached")
        # The first response is a reporting fact (time to first response).
        followups.conversation_changed(conversation, at=moment)
    if conversation.assignee_id is None and author is not None:
        # Whoever answers an unassigned conversation takes it, as agents expect.
        assignee_apply(conversation, author, Actor.agent(author), moment)
        fields.append("assignee")
    _words_saved(conversation, content, fields)
    return message


@transaction.atomic
def message_add_note(*, conversation: Conversation, content: str, author=None, by_ai: bool = False, at: datetime | None = None) -> Message:
    """A private note between agents (`author`), or from the AI to them (`by_ai=True`, e.g.
    why it handed the conversation over): never shown to the customer, never a response."""
    content = (content or "").strip()
    if not content:
        raise ApplicationError("a note needs content", code="empty_message", fields={"content": ["required"]})
    if author is None and not by_ai:
        raise ApplicationError("a note needs an author", code="no_author")
    moment = now(at)
    message = Message.objects.create(
        conversation=conversation, direction=Message.Direction.OUTGOING, kind=Message.Kind.NOTE,
        sender_type=Message.SenderType.AI if by_ai else Message.SenderType.AGENT, sender_id=None if by_ai else author.pk,
        content=content, created_at=moment,
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=moment, search_document=_WordsAdded(content))
    return message
