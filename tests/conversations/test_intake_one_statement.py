"""A customer's message on an open conversation is one statement (conversations/services/
intake.py, `_OpenConversationMessage`): the message stored, the conversation's clocks and
search words moved, the follow-up queued after commit; rolled back with the caller's
transaction or savepoint; and every case that is not the usual one (blocked, not open, a
contact that does not match) takes the transaction that holds the rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context

from config.errors import ApplicationError
from conversations import followups, selectors, services
from conversations.events import Actor
from conversations.models import Contact, Conversation, Message
from tests.concurrency import run_at_once
from tests.conversations.factories import ContactFactory, InboxFactory


class Boom(Exception):
    pass


def _queued(callbacks) -> list[tuple]:
    return [callback.key() for callback in callbacks if isinstance(callback, followups._AfterCommit)]


def _clocks(conversation) -> dict:
    return Conversation.objects.values("last_activity_at", "waiting_since", "status").get(pk=conversation.pk)


def _found_by_search(word: str) -> list[int]:
    return list(selectors.conversation_search(Conversation.objects.all(), word).values_list("pk", flat=True))


def _by_conversation(conversation, content, **fields):
    return services.message_add_incoming(conversation=conversation, content=content, **fields)


def _by_number(conversation, content, **fields):
    """The widget's POST: the contact's conversation found by its number inside the statement."""
    return services.message_add_incoming_by_number(
        number=conversation.number, contact_id=conversation.contact_id, inbox_id=conversation.inbox_id, content=content, **fields)


@pytest.mark.usefixtures("in_alpha")
@pytest.mark.parametrize("add", [_by_conversation, _by_number], ids=["by-conversation", "by-number"])
def test_a_message_on_an_open_conversation_is_one_statement(open_conversation, django_capture_on_commit_callbacks, add):
    conversation = open_conversation()
    waiting = _clocks(conversation)["waiting_since"]
    moment = timezone.now() + timedelta(minutes=3)
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks() as callbacks:
        message, created = add(conversation, "Where is my parcel?", at=moment)
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["WITH"]
    stored = Message.objects.get(pk=message.pk)
    assert created and (stored.conversation_id, stored.sender_id, stored.content) == (
        conversation.pk, conversation.contact_id, "Where is my parcel?")
    assert (message.sender_type, message.sender_id) == (Message.SenderType.CONTACT, conversation.contact_id)
    # Someone was waiting already: the earlier moment stays; the activity moves.
    assert _clocks(conversation) == {"last_activity_at": moment, "waiting_since": waiting, "status": "open"}
    assert _found_by_search("parcel") == [conversation.pk]
    assert _queued(callbacks) == [("message_followup", message.pk)]


@pytest.mark.usefixtures("in_alpha")
def test_a_message_after_a_reply_starts_a_new_wait(open_conversation, make_member):
    conversation = open_conversation()
    services.message_add_reply(conversation=conversation, content="On its way", author=make_member())
    assert _clocks(conversation)["waiting_since"] is None
    message, _ = services.message_add_incoming(conversation=Conversation.objects.get(pk=conversation.pk), content="Thanks, when?")
    assert _clocks(conversation)["waiting_since"] == message.created_at


@pytest.mark.usefixtures("in_alpha")
def test_a_rolled_back_savepoint_takes_the_message_and_its_follow_up_with_it(open_conversation, django_capture_on_commit_callbacks):
    conversation = open_conversation()
    before = _clocks(conversation)
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(Boom), transaction.atomic():
            services.message_add_incoming(conversation=conversation, content="Undone parcel question")
            raise Boom
        kept, _ = services.message_add_incoming(conversation=conversation, content="Kept")  # the outer transaction goes on
    assert not Message.objects.filter(content="Undone parcel question").exists()
    assert _found_by_search("parcel") == []
    assert _clocks(conversation)["last_activity_at"] == kept.created_at != before["last_activity_at"]
    assert _queued(callbacks) == [("message_followup", kept.pk)]


@pytest.mark.usefixtures("committed_db")
def test_a_rolled_back_transaction_stores_nothing_and_queues_nothing(alpha, django_capture_on_commit_callbacks):
    with tenant_context(alpha):
        conversation = services.conversation_open(inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content="Hi")
        before = _clocks(conversation)
        with django_capture_on_commit_callbacks() as callbacks:
            with pytest.raises(Boom), transaction.atomic():
                services.message_add_incoming(conversation=conversation, content="Rolled back")
                raise Boom
        assert not Message.objects.filter(content="Rolled back").exists()
        assert _clocks(conversation) == before
        assert _queued(callbacks) == []


@pytest.mark.usefixtures("in_alpha")
@pytest.mark.parametrize("status", ["resolved", "pending", "snoozed"])
def test_a_conversation_that_is_not_open_is_reopened_by_the_rules(open_conversation, status):
    conversation = open_conversation()
    services.conversation_status_set(conversation=conversation, status=status, by=Actor.system(),
                                     snoozed_until=timezone.now() + timedelta(days=1) if status == "snoozed" else None)
    message, created = services.message_add_incoming(conversation=Conversation.objects.get(pk=conversation.pk), content="Me again")
    clocks = _clocks(conversation)
    assert created and (clocks["status"], clocks["last_activity_at"]) == ("open", message.created_at)
    assert clocks["waiting_since"] is not None
    assert conversation.events.filter(action="status_changed", new_value="open").exists()  # the reopen's event, by the rules


@pytest.mark.usefixtures("in_alpha")
def test_a_blocked_contact_is_refused_with_nothing_stored(open_conversation):
    conversation = open_conversation()
    Contact.objects.filter(pk=conversation.contact_id).update(blocked=True)
    before = _clocks(conversation)
    with pytest.raises(ApplicationError) as refused:
        services.message_add_incoming(conversation=conversation, content="let me in")
    assert refused.value.code == "contact_blocked"
    assert not Message.objects.filter(content="let me in").exists() and _clocks(conversation) == before


@pytest.mark.usefixtures("in_alpha")
def test_a_conversation_given_with_another_contact_stores_the_message_as_its_own_contact_s(open_conversation):
    conversation = open_conversation()
    stranger = ContactFactory()
    claimed = Conversation.from_db(None, ["id", "contact_id"], [conversation.pk, stranger.pk])
    message, _ = services.message_add_incoming(conversation=claimed, content="Who am I?")
    assert Message.objects.get(pk=message.pk).sender_id == conversation.contact_id != stranger.pk


@pytest.mark.usefixtures("committed_db")
def test_concurrent_messages_are_all_stored_and_the_wait_starts_at_the_first(alpha):
    with tenant_context(alpha):
        conversation = services.conversation_open(inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content="Hi")
        services.message_add_reply(conversation=conversation, content="Hello!", by_ai=True)  # nobody waits now
    start = timezone.now()

    def write(i):
        with tenant_context(alpha):
            services.message_add_incoming(conversation=conversation, content=f"message {i}", at=start + timedelta(seconds=i))

    assert run_at_once(write, 6) == []
    with tenant_context(alpha):
        incoming = Message.objects.filter(conversation=conversation, content__startswith="message ")
        assert incoming.count() == 6
        clocks = _clocks(conversation)
        # Each statement waits for the row and then re-reads it: the wait starts at the first
        # message stored (the lowest id: its INSERT ran first), the activity is the last one's.
        assert clocks["waiting_since"] == incoming.order_by("pk").first().created_at
        assert clocks["last_activity_at"] == incoming.order_by("pk").last().created_at
