"""The widget's message by conversation number (conversations/services/intake.py,
`message_add_incoming_by_number`): the conversation found inside the one statement, and every
case that is not the usual one (no such conversation of this contact in this inbox, not open,
a blocked contact, a repeated key) answered as the rules answer it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from config.errors import ApplicationError
from conversations import services
from conversations.events import Actor
from conversations.models import Contact, Conversation, Message
from tests.concurrency import run_at_once
from tests.conversations.factories import ContactFactory, InboxFactory
from tests.conversations.test_intake_one_statement import _by_number, _clocks


@pytest.mark.usefixtures("in_alpha")
def test_another_contact_s_or_another_inbox_s_number_finds_nothing_and_stores_nothing(open_conversation):
    conversation = open_conversation()
    stranger, elsewhere = ContactFactory(), InboxFactory(auto_assign=False)
    for contact_id, inbox_id in ((stranger.pk, conversation.inbox_id), (conversation.contact_id, elsewhere.pk)):
        with pytest.raises(Conversation.DoesNotExist):
            services.message_add_incoming_by_number(number=conversation.number, contact_id=contact_id, inbox_id=inbox_id,
                                                    content="not mine")
    with pytest.raises(Conversation.DoesNotExist):
        services.message_add_incoming_by_number(number=conversation.number + 1000, contact_id=conversation.contact_id,
                                                inbox_id=conversation.inbox_id, content="not mine")
    assert not Message.objects.filter(content="not mine").exists()


@pytest.mark.usefixtures("in_alpha")
def test_the_statement_stores_the_row_the_orm_stores_for_the_same_message(open_conversation):
    # The statement writes the widget message's fixed columns (direction, kind, sender type,
    # attachments, the defaults) as constants: every column must still be what create() stores.
    from django.db import connection

    conversation = open_conversation()
    moment = timezone.now() - timedelta(minutes=1)
    for key in ("first", "second"):  # the second run is the prepared statement's
        message, created = services.message_add_incoming_by_number(
            number=conversation.number, contact_id=conversation.contact_id, inbox_id=conversation.inbox_id,
            content=f"Where is my parcel? ({key})", idempotency_key=key, at=moment,
        )
        assert created
        orm = Message.objects.create(
            conversation=conversation, direction=Message.Direction.INCOMING, sender_type=Message.SenderType.CONTACT,
            sender_id=conversation.contact_id, content=f"Where is my parcel? ({key})", attachments=[],
            idempotency_key=f"orm-{key}", created_at=moment,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, to_jsonb(m) - 'id' - 'idempotency_key' FROM conversations_message m WHERE id IN (%s, %s)",
                [message.pk, orm.pk],
            )
            rows = {pk: json.loads(row) for pk, row in cursor.fetchall()}  # (Django reads jsonb as text)
        assert rows[message.pk] == rows[orm.pk]
        assert rows[message.pk]["direction"] == "incoming" and rows[message.pk]["attachments"] == []

@pytest.mark.usefixtures("in_alpha")
@pytest.mark.parametrize("status", ["resolved", "pending", "snoozed"])
def test_a_conversation_that_is_not_open_is_reopened_by_the_rules(open_conversation, status):
    conversation = open_conversation()
    services.conversation_status_set(conversation=conversation, status=status, by=Actor.system(),
                                     snoozed_until=timezone.now() + timedelta(days=1) if status == "snoozed" else None)
    message, created = _by_number(conversation, "Me again")
    clocks = _clocks(conversation)
    assert created and (clocks["status"], clocks["last_activity_at"]) == ("open", message.created_at)
    assert Message.objects.get(pk=message.pk).conversation_id == conversation.pk
    assert conversation.events.filter(action="status_changed", new_value="open").exists()


@pytest.mark.usefixtures("in_alpha")
def test_a_blocked_contact_is_refused_with_nothing_stored_but_its_retry_gets_its_first_message(open_conversation):
    conversation = open_conversation()
    first, _ = _by_number(conversation, "before the block", idempotency_key="k-1")
    Contact.objects.filter(pk=conversation.contact_id).update(blocked=True)
    before = _clocks(conversation)
    with pytest.raises(ApplicationError) as refused:
        _by_number(conversation, "let me in", idempotency_key="k-2")
    assert refused.value.code == "contact_blocked"
    assert not Message.objects.filter(content="let me in").exists() and _clocks(conversation) == before
    assert _by_number(conversation, "before the block", idempotency_key="k-1") == (first, False)


@pytest.mark.usefixtures("in_alpha")
def test_a_repeated_key_returns_the_first_message_and_writes_nothing(open_conversation, django_capture_on_commit_callbacks):
    conversation = open_conversation()
    first, created = _by_number(conversation, "once", idempotency_key="retry-1")
    before = _clocks(conversation)
    with django_capture_on_commit_callbacks() as callbacks:
        again, created_again = _by_number(conversation, "once", idempotency_key="retry-1", at=timezone.now() + timedelta(minutes=1))
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert Message.objects.filter(conversation=conversation, content="once").count() == 1
    assert _clocks(conversation) == before and callbacks == []


@pytest.mark.usefixtures("committed_db")
def test_concurrent_messages_and_retries_are_stored_once_each(alpha):
    with tenant_context(alpha):
        conversation = services.conversation_open(inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content="Hi")
        services.message_add_reply(conversation=conversation, content="Hello!", by_ai=True)  # nobody waits now
    start = timezone.now()
    answers = []

    def write(i):
        with tenant_context(alpha):
            # Two tries of each of four messages, all at once.
            answers.append(_by_number(conversation, f"message {i % 4}", idempotency_key=f"key-{i % 4}",
                                      at=start + timedelta(seconds=i)))

    assert run_at_once(write, 8) == []
    assert sorted(created for _, created in answers) == [False] * 4 + [True] * 4
    with tenant_context(alpha):
        incoming = Message.objects.filter(conversation=conversation, content__startswith="message ")
        assert sorted(incoming.values_list("content", flat=True)) == [f"message {i}" for i in range(4)]
        clocks = _clocks(conversation)
        assert clocks["waiting_since"] == incoming.order_by("pk").first().created_at
        assert clocks["last_activity_at"] == incoming.order_by("pk").last().created_at
