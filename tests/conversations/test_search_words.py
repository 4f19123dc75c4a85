"""A customer's words through SearchWords (services/intake.py, services/search_words.py): found
by the queue's search the moment the message is stored, folded into the conversation's search
document later, in the order they came and under the document's cap; the message's UPDATE of
the conversation is a HOT update; erasure and retention leave none of the words behind; the
per-tenant fold job touches only the tenant that queued it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from accounts.models import Membership
from conversations import selectors, services
from conversations.models import Conversation, SearchWords
from conversations.tasks import fold_search_words
from tests.conftest import wait_for
from tests.conversations.factories import ContactFactory, InboxFactory
from tests.conversations.test_search_document_cap import _document_set_big


def _search(word: str) -> set[int]:
    return set(selectors.conversation_search(Conversation.objects.all(), word).values_list("pk", flat=True))


def _document(conversation: Conversation) -> str | None:
    return Conversation.objects.values_list("search_document", flat=True).get(pk=conversation.pk)


def _conversation_updates() -> tuple[int, int]:
    """(updates, HOT updates) of the tenant's conversation table in this transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables"
            " WHERE schemaname = current_schema() AND relname = 'conversations_conversation'"
        )
        return cursor.fetchone()


@pytest.mark.usefixtures("in_alpha")
def test_a_customer_s_message_is_found_at_once_and_moves_its_conversation_by_a_hot_update(open_conversation):
    conversation = open_conversation()
    updates, hot = _conversation_updates()
    services.message_add_incoming(conversation=conversation, content="My hovercraft is full of eels")
    services.message_add_incoming_by_number(  # the widget's POST
        number=conversation.number, contact_id=conversation.contact_id, inbox_id=conversation.inbox_id, content="and marzipan",
    )
    # The customer was waiting already: only last_activity_at moved, a column in no index.
    assert _conversation_updates() == (updates + 2, hot + 2)
    assert _search("hovercraft") == {conversation.pk} and _search("marzipan") == {conversation.pk}
    assert SearchWords.objects.filter(conversation=conversation).count() == 2


@pytest.mark.usefixtures("committed_db")
def test_every_tenant_s_conversation_table_keeps_room_for_hot_updates(alpha, beta):
    """The fillfactor of migration 0016, also in accounts cloned from the tenant template."""
    from accounts.services import account_create

    account_create(name="Gamma", slug="gamma", owner_email="owner@gamma.example", owner_password="a-long-password-1")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relname = 'conversations_conversation' AND n.nspname = ANY(%s)",
            [["alpha", "beta", "gamma"]],
        )
        assert dict(cursor.fetchall()) == {schema: ["fillfactor=75"] for schema in ("alpha", "beta", "gamma")}


def test_the_queue_orders_by_waiting_then_by_last_activity_of_those_nobody_waits_on(in_alpha, open_conversation, make_member):
    """queue_activity_at (generated) stands for last_activity_at in the queue's order."""
    manager = make_member(role=Membership.Role.MANAGER)
    start = timezone.now() - timedelta(hours=5)
    waiting_long, waiting_short, answered_early, answered_late = (
        open_conversation(content=f"question {n}", at=start + timedelta(minutes=n)) for n in range(4)
    )
    for conversation, minutes in ((answered_early, 10), (answered_late, 20)):
        services.message_add_reply(conversation=conversation, content="answered", author=manager, at=start + timedelta(minutes=minutes))
    services.message_add_incoming(conversation=waiting_long, content="still there?", at=start + timedelta(minutes=30))

    def queue() -> list[int]:
        return list(selectors.conversation_queue(user=manager, account=in_alpha).values_list("pk", flat=True))

    assert queue() == [waiting_long.pk, waiting_short.pk, answered_late.pk, answered_early.pk]
    # A note on the early one is its latest activity: it goes first among those nobody waits on.
    services.message_add_note(conversation=answered_early, content="call them", author=manager, at=start + timedelta(minutes=40))
    assert queue() == [waiting_long.pk, waiting_short.pk, answered_early.pk, answered_late.pk]


