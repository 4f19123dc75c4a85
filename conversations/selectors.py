"""Reads for the desk: the queue, a conversation's thread and timeline, a contact's history."""

from __future__ import annotations

from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.db.models import BooleanField, F, Func, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL

from config import inputs
from conversations.access import conversations_visible_to
from conversations.models import QUEUE_ORDER as QUEUE_ORDER_WITH_INDEXES
from conversations.models import SEARCH_CONFIG, CannedResponse, Contact, Conversation, ConversationEvent, Message, SearchWords


# The queue's order, conv_queue_order's columns (conversations/models.py): longest-waiting first, most urgent first among
# equals, then the conversations nobody waits on by their last activity (queue_activity_at:
# models.py), the id last so that pages never overlap. An index walk that stops at the page's
# end; last_activity_at itself is in no index (a customer's message stays a HOT update).
QUEUE_ORDER = QUEUE_ORDER_WITH_INDEXES  # defined with the indexes that serve it


def conversation_queue(*, user, account) -> QuerySet[Conversation]:
    """The conversations the user may see, with everything a queue row shows joined or
    prefetched (one query for the page, one for its labels), in the queue's order."""
    return (
        conversations_visible_to(user, account=account)
        .select_related("contact", "inbox", "assignee", "team")
        .prefetch_related("labels")
        .order_by(*QUEUE_ORDER)
    )


def conversations_labelled(queryset: QuerySet[Conversation], *, label_ids=None, label_names=None) -> QuerySet[Conversation]:
    """The conversations of `queryset` with one of these labels, matched by a subquery on the
    labels' table: filtering through the many-to-many join repeats a conversation once per
    matching label and needs SELECT DISTINCT over whole rows, which sorts every match and keeps
    the page from walking the queue's index."""
    through = Conversation.labels.through.objects.all()
    if label_ids is not None:
        through = through.filter(label_id__in=label_ids)
    if label_names is not None:
        through = through.filter(label__name__in=label_names)
    return queryset.filter(pk__in=through.values("conversation_id"))


class _AnyOf(Func):
    """`column = ANY(ARRAY(subquery))`: an array the planner can probe an index with, where
    `column IN (subquery)` inside an OR can only be checked row by row."""

    output_field = BooleanField()

    def as_sql(self, compiler, connection, **extra_context):
        (column, column_params), (subquery, subquery_params) = (compiler.compile(e) for e in self.get_source_expressions())
        return f"{column} = ANY(ARRAY{subquery})", (*column_params, *subquery_params)


def conversation_search(queryset: QuerySet[Conversation], term: str) -> QuerySet[Conversation]:
    """Match the contact's name or e-mail, the subject, the #number or the messages' words.

    One OR of conditions on the conversation's own row, each with its index: the conversation's
    search document (GIN, conv_search_document: the words of its subject, messages and notes;
    English stemming, so "refunds" finds "refund"; websearch syntax), the subject by trigram
    (ILIKE '%term%'), the contacts whose name or e-mail match (trigram) as an array of ids, the
    number, and the conversations whose customers' latest words wait in SearchWords (GIN,
    searchwords_words: not folded into the document yet, services/search_words.py) as an
    array of ids. So the planner can combine the indexes for a rare term (BitmapOr) and, for a
    common word, walk the queue's order index and stop at the page's end, where gathering every
    matching id first costs as much as there are matches.
    """
    term = term.strip()
    if not term:
        return queryset
    contacts = Contact.objects.filter(Q(name__icontains=term) | Q(email__icontains=term)).values("pk").order_by()
    words = SearchQuery(term, search_type="websearch", config=SEARCH_CONFIG)
    matches = (
        Q(search_document=words)
        | Q(_AnyOf(F("pk"), _waiting_words_matching(term)))
        | Q(subject__icontains=term)
        | Q(_AnyOf(F("contact_id"), Subquery(contacts)))
    )
    number = inputs.int_or_none(term.removeprefix("#"), min_value=1, max_value=2**31 - 1)
    if number is not None:
        matches |= Q(number=number)
    return queryset.filter(matches)


def _waiting_words_matching(term: str) -> RawSQL:
    """The conversations whose words, with those still waiting in SearchWords, match `term`.

    The query is matched against the whole set, the document followed by every waiting
    message's words in the order they came (as the fold will append them): "parcel broken"
    finds a conversation where "parcel" was in one message and "broken" in the next, or one
    folded and one still waiting, which no single row matches alone. Only conversations with a
    waiting row holding at least one of the query's words are put together (the GIN index on
    the words finds them; `querytree` leaves out negated terms and its ANDs become ORs), so the
    cost follows the matches, not the minutes' worth of waiting rows: testing every waiting
    conversation's document as well cost 250 ms of SQL for a common word at 3,000 waiting
    rows (docs/performance.md). What that leaves until the fold: a negated word still waiting
    does not keep out a conversation whose document matches without it ("parcel -broken"
    finds "parcel" folded with "broken" waiting), and a quoted phrase could match across two
    waiting messages (each one's positions start again); plain words do not depend on either.
    """
    waiting, conversation = SearchWords._meta.db_table, Conversation._meta.db_table
    sql = (
        f'WITH query AS (SELECT websearch_to_tsquery(%s::regconfig, %s) AS words)'
        f' SELECT waiting."conversation_id" FROM "{waiting}" waiting'
        f' JOIN "{conversation}" conversation ON conversation."id" = waiting."conversation_id", query'
        f' WHERE waiting."conversation_id" IN (SELECT candidate."conversation_id" FROM "{waiting}" candidate, query'
        f"   WHERE candidate.\"words\" @@ replace(querytree(query.words), ' & ', ' | ')::tsquery)"
        f' GROUP BY waiting."conversation_id", conversation."id", query.words'
        f" HAVING (coalesce(conversation.\"search_document\", ''::tsvector)"
        f"         || string_agg(waiting.\"words\"::text, ' ' ORDER BY waiting.\"id\")::tsvector) @@ query.words"
    )
    return RawSQL(sql, (SEARCH_CONFIG, term))


def conversation_ai_categories() -> list[str]:
    """The AI categories in use, for the queue's filter.

    A loose index scan over conv_ai_category (one index probe per category), where
    SELECT DISTINCT would read the whole index: a few categories among 100,000 rows.
    """
    table = Conversation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH RECURSIVE category(name) AS (
                    SELECT min(ai_category) FROM {table} WHERE ai_category > ''
                    UNION ALL
                    SELECT (SELECT min(ai_category) FROM {table} WHERE ai_category > category.name)
                    FROM category WHERE category.name IS NOT NULL
                )
                SELECT name FROM category WHERE name IS NOT NULL"""
        )
        return [row[0] for row in cursor.fetchall()]


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
