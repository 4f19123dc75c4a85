"""The widget API's fast path (conversations/api/widget_fast.py) answers the usual poll and POST
exactly as DRF's MessageListApi does, hands everything else to DRF untouched, counts each
request once in the throttles, and keeps tenants apart.

`fast` is the suite's client (the widget API's handler, fast path on, as production runs);
`drf` is the same handler with the fast path off. A response DRF made is a DRF `Response`;
the fast path's is a plain `HttpResponse`: that is how a test knows which path answered."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.signals import request_finished, request_started
from django.test import override_settings
from django.urls import resolve
from django_tenants.utils import tenant_context
from rest_framework.response import Response

from conversations.api import widget, widget_fast
from conversations.models import Message, WidgetSession
from tests.conftest import HearthClient
from tests.conversations.factories import InboxFactory

API = "/api/widget/v1/"
SHOP = "https://shop.example"


def _client(host: str, *, fast: bool) -> HearthClient:
    client = HearthClient(HTTP_HOST=host, raise_request_exception=False)
    client.handler.widget_api_handler.serves_usual_requests_fast = fast
    return client


def _answer(response) -> tuple:
    return response.status_code, sorted(response.headers.items()), response.content


def _served_fast(response) -> bool:
    return not isinstance(response, Response)


class Widget:
    """A widget on one tenant: its inbox, a session, a conversation, and both clients."""

    def __init__(self, account, host: str):
        with tenant_context(account):
            self.inbox = InboxFactory(allowed_origins=[SHOP])
        self.account = account
        self.fast, self.drf = _client(host, fast=True), _client(host, fast=False)
        opened = self.fast.post(f"{API}sessions", {"widget_token": self.inbox.widget_token}, content_type="application/json")
        assert opened.status_code == 201, opened.content
        self.token = opened.json()["token"]
        created = self.fast.post(f"{API}conversations", {"content": "Where is my parcel?"}, content_type="application/json",
                                 HTTP_AUTHORIZATION=f"Bearer {self.token}")
        assert created.status_code == 201, created.content
        self.number = created.json()["number"]
        self.messages = f"{API}conversations/{self.number}/messages"

    def post(self, client, body, token=None, **headers):
        raw = body if isinstance(body, str) else json.dumps(body)
        return client.post(self.messages, raw, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token or self.token}", HTTP_ORIGIN=SHOP, **headers)

    def poll(self, client, query="", token=None, **headers):
        headers = {"HTTP_ORIGIN": SHOP, **headers}
        return client.get(f"{self.messages}{query}", HTTP_AUTHORIZATION=f"Bearer {token or self.token}", **headers)


@pytest.fixture
def widgets(db, alpha, beta):
    return {"alpha": Widget(alpha, "alpha.localhost"), "beta": Widget(beta, "beta.localhost")}


def test_the_fast_path_serves_the_url_the_resolver_gives_to_message_list_api():
    assert resolve(f"{API}conversations/7/messages").func.cls is widget.MessageListApi
    assert widget_fast.messages_view() is resolve(f"{API}conversations/7/messages").func


@pytest.mark.parametrize("tenant", ["alpha", "beta"])
def test_usual_posts_and_polls_are_answered_by_the_fast_path_exactly_as_drf_answers_them(widgets, tenant):
    w = widgets[tenant]
    key = uuid.uuid4().hex

    first = w.post(w.fast, {"content": "Any news?"}, HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == 201 and _served_fast(first)
    retry_drf, retry_fast = (w.post(client, {"content": "Any news?"}, HTTP_IDEMPOTENCY_KEY=key) for client in (w.drf, w.fast))
    assert not _served_fast(retry_drf) and _served_fast(retry_fast)
    assert retry_fast.status_code == 200 and _answer(retry_fast) == _answer(retry_drf)
    assert first.content == retry_fast.content  # the retry's answer is the first one's
    assert dict(first.headers) == dict(retry_fast.headers)
    assert first["Access-Control-Allow-Origin"] == SHOP and first["X-Frame-Options"] == "DENY"
    assert first["Content-Length"] == str(len(first.content)) and first["Allow"] == "GET, POST, HEAD, OPTIONS"

    # A new message through each path: the same headers, the same shape and content.
    by_drf = w.post(w.drf, {"content": "  Second question  "})
    by_fast = w.post(w.fast, {"content": "  Second question  "})
    assert (by_drf.status_code, by_fast.status_code) == (201, 201) and _served_fast(by_fast) and not _served_fast(by_drf)
    # Equal headers but Content-Length: the two messages' ids may differ in digits (9 and 10).
    assert {**by_drf.headers, "Content-Length": None} == {**by_fast.headers, "Content-Length": None}
    assert all(response["Content-Length"] == str(len(response.content)) for response in (by_drf, by_fast))
    mine, theirs = by_fast.json(), by_drf.json()
    assert mine["id"] == theirs["id"] + 1 and mine["content"] == theirs["content"] == "Second question"
    assert {k: v for k, v in mine.items() if k not in ("id", "created_at")} == {k: v for k, v in theirs.items() if k not in ("id", "created_at")}

    for query in ("", f"?after={first.json()['id']}", f"?after={mine['id']}"):
        drf, fast = w.poll(w.drf, query), w.poll(w.fast, query)
        assert drf.status_code == 200 and not _served_fast(drf) and _served_fast(fast), query
        assert _answer(fast) == _answer(drf), query
    assert [m["content"] for m in w.poll(w.fast).json()["results"]] == ["Where is my parcel?", "Any news?", "Second question", "Second question"]
    with tenant_context(w.account):
        assert Message.objects.filter(conversation__number=w.number).count() == 4  # the retries wrote nothing


def _unusual_requests(w: Widget, revoked: str, other_tenant_token: str) -> dict:
    """name -> a function sending it through a client: requests the fast path must hand to DRF."""
    return {
        "no token": lambda c: c.get(w.messages, HTTP_ORIGIN=SHOP),
        "a malformed token": lambda c: w.poll(c, token="not.a.token"),
        "a token of the other tenant": lambda c: w.poll(c, token=other_tenant_token),
        "an ended session": lambda c: w.poll(c, token=revoked),
        "an origin the inbox does not list": lambda c: w.poll(c, HTTP_ORIGIN="https://evil.example"),
        "an unknown conversation": lambda c: c.get(f"{API}conversations/{w.number + 50}/messages", HTTP_AUTHORIZATION=f"Bearer {w.token}"),
        "a POST to an unknown conversation": lambda c: c.post(f"{API}conversations/{w.number + 50}/messages", {"content": "hi"},
                                                              content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {w.token}"),
        "a cursor that is not one": lambda c: w.poll(c, "?after=abc"),
        "a cursor in Unicode digits": lambda c: w.poll(c, "?after=%C2%B2"),
        "a number past int4": lambda c: c.get(f"{API}conversations/9999999999/messages", HTTP_AUTHORIZATION=f"Bearer {w.token}"),
        "Accept: text/html": lambda c: w.poll(c, HTTP_ACCEPT="text/html"),
        "indented JSON asked for": lambda c: w.poll(c, HTTP_ACCEPT="application/json; indent=2"),
        "?format=json": lambda c: w.poll(c, "?format=json"),
        "?format=xml": lambda c: w.poll(c, "?format=xml"),
        "a preflight": lambda c: c.options(w.messages, HTTP_ORIGIN=SHOP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"),
        "a blank message": lambda c: w.post(c, {"content": "   "}),
        "content that is not text": lambda c: w.post(c, {"content": ["a"]}),
        "a body that is not JSON": lambda c: w.post(c, "{nope"),
        "a body that is not an object": lambda c: w.post(c, "[1]"),
        "a body over the size limit": lambda c: w.post(c, {"content": "x" * 70_000}),
        "NUL in the JSON": lambda c: w.post(c, '{"content": "a\\u0000b"}'),
        "a form body": lambda c: c.post(w.messages, {"content": "hi"}, HTTP_AUTHORIZATION=f"Bearer {w.token}"),
        "a bad Idempotency-Key": lambda c: w.post(c, {"content": "hi"}, HTTP_IDEMPOTENCY_KEY=" "),
        "NUL in the query": lambda c: w.poll(c, "?after=1%00"),
        "an unknown method": lambda c: c.put(w.messages, "{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {w.token}"),
    }


def test_every_unusual_request_is_answered_by_drf_as_without_the_fast_path_and_writes_nothing(widgets):
    w, other = widgets["alpha"], widgets["beta"]
    with tenant_context(w.account):
        ended = WidgetSession.objects.create(inbox=w.inbox, contact=WidgetSession.objects.get().contact,
                                             expires_at=WidgetSession.objects.get().expires_at)
        revoked = _token_of(ended)
        WidgetSession.objects.filter(pk=ended.pk).update(revoked_at=ended.expires_at)
        before = Message.objects.count()

    statuses = {}
    for name, send in _unusual_requests(w, revoked, other.token).items():
        fast, drf = send(w.fast), send(w.drf)
        assert type(fast) is type(drf), name  # answered by the same layer (DRF, a middleware, the 404 view)
        assert _answer(fast) == _answer(drf), name
        statuses[name] = fast.status_code
    assert statuses == {
        "no token": 401, "a malformed token": 401, "a token of the other tenant": 401, "an ended session": 401,
        "an origin the inbox does not list": 403, "an unknown conversation": 404, "a POST to an unknown conversation": 404,
        "a cursor that is not one": 400, "a cursor in Unicode digits": 400, "a number past int4": 404, "Accept: text/html": 406,
        "indented JSON asked for": 200, "?format=json": 200, "?format=xml": 404, "a preflight": 200, "a blank message": 400,
        "content that is not text": 400, "a body that is not JSON": 400, "a body that is not an object": 400, "a body over the size limit": 413,
        "NUL in the JSON": 400, "a form body": 415, "a bad Idempotency-Key": 400, "NUL in the query": 400, "an unknown method": 405,
    }
    with tenant_context(w.account):
        assert Message.objects.count() == before
    with tenant_context(other.account):
        assert Message.objects.filter(conversation__number=other.number).count() == 1


def _token_of(session) -> str:
    from django.core import signing
    from django.db import connection

    from conversations.widget import TOKEN_SALT

    return signing.dumps({"s": str(session.id), "t": connection.schema_name}, salt=TOKEN_SALT)


@pytest.mark.parametrize("fast", [True, False])
def test_each_request_is_counted_once_whichever_path_answers_it(widgets, fast):
    w = widgets["alpha"]
    client = w.fast if fast else w.drf
    with tenant_context(w.account):
        ended = WidgetSession.objects.create(inbox=w.inbox, contact=WidgetSession.objects.get().contact,
                                             expires_at=WidgetSession.objects.get().expires_at)
        revoked = _token_of(ended)
        WidgetSession.objects.filter(pk=ended.pk).update(revoked_at=ended.expires_at)

    rates = {"widget_session": "1000/min", "widget_address": "8/min", "widget_session_create": "1000/min", "api_user": "1000/min"}
    with override_settings(API_THROTTLE_RATES=rates):
        # The session and the conversation were counted (2); six requests more (refused after
        # counting, or served), then one too many.
        answers = [
            w.post(client, {"content": " "}).status_code,
            client.post(f"{API}conversations/{w.number + 50}/messages", {"content": "hi"}, content_type="application/json",
                        HTTP_AUTHORIZATION=f"Bearer {w.token}").status_code,
            w.poll(client, "?after=abc").status_code,
            w.poll(client, token=revoked).status_code,
            w.post(client, {"content": "hello"}).status_code,
            w.poll(client).status_code,
        ]
        refused = w.poll(client)
    assert answers == [400, 404, 400, 401, 201, 200]
    assert refused.status_code == 429 and refused["Retry-After"] and refused["Access-Control-Allow-Origin"] == SHOP
    assert refused.json()["error"]["code"] == "throttled"


def test_a_token_of_one_tenant_reads_and_writes_nothing_on_another(widgets):
    alpha, beta = widgets["alpha"], widgets["beta"]
    alphas_path_on_beta = lambda token: beta.fast.get(alpha.messages, HTTP_AUTHORIZATION=f"Bearer {token}")  # noqa: E731
    for request in (lambda: beta.poll(beta.fast, token=alpha.token), lambda: beta.post(beta.fast, {"content": "sneaky"}, token=alpha.token),
                    lambda: alpha.poll(alpha.fast, token=beta.token), lambda: alphas_path_on_beta(alpha.token)):
        response = request()
        assert response.status_code == 401 and b"Where is my parcel" not in response.content
    for w in (alpha, beta):
        with tenant_context(w.account):
            assert list(Message.objects.values_list("content", flat=True)) == ["Where is my parcel?"]


def test_a_request_the_fast_path_serves_sends_the_request_signals_that_manage_connections(widgets):
    w = widgets["alpha"]
    sent = []

    def started(**kwargs):
        sent.append("started")

    def finished(**kwargs):
        sent.append("finished")

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        response = w.poll(w.fast)
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert response.status_code == 200 and _served_fast(response)
    assert sent == ["started", "finished"]