@pytest.mark.usefixtures("in_alpha")
def test_the_fold_writes_the_document_each_message_would_have_written_and_empties_the_table(open_conversation, make_member):
    by_words, by_notes = open_conversation(content="Hello there"), open_conversation(content="Hello there")
    author = make_member()
    texts = ["first: the parcel is missing", "second: the parcel arrived broken", "third time I ask about the parcel"]
    for text in texts:
        services.message_add_incoming(conversation=by_words, content=text)
        services.message_add_note(conversation=by_notes, content=text, author=author)  # straight into the document
    assert _document(by_words) != _document(by_notes)

    assert services.search_words_fold() == 3

    assert not SearchWords.objects.exists()
    assert _document(by_words) == _document(by_notes)  # same words, same positions
    assert _search("parcel") == {by_words.pk, by_notes.pk} and _search("broken") == {by_words.pk, by_notes.pk}
    assert services.search_words_fold() == 0


@pytest.mark.usefixtures("in_alpha")
def test_the_fold_adds_no_words_to_a_document_that_reached_the_cap_meanwhile(open_conversation):
    full, room = open_conversation(), open_conversation()
    for conversation in (full, room):
        services.message_add_incoming(conversation=conversation, content="zebracorn sighted")
    _document_set_big(full)  # over the cap after the message was stored
    assert _search("zebracorn") == {full.pk, room.pk}  # waiting words are searched as they are

    services.search_words_fold()

    assert _search("zebracorn") == {room.pk}
    assert _search("w59999") == {full.pk}  # the full document kept as it was


@pytest.mark.usefixtures("in_alpha")
def test_an_erased_contact_s_waiting_words_are_no_longer_found(open_conversation):
    conversation = open_conversation()
    services.message_add_incoming(conversation=conversation, content="my passport number is kohlrabi")
    assert _search("kohlrabi") == {conversation.pk}

    services.contact_erase(contact=conversation.contact)

    assert _search("kohlrabi") == set()
    assert not SearchWords.objects.filter(conversation=conversation).exists()
    services.search_words_fold()
    assert _search("kohlrabi") == set()


def test_retention_leaves_no_waiting_words_of_the_messages_it_erased(in_alpha):
    ago = timezone.now() - timedelta(days=40)
    conversation = services.conversation_open(inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content="hi", at=ago)
    services.message_add_incoming(conversation=conversation, content="the durian smells", at=ago + timedelta(days=1))
    services.message_add_incoming(conversation=conversation, content="the lychee is fine", at=timezone.now())
    services.account_retention_set(account=in_alpha, message_days=30, ai_payload_days=None)

    services.retention_apply(account=in_alpha)

    assert _search("durian") == set()
    assert _search("lychee") == {conversation.pk}  # kept, now in the rebuilt document
    assert not SearchWords.objects.exists()


@pytest.mark.usefixtures("committed_db", "celery_worker")
def test_the_fold_job_folds_only_the_words_of_the_tenant_that_queued_it(alpha, beta):
    conversations = {}
    for tenant, word in ((alpha, "quince"), (beta, "medlar")):
        with tenant_context(tenant):
            conversation = services.conversation_open(inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content="hi")
            services.message_add_incoming(conversation=conversation, content=f"a {word} question")
            conversations[tenant.schema_name] = conversation
    with tenant_context(alpha):
        fold_search_words.delay()

    def alpha_folded():
        with schema_context("alpha"):
            return not SearchWords.objects.exists()

    wait_for(alpha_folded, what="alpha's words to be folded")
    with schema_context("alpha"):
        assert _search("quince") == {conversations["alpha"].pk} and _search("medlar") == set()
    with schema_context("beta"):
        assert list(SearchWords.objects.values_list("conversation_id", flat=True)) == [conversations["beta"].pk]
        assert _search("medlar") == {conversations["beta"].pk} and _search("quince") == set()


@pytest.mark.usefixtures("in_alpha")
def test_a_search_for_two_words_finds_them_in_two_messages_before_and_after_the_fold(open_conversation):
    """Every word of the query in the conversation, wherever each one is: two waiting messages,
    or one folded into the document and one still waiting. A conversation with only one of
    them is not found."""
    split = open_conversation(content="Where is my parcel?")
    services.message_add_incoming(conversation=split, content="It arrived broken")
    only_one = open_conversation(content="Another parcel question")
    assert _search("parcel broken") == {split.pk}
    assert _search("parcel -question") == {split.pk}

    folded = open_conversation(content="My umbrella leaks")
    services.search_words_fold()
    services.message_add_incoming(conversation=folded, content="and the handle snapped")
    assert _search("umbrella snapped") == {folded.pk}
    assert _search("umbrella") == {folded.pk}  # the document's word, with other words waiting
    assert _search('"handle snapped"') == {folded.pk}
    assert _search("umbrella sunshine") == set()
