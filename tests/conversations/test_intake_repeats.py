"""A retried customer message (same Idempotency-Key) is found by the INSERT itself (ON
CONFLICT DO NOTHING, no probe before it): the first message comes back, nothing is written,
nothing is queued, also for a contact blocked since the first try."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from config.errors import ApplicationError
from conversations import followups, services
from conversations.models import Contact, Conversation, Message

pytestmark = pytest.mark.usefixtures("in_alpha")


def _queued(callbacks) -> list[tuple]:
    return [callback.key() for callback in callbacks if isinstance(callback, followups._AfterCommit)]


def test_a_repeat_writes_nothing_and_queues_nothing(open_conversation, django_capture_on_commit_callbacks):
    conversation = open_conversation()
    first, _ = services.message_add_incoming(conversation=conversation, content="Where is my parcel?", idempotency_key="k-1")
    before = Conversation.objects.values("last_activity_at", "waiting_since").get(pk=conversation.pk)
    with django_capture_on_commit_callbacks() as callbacks:
        again, created = services.message_add_incoming(
            conversation=conversation, content="Where is my parcel?", idempotency_key="k-1", at=timezone.now() + timedelta(minutes=5),
        )
    assert (again.pk, created) == (first.pk, False)
    assert _queued(callbacks) == []
    assert Conversation.objects.values("last_activity_at", "waiting_since").get(pk=conversation.pk) == before
    assert Message.objects.filter(conversation=conversation, direction="incoming").count() == 2  # the opening one + k-1


def test_a_blocked_contact_s_retry_gets_its_first_message_and_a_new_message_is_refused(open_conversation):
    conversation = open_conversation()
    first, _ = services.message_add_incoming(conversation=conversation, content="hello?", idempotency_key="k-1")
    Contact.objects.filter(pk=conversation.contact_id).update(blocked=True)

    again, created = services.message_add_incoming(conversation=conversation, content="hello?", idempotency_key="k-1")
    assert (again.pk, created) == (first.pk, False)
    with pytest.raises(ApplicationError) as refused:
        services.message_add_incoming(conversation=conversation, content="let me in", idempotency_key="k-2")
    assert refused.value.code == "contact_blocked"
    assert not Message.objects.filter(content="let me in").exists()  # the INSERT rolled back with the refusal
