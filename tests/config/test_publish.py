"""config/publish.py: a task queued in one LPUSH on a kept Redis client is the message
`apply_async` sends, runs on a real worker in the tenant that queued it, and still arrives
after the broker dropped the kept connection."""

from __future__ import annotations

import base64
import contextlib
import json
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from celery import signals
from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context, tenant_context

from config.celery import app as celery_app
from config.publish import publish_settings_reset, task_publish
from config.redis import round_trip
from conversations import services, tasks
from conversations.models import Message
from tests.conftest import wait_for
from tests.conversations.factories import ContactFactory, InboxFactory

# Database 14 of the embedded Redis is shared by the parallel sessions of `make test`
# (pytest-xdist workers): this module's tests all run in one of them, one after the other.
pytestmark = pytest.mark.xdist_group("redis-database-14")


@contextlib.contextmanager
def _broker_on_own_database():
    """Point Celery's writes at another database of the suite's Redis, where no worker reads:
    what each way of sending writes stays there to be compared."""
    parts = urlsplit(settings.REDIS_URL)
    url = urlunsplit(parts._replace(path="/14"))
    before = celery_app.conf.get("broker_write_url")

    def reset():
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        publish_settings_reset()

    celery_app.conf.broker_write_url = url
    reset()
    broker = redis.Redis.from_url(url)
    broker.flushdb()
    try:
        yield broker
    finally:
        broker.flushdb()
        celery_app.conf.broker_write_url = before
        reset()


def _without_ids(envelope: dict) -> dict:
    text = json.dumps(envelope).replace(envelope["headers"]["id"], "<task id>")
    return json.loads(text.replace(envelope["properties"]["delivery_tag"], "<delivery tag>"))


def test_the_message_is_the_one_apply_async_sends_with_the_tenant_stamped(db, alpha):
    connection.set_tenant(alpha)
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    with _broker_on_own_database() as broker:
        tasks.conversation_followup.apply_async(args=(7, ["2026-12-01"]), retry=True)
        task_publish(tasks.conversation_followup, (7, ["2026-12-01"]))
        by_celery, by_us = (json.loads(broker.rpop(queue)) for _ in range(2))
        assert broker.llen(queue) == 0
    assert by_us["headers"]["_schema_name"] == "alpha"
    assert by_us["headers"]["task"] == "conversations.tasks.conversation_followup"
    assert by_us["headers"]["id"] != by_celery["headers"]["id"]
    assert _without_ids(by_us) == _without_ids(by_celery)


def test_each_tenant_s_messages_carry_its_own_stamp_when_one_thread_sends_for_several(db, alpha, beta):
    """The envelope is built once per task, tenant and thread (config.publish._template_of):
    alpha, beta, alpha from one thread each carry their own tenant, id and arguments, and each
    is the message apply_async sends for the same call."""
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    sent = []
    with _broker_on_own_database() as broker:
        for tenant, message_id in [(alpha, 11), (beta, 12), (alpha, 13)]:
            connection.set_tenant(tenant)
            tasks.message_followup.apply_async(args=(message_id,), retry=True)
            task_publish(tasks.message_followup, (message_id,))
            by_celery, by_us = (json.loads(broker.rpop(queue)) for _ in range(2))
            assert _without_ids(by_us) == _without_ids(by_celery)
            sent.append(by_us)
    assert [(m["headers"]["_schema_name"], m["headers"]["argsrepr"]) for m in sent] == [("alpha", "(11,)"), ("beta", "(12,)"), ("alpha", "(13,)")]
    assert [json.loads(base64.b64decode(m["body"]))[0] for m in sent] == [[11], [12], [13]]
    assert len({m["headers"]["id"] for m in sent}) == len({m["properties"]["delivery_tag"] for m in sent}) == 3


@pytest.mark.parametrize("args", [(7, 8), (2**63, 0), (7, True), (-1, "8")], ids=["ids", "big", "a-bool", "a-text"])
def test_integer_arguments_written_into_the_plan_s_body_are_the_body_apply_async_sends(db, alpha, args):
    """Integer arguments go into a body made once per task (config.publish._Plan.ids_body);
    anything else through kombu's serializer: each is byte for byte apply_async's message,
    and the task id and delivery tag are random version 4 UUIDs as Celery's are."""
    import uuid

    connection.set_tenant(alpha)
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    with _broker_on_own_database() as broker:
        tasks.conversation_followup.apply_async(args=args, retry=True)
        task_publish(tasks.conversation_followup, args)
        by_celery, by_us = (json.loads(broker.rpop(queue)) for _ in range(2))
    assert _without_ids(by_us) == _without_ids(by_celery)
    assert json.loads(base64.b64decode(by_us["body"]))[0] == list(args)
    for text in (by_us["headers"]["id"], by_us["properties"]["delivery_tag"]):
        assert str(uuid.UUID(text)) == text and uuid.UUID(text).version == 4 and uuid.UUID(text).variant == uuid.RFC_4122


def test_a_receiver_of_celery_s_publish_signal_still_sees_the_task(db, alpha):
    """Anything hooked into Celery's publishing (tracing, error reporting) keeps working:
    the task then goes through apply_async."""
    connection.set_tenant(alpha)
    seen = []

    def receiver(sender=None, headers=None, **_):
        seen.append((sender, headers["_schema_name"]))

    signals.before_task_publish.connect(receiver)
    try:
        with _broker_on_own_database() as broker:
            task_publish(tasks.message_followup, (1,))
            assert broker.llen(settings.CELERY_TASK_DEFAULT_QUEUE) == 1
    finally:
        signals.before_task_publish.disconnect(receiver)
    assert seen == [("conversations.tasks.message_followup", "alpha")]


def _followup_done(schema: str, message_id: int):
    with schema_context(schema):
        return Message.objects.filter(pk=message_id).values_list("followup_done_at", flat=True).first()


@pytest.mark.usefixtures("committed_db", "celery_worker")
def test_a_worker_runs_it_in_the_tenant_also_after_the_broker_dropped_the_connection(alpha, beta):
    from config.publish import _plans

    with tenant_context(alpha):  # the service queues each message's follow-up with task_publish
        conversation = services.conversation_open(inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content="Hi")
        first = conversation.messages.get()
    wait_for(lambda: _followup_done("alpha", first.pk), what="the follow-up of the first message")

    # The broker ends the kept connection (as a restart or an idle timeout does): the next
    # publish goes out on a new connection (round_trip's one retry, on the failed read).
    (plan,) = [plan for (task, _), plan in _plans.items() if plan is not None and plan.name == tasks.message_followup.name]
    kept = round_trip(plan.client, [("CLIENT", "ID")])[0]  # this thread's kept connection
    assert redis.Redis.from_url(settings.REDIS_URL).client_kill_filter(_id=kept) == 1

    with tenant_context(alpha):
        second, _ = services.message_add_incoming(conversation=conversation, content="Still there?")
    assert round_trip(plan.client, [("CLIENT", "ID")])[0] != kept
    wait_for(lambda: _followup_done("alpha", second.pk), what="the follow-up sent after the dropped connection")
    with schema_context("beta"):
        assert not Message.objects.exists()
