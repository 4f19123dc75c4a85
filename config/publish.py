"""Sending a Celery task from a request in one Redis command on a kept client.

`task.apply_async` costs about 0.6-0.7 ms of CPU per task on this machine (1,800 Python calls):
Celery reads a dozen settings through Django's, routes, builds the message, acquires a
producer, kombu declares the queue (cached, but checked), builds a new `redis.Redis` object
for every publish (its ~170 response callbacks included) and pushes. A widget message queues
one follow-up task, so that was a quarter of the POST's CPU (docs/performance.md).

`task_publish` sends the same message with less: Celery still builds the task message
(`app.amqp.as_task_v2`: protocol 2, its headers, argsrepr, origin), tenant-schemas-celery
still stamps the tenant (`headers_with_schema`, as its `send_task` does), kombu still
serialises the body; what is done here is only the Redis transport's last step, the envelope
kombu's virtual channel wraps around it and the `LPUSH` onto the queue's list, on one
`redis.Redis` per broker URL and process (its connection pool reconnects after a dropped
connection or a broker restart), sent by `config.redis.round_trip` (without redis-py's
per-command machinery, half the CPU of `client.lpush`). Since 2026-12-03 (branch post8db) the
envelope itself is built once per task, tenant, thread and process (`_template_of`) and only the
task id, the arguments (body and argsrepr) and the delivery tag are put into it per call: a
third of the publish's CPU was Celery's `as_task_v2`, `saferepr` and JSON of the same headers
every time. Since the afternoon (branch intake8) integer arguments (ids: nearly every follow-up)
are written into a JSON body made once per task too, and the task id and delivery tag are
random version 4 UUIDs made in two calls. `tests/config/test_publish.py` holds the envelope to the one
`apply_async` writes, field by field, and delivers through a real worker after the broker
dropped the connection.

Whatever this fast path does not cover goes through `apply_async` unchanged: a broker that is
not Redis, eager mode, task-sent events, a global key prefix or compression, a task with its
own priority or queue options, any receiver of Celery's publish signals, and a call made
inside a running task (where Celery links parent and root ids).
"""

from __future__ import annotations

import os
import threading
from base64 import b64encode
from typing import NamedTuple

import redis
from celery import signals
from celery._state import get_current_worker_task
from celery.utils.saferepr import saferepr
from django.core.signals import setting_changed
from kombu.entity import DELIVERY_MODES
from kombu.serialization import dumps as body_dumps
from kombu.transport.virtual.base import Base64
from kombu.utils.json import dumps as envelope_dumps
from redis.backoff import NoBackoff
from redis.retry import Retry
from tenant_schemas_celery.task import headers_with_schema

from config.redis import round_trip

_SCHEMES = ("redis://", "rediss://", "unix://")
# Task options that change the message or its route: with any of them set, Celery decides.
_OWN_OPTIONS = ("queue", "routing_key", "exchange", "priority", "expires", "compression", "delivery_mode")
_BASE64 = Base64()  # the Redis transport's body encoding


class _Plan(NamedTuple):
    """What Celery's settings and router decide for one task, read once per process: each
    read of Celery's configuration goes through Django's settings (~30 µs apiece)."""

    app: object
    client: redis.Redis
    queue: str
    delivery_mode: int
    name: str
    time_limit: float | None
    soft_time_limit: float | None
    ignore_result: bool
    serializer: str
    content_type: str
    content_encoding: str
    argsrepr_maxsize: int
    repr_maxlevels: int
    # The JSON body of a call with integer arguments, `_IDS` standing for them (JSON tasks only).
    ids_body: str | None


_lock = threading.Lock()
_plans: dict = {}
_planned: dict = {}
_templates: dict[tuple, str] = {}
_TEMPLATES_KEPT = 10_000
_clients: dict[tuple, redis.Redis] = {}


def task_publish(task, args: tuple, *, retries: int = 1) -> None:
    """Queue `task(*args)` in the current tenant, as `task.apply_async(args=args, retry=True)`
    would with at most `retries` immediate retries; raises what the broker raised."""
    # By the task's id: a task named in a module is Celery's Proxy, whose hash alone costs a
    # tenth of this function. `_planned` holds each task, so its id is never another's.
    key = (id(task), retries)
    plan = _plans.get(key, False)
    if plan is False:
        with _lock:
            _planned[id(task)] = task
            plan = _plans[key] = _plan_of(task, retries)
    if plan is None or not _publishing_is_plain():
        task.apply_async(args=args, retry=True, retry_policy={"max_retries": retries, "interval_start": 0,
                                                               "interval_step": 0.2, "interval_max": 0.2})
        return
    task_id = _uuid4_text()
    stamp = headers_with_schema({})  # the tenant, stamped as tenant-schemas-celery does
    app = plan.app
    reply_to = app.thread_oid
    template = _templates.get((plan, reply_to, stamp["_schema_name"], os.getpid()))
    if template is None:
        template = _template_of(plan, app, reply_to, stamp)
    if plan.ids_body is not None and all(type(arg) is int for arg in args):
        # Ids (what nearly every follow-up takes): Celery's argsrepr of them is their repr, and
        # the body is the plan's JSON with the ids written in (as JSON writes integers).
        argsrepr = repr(args)
        body = b64encode(plan.ids_body.replace(_IDS, ", ".join([str(arg) for arg in args])).encode()).decode()
    else:
        argsrepr = saferepr(args, plan.argsrepr_maxsize, maxlevels=plan.repr_maxlevels)
        _, _, data = body_dumps((args, {}, _EMBED), serializer=plan.serializer)
        body = _BASE64.encode(data)
    envelope = (
        template.replace(_TASK_ID, task_id).replace(_ARGSREPR, envelope_dumps(argsrepr)[1:-1])
        .replace(_BODY, body).replace(_DELIVERY_TAG, _uuid4_text())
    )
    (pushed,) = round_trip(plan.client, [("LPUSH", plan.queue, envelope)], retries=retries)
    if isinstance(pushed, Exception):
        raise pushed


