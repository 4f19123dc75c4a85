"""The desk's per-tenant periodic jobs, run by a real worker."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from analytics.models import JobStatus
from conversations import services
from conversations.events import Actor
from conversations.models import Conversation
from conversations.tasks import mark_sla_breaches, wake_snoozed_conversations
from tests.conftest import wait_for
from tests.conversations.factories import ContactFactory, InboxFactory

pytestmark = pytest.mark.usefixtures("committed_db", "celery_worker")


def test_worker_wakes_snoozed_conversations_of_the_tenant_that_queued_the_job(alpha):
    past = timezone.now() - timedelta(hours=3)
    with tenant_context(alpha):
        conversation = services.conversation_open(inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content="ping", at=past)
        services.conversation_status_set(conversation=conversation, status=Conversation.Status.SNOOZED, by=Actor.system(),
                                         snoozed_until=past + timedelta(hours=1), at=past)
        wake_snoozed_conversations.delay()
        mark_sla_breaches.delay()

    def woken():
        with schema_context("alpha"):
            return Conversation.objects.get(pk=conversation.pk).status == Conversation.Status.OPEN

    wait_for(woken, what="the snoozed conversation to wake")
    with schema_context("alpha"):
        wait_for(lambda: JobStatus.objects.filter(job="mark_sla_breaches", run_count=1).exists(), what="the SLA job")
        assert JobStatus.objects.get(job="wake_snoozed_conversations").last_error == ""
    with schema_context("beta"):
        assert not JobStatus.objects.exists()
