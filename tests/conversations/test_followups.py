"""The seam: follow-up work is queued only after the write commits, runs in the writing
tenant, and a message whose follow-up could not be queued is found again by the sweep."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from analytics.models import ReportingDirtyDay
from config.celery import app as celery_app
from config.publish import publish_settings_reset
from conversations import followups, services
from conversations.events import Actor
from conversations.models import Message
from tests.conftest import _free_port, wait_for
from tests.conversations.factories import ContactFactory, InboxFactory, LabelFactory, TeamFactory


def _queued(callbacks) -> list[tuple]:
    return [callback.key() for callback in callbacks if isinstance(callback, followups._AfterCommit)]


# ----------------------------------------------------------------------------- after commit only (no worker)


@pytest.mark.usefixtures("in_alpha")
def test_a_customer_message_queues_its_follow_up_on_commit(django_capture_on_commit_callbacks, open_conversation):
    conversation = open_conversation()
    with django_capture_on_commit_callbacks() as callbacks:
        message, _ = services.message_add_incoming(conversation=conversation, content="Still there?")
    assert ("message_followup", message.pk) in _queued(callbacks)
    assert Message.objects.get(pk=message.pk).followup_done_at is None  # nothing ran inside the transaction


@pytest.mark.usefixtures("in_alpha")
def test_a_rolled_back_message_queues_nothing(django_capture_on_commit_callbacks, open_conversation):
    conversation = open_conversation()
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.message_add_incoming(conversation=conversation, content="lost")
            services.conversation_labels_set(conversation=conversation, labels=[LabelFactory()], by=Actor.system())
            raise RuntimeError("the request failed after the write")
    assert _queued(callbacks) == []


@pytest.mark.usefixtures("in_alpha")
def test_one_change_queues_one_follow_up_with_the_days_to_recompute(django_capture_on_commit_callbacks, open_conversation, make_member):
    opened = timezone.now() - timedelta(days=3)
    team, agent = TeamFactory(), make_member()
    with django_capture_on_commit_callbacks() as callbacks:  # one transaction: the test's
        conversation = open_conversation(at=opened)
        services.conversation_assignment_set(conversation=conversation, team=team, assignee=agent, by=Actor.system())
        services.conversation_priority_set(conversation=conversation, priority=3, by=Actor.system())
    changes = [callback for callback in callbacks if isinstance(callback, followups._AfterCommit) and callback.task_name == "conversation_followup"]
    assert [callback.key() for callback in changes] == [("conversation_followup", conversation.pk)]
    assert changes[0].days == {opened.date(), timezone.now().date()}  # alpha's time zone is UTC


# ----------------------------------------------------------------------------- a real worker


def _stamp(schema: str, message_id: int):
    with schema_context(schema):
        return Message.objects.get(pk=message_id).followup_done_at


@pytest.mark.usefixtures("committed_db", "celery_worker")
def test_the_worker_runs_the_follow_up_only_after_the_commit(alpha):
    with tenant_context(alpha):
        with transaction.atomic():
            conversation = services.conversation_open(inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content="Hi")
            message = conversation.messages.get()
            # Had the task been sent now, the worker would have run it already and found no
            # message (not committed yet): the stamp would never come.
            time.sleep(1.0)
            assert Message.objects.get(pk=message.pk).followup_done_at is None
        committed_at = timezone.now()

    stamped = wait_for(lambda: _stamp("alpha", message.pk), what="the follow-up stamp")
    assert stamped >= committed_at
    with schema_context("alpha"):
        assert ReportingDirtyDay.objects.filter(day=timezone.now().date()).exists()
    with schema_context("beta"):
        assert not ReportingDirtyDay.objects.exists()


@contextlib.contextmanager
def _broker_unreachable():
    """The broker is down for this process (nothing listens on the port); the worker and the
    suite's Redis cache are untouched."""
    conf = celery_app.conf
    before = conf.get("broker_write_url")

    def reset_pools():
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        publish_settings_reset()  # config.publish's kept client, likewise

    conf.broker_write_url = f"redis://127.0.0.1:{_free_port()}/0"
    reset_pools()
    try:
        yield
    finally:
        conf.broker_write_url = before
        reset_pools()


@pytest.mark.usefixtures("committed_db", "celery_worker")
def test_with_the_broker_down_the_customer_gets_201_and_the_sweep_requeues_the_follow_up(alpha, alpha_client, caplog):
    with tenant_context(alpha):
        inbox = InboxFactory(auto_assign=False)

    def post(path, body, token=None):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        return alpha_client.post(f"/api/widget/v1/{path}", data=json.dumps(body), content_type="application/json", **headers)

    token = post("sessions", {"widget_token": inbox.widget_token}).json()["token"]
    with _broker_unreachable():
        opened = post("conversations", {"content": "Hello?"}, token)
        assert opened.status_code == 201, opened.content
        started = time.monotonic()
        written = post(f"conversations/{opened.json()['number']}/messages", {"content": "Anyone?"}, token)
        assert written.status_code == 201, written.content
        assert time.monotonic() - started < 2.0  # the outage costs the customer no wait
    assert "left to the sweep" in caplog.text

    with tenant_context(alpha):
        waiting = list(Message.objects.filter(direction="incoming").values_list("pk", flat=True))
        assert len(waiting) == 2
        time.sleep(1.0)
        assert all(_stamp("alpha", pk) is None for pk in waiting)
        # Beat's sweep, a few minutes later (messages younger than the grace are left alone).
        assert followups.message_followups_requeue() == 0
        assert followups.message_followups_requeue(at=timezone.now() + followups.SWEEP_GRACE + timedelta(seconds=1)) == 2

    for pk in waiting:
        wait_for(lambda pk=pk: _stamp("alpha", pk), what="the re-queued follow-up")


@pytest.mark.usefixtures("committed_db", "celery_worker")
def test_the_sweep_runs_as_a_per_tenant_job(alpha):
    from analytics.models import JobStatus
    from conversations.tasks import requeue_message_followups

    with tenant_context(alpha):
        requeue_message_followups.delay()
    with schema_context("alpha"):
        wait_for(lambda: JobStatus.objects.filter(job="requeue_message_followups", run_count=1, last_error="").exists(), what="the sweep")
    with schema_context("beta"):
        assert not JobStatus.objects.filter(job="requeue_message_followups").exists()