def _uuid4_text() -> str:
    """str(uuid.uuid4()) (random, version 4, RFC 4122 variant) in two calls instead of ten."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


# Placeholders in an envelope template: plain ASCII, so JSON writes them as they are.
_TASK_ID, _ARGSREPR, _BODY, _DELIVERY_TAG = (f"@hearth-publish-{part}@" for part in ("task-id", "argsrepr", "body", "delivery-tag"))
_IDS = "@hearth-publish-ids@"
# The third part of a protocol 2 body: no callbacks, errbacks, chain or chord (as_task_v2's).
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def _template_of(plan: _Plan, app, reply_to: str, stamp: dict) -> str:
    """The JSON envelope of `plan`'s task as this thread sends it in this tenant, with the parts
    that change per call as placeholders: Celery's message (`as_task_v2`: headers, properties)
    and kombu's envelope are built once here instead of on every publish. The origin header
    names the process (its pid), hence one template per process."""
    headers, properties, _, _ = app.amqp.as_task_v2(
        _TASK_ID, plan.name, (), {}, reply_to=reply_to, time_limit=plan.time_limit,
        soft_time_limit=plan.soft_time_limit, ignore_result=plan.ignore_result, argsrepr=_ARGSREPR, kwargsrepr="{}",
    )
    headers.update(stamp)
    # kombu's virtual channel: prepare_message, then _inplace_augment_message (base64 body).
    envelope = {
        "body": _BODY,
        "content-encoding": plan.content_encoding,
        "content-type": plan.content_type,
        "headers": headers,
        "properties": {
            **properties, "delivery_mode": plan.delivery_mode,
            "delivery_info": {"exchange": "", "routing_key": plan.queue},
            "priority": 0, "body_encoding": "base64", "delivery_tag": _DELIVERY_TAG,
        },
    }
    template = envelope_dumps(envelope)
    with _lock:
        if len(_templates) >= _TEMPLATES_KEPT:  # many tenants or threads: start again, never grow without bound
            _templates.clear()
        _templates[(plan, reply_to, stamp["_schema_name"], os.getpid())] = template
    return template


def publish_settings_reset(**_) -> None:
    """Forget what was read from Celery's settings (a test that re-points the broker calls
    this, as it resets Celery's own connection pools; so does Django's `setting_changed`)."""
    with _lock:
        _plans.clear()
        _planned.clear()
        _templates.clear()


setting_changed.connect(publish_settings_reset, dispatch_uid="config.publish.settings_reset")


def _publishing_is_plain() -> bool:
    """Per call: nothing hooks Celery's publishing, and this is not a task queueing another
    (Celery then links parent and root ids)."""
    return (not signals.before_task_publish.receivers and not signals.after_task_publish.receivers
            and get_current_worker_task() is None)


def _plan_of(task, retries: int) -> _Plan | None:
    app = task.app
    conf = app.conf
    url = conf.broker_write_url or conf.broker_url or ""
    options = conf.broker_transport_options or {}
    if (not url.startswith(_SCHEMES) or conf.task_always_eager or conf.task_send_sent_event or conf.task_compression
            or options.get("global_keyprefix") or any(getattr(task, o, None) is not None for o in _OWN_OPTIONS)):
        return None
    queue = app.amqp.router.route({}, task.name, (), {}, task).get("queue")
    if queue is None or isinstance(queue, str) or queue.exchange.type != "direct":
        return None
    # Celery sends a direct-routed task to the anonymous exchange with the queue's name as the
    # routing key, which kombu's Redis transport turns into an LPUSH onto that list.
    mode = queue.exchange.delivery_mode or conf.task_default_delivery_mode
    serializer = task.serializer or conf.task_serializer
    content_type, content_encoding, _ = body_dumps((), serializer=serializer)
    ids_body = None
    if serializer == "json" and content_encoding == "utf-8":
        _, _, ids_body = body_dumps(((_IDS,), {}, _EMBED), serializer=serializer)
        ids_body = ids_body.replace(f'"{_IDS}"', _IDS)
    return _Plan(
        app=app, client=_client(url, options.get("socket_connect_timeout"), options.get("socket_timeout"), retries),
        queue=queue.name, delivery_mode=DELIVERY_MODES.get(mode, mode), name=task.name,
        time_limit=task.time_limit, soft_time_limit=task.soft_time_limit, ignore_result=bool(task.ignore_result),
        serializer=serializer, content_type=content_type, content_encoding=content_encoding, argsrepr_maxsize=app.amqp.argsrepr_maxsize,
        repr_maxlevels=conf.task_repr_maxlevels, ids_body=ids_body,
    )


def _client(url: str, connect_timeout, timeout, retries: int) -> redis.Redis:
    key = (url, connect_timeout, timeout, retries)
    if key not in _clients:
        # The pool replaces a connection the broker closed (restart, idle timeout) when it hands
        # it out; one that drops during the LPUSH fails it, and the retry goes out at once on
        # a new connection, as kombu's retry policy would.
        _clients[key] = redis.Redis.from_url(
            url, socket_connect_timeout=connect_timeout, socket_timeout=timeout,
            retry=Retry(NoBackoff(), retries), retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        )
    return _clients[key]
