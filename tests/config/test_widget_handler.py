"""The widget API's handler (config/widget_handler.py) skips the middleware a bearer-token API
does not use: its answers must be the ones Django's usual handler, with every middleware, gives.

`Client` here is Django's own (every widget request through the full middleware); the
`HearthClient` routes as config/wsgi.py does (widget API paths through the lean handler)."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django_tenants.utils import tenant_context

from tests.conftest import HearthClient
from tests.conversations.factories import InboxFactory

SHOP = "https://shop.example"
API = "/api/widget/v1/"


def _requests(widget_token: str) -> dict[str, tuple[str, str, dict]]:
    """name -> (method, path, extra) of widget API requests whose answers do not depend on time."""
    json_body = {"content_type": "application/json"}
    return {
        "preflight": ("options", f"{API}sessions", {"HTTP_ORIGIN": SHOP, "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST",
                                                    "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "content-type,idempotency-key"}),
        "preflight from an unlisted origin": ("options", f"{API}sessions", {"HTTP_ORIGIN": "https://evil.example",
                                                                           "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST"}),
        "unknown widget token": ("post", f"{API}sessions", {"data": json.dumps({"widget_token": "nope"}), "HTTP_ORIGIN": SHOP, **json_body}),
        "no session": ("get", f"{API}contact", {"HTTP_ORIGIN": SHOP}),
        "a malformed session token": ("get", f"{API}conversations", {"HTTP_AUTHORIZATION": "Bearer not.a.token"}),
        "NUL in the query": ("get", f"{API}config?widget_token=a%00b", {"HTTP_ORIGIN": SHOP}),
        "NUL in a header": ("get", f"{API}config", {"HTTP_X_NOTE": "a\x00b"}),
        "NUL in the JSON": ("post", f"{API}sessions", {"data": '{"widget_token": "a\\u0000b"}', **json_body}),
        "a form instead of JSON": ("post", f"{API}sessions", {"data": {"widget_token": widget_token}}),
        "unknown path": ("get", f"{API}nothing-here", {"HTTP_ORIGIN": SHOP}),
        "unknown method": ("put", f"{API}sessions", {"data": "{}", **json_body}),
        "by path prefix, unknown token": ("get", f"/t/alpha{API}config?widget_token=nope", {"HTTP_HOST": "localhost", "HTTP_ORIGIN": SHOP}),
        "a Host outside ALLOWED_HOSTS": ("get", f"{API}config", {"HTTP_HOST": "a&s"}),
    }


def _answer(response) -> tuple:
    return response.status_code, response.content, sorted(response.headers.items()), sorted(response.cookies)


def _both_answer_alike(widget_token: str) -> dict[str, int]:
    desk, routed = Client(HTTP_HOST="alpha.localhost", raise_request_exception=False), HearthClient(HTTP_HOST="alpha.localhost", raise_request_exception=False)
    statuses = {}
    for name, (method, path, extra) in _requests(widget_token).items():
        full, lean = (_answer(getattr(client, method)(path, **extra)) for client in (desk, routed))
        assert lean == full, name
        assert not lean[3], f"{name}: the widget API sets no cookie"
        statuses[name] = lean[0]
    return statuses


@pytest.mark.django_db
def test_the_widget_handler_answers_as_the_full_middleware_does_for_an_active_and_a_suspended_account(
    alpha, django_capture_on_commit_callbacks
):
    with tenant_context(alpha):
        inbox = InboxFactory(allowed_origins=[SHOP])

    active = _both_answer_alike(inbox.widget_token)
    assert active == {
        "preflight": 200, "preflight from an unlisted origin": 200, "unknown widget token": 401, "no session": 401,
        "a malformed session token": 401, "NUL in the query": 400, "NUL in a header": 400, "NUL in the JSON": 400,
        "a form instead of JSON": 415, "unknown path": 404, "unknown method": 405,
        "by path prefix, unknown token": 401, "a Host outside ALLOWED_HOSTS": 400,
    }

    with django_capture_on_commit_callbacks(execute=True):
        call_command("account_suspend", "alpha", stdout=io.StringIO())
    try:
        suspended = _both_answer_alike(inbox.widget_token)
    finally:
        with django_capture_on_commit_callbacks(execute=True):
            call_command("account_resume", "alpha", stdout=io.StringIO())
    # NUL and a foreign host are refused first; CORS answers preflights before the suspension
    # is looked at; every other request is the suspended account's 403.
    answered_first = {"NUL in the query", "NUL in a header", "a Host outside ALLOWED_HOSTS", "preflight", "preflight from an unlisted origin"}
    assert {name for name, status in suspended.items() if status == 403} == set(active) - answered_first


@pytest.mark.django_db
def test_widget_answers_carry_cors_and_security_headers_and_desk_pages_keep_their_middleware(alpha):
    with tenant_context(alpha):
        inbox = InboxFactory(allowed_origins=[SHOP])
    client = HearthClient(HTTP_HOST="alpha.localhost")

    widget = client.get(f"{API}config?widget_token={inbox.widget_token}", HTTP_ORIGIN=SHOP)
    assert widget.status_code == 200
    assert widget["Access-Control-Allow-Origin"] == SHOP
    assert widget["X-Content-Type-Options"] == "nosniff" and widget["X-Frame-Options"] == "DENY"
    assert widget["Content-Length"] == str(len(widget.content))
    assert "Cookie" not in widget.get("Vary", "")

    # The desk through the same routing: sessions and CSRF are still there, CORS is not.
    login = client.get("/admin/login/", HTTP_ORIGIN=SHOP)
    assert login.status_code == 200 and "csrftoken" in login.cookies
    assert "Access-Control-Allow-Origin" not in login.headers
    agents = client.get("/api/v1/conversations/", HTTP_ORIGIN=SHOP)
    assert agents.status_code == 401 and "Access-Control-Allow-Origin" not in agents.headers


@pytest.mark.django_db
def test_the_widget_api_answers_json_to_any_accept_that_takes_it_and_406_to_one_that_does_not(alpha):
    with tenant_context(alpha):
        inbox = InboxFactory(allowed_origins=[SHOP])
    client = HearthClient(HTTP_HOST="alpha.localhost")
    config = f"{API}config?widget_token={inbox.widget_token}"

    for accept in (None, "*/*", "application/json", "application/*", "text/html, */*"):
        response = client.get(config, **({"HTTP_ACCEPT": accept} if accept else {}))
        assert response.status_code == 200 and response["Content-Type"] == "application/json", accept
        assert response.json()["inbox"] == inbox.name
    indented = client.get(config, HTTP_ACCEPT="application/json; indent=2")
    assert indented.status_code == 200 and indented.content.startswith(b'{\n  "inbox"')

    refused = client.get(config, HTTP_ACCEPT="text/html")
    assert refused.status_code == 406 and refused.json()["error"]["code"] == "not_acceptable"
    assert client.get(f"{config}&format=xml").status_code == 404


# ----------------------------------------------------------------------------- the plain path
# The usual poll and POST take the widget handler's plain path (each middleware's rules around
# the fast path, without the middleware chain); `chain` is the same handler with the plain path
# off (the chain around the same fast path). Their answers must not differ in anything but Date.


def _chain_and_plain(host: str) -> tuple[HearthClient, HearthClient]:
    chain, plain = (HearthClient(HTTP_HOST=host, raise_request_exception=False) for _ in range(2))
    chain.handler.widget_api_handler.serves_usual_requests_plain = False
    return chain, plain


def _widget_of(account, host: str) -> tuple[dict, str]:
    with tenant_context(account):
        inbox = InboxFactory(allowed_origins=[SHOP])
    client = HearthClient(HTTP_HOST=host)
    token = client.post(f"{API}sessions", {"widget_token": inbox.widget_token}, content_type="application/json").json()["token"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    number = client.post(f"{API}conversations", {"content": "hello"}, content_type="application/json", **auth).json()["number"]
    return auth, f"{API}conversations/{number}/messages"


def _same(chain_response, plain_response, what: str) -> None:
    assert chain_response.status_code == plain_response.status_code, what
    assert chain_response.content == plain_response.content, what
    assert sorted(chain_response.headers.items()) == sorted(plain_response.headers.items()), what


@pytest.mark.django_db
@pytest.mark.parametrize("tenant", ["alpha", "beta"])
@override_settings(SECURE_HSTS_SECONDS=3600)  # as in production (the development switch turns it off)
def test_the_plain_path_answers_the_usual_poll_and_post_as_the_middleware_chain_does(tenant, request):
    account, host = request.getfixturevalue(tenant), f"{tenant}.localhost"
    auth, messages = _widget_of(account, host)
    chain, plain = _chain_and_plain(host)
    https = {"HTTP_X_FORWARDED_PROTO": "https", "secure": True}  # behind the proxy: HSTS too

    for extra in ({}, {"HTTP_ORIGIN": SHOP}, {"HTTP_ORIGIN": SHOP, **https}):
        what = f"with {sorted(extra)}"
        key = uuid.uuid4().hex
        first = plain.post(messages, {"content": "a question"}, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key, **auth, **extra)
        assert first.status_code == 201, what
        # The plain path answered (a middleware added without plain rules switches it off, and
        # every comparison here would then compare the chain with itself).
        assert getattr(first.wsgi_request, "answered_by_plain_path", False), what
        # The retry of the same key: 200 with the first answer, through both.
        retries = [client.post(messages, {"content": "a question"}, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key, **auth, **extra)
                   for client in (chain, plain)]
        _same(*retries, f"retry {what}")
        assert retries[1].status_code == 200 and retries[1].content == first.content
        assert (first.get("Access-Control-Allow-Origin") == SHOP) is ("HTTP_ORIGIN" in extra)
        # A new message through each: equal but for its id and time.
        by_chain, by_plain = (client.post(messages, {"content": "again"}, content_type="application/json", **auth, **extra) for client in (chain, plain))
        assert sorted(by_chain.headers.items()) == sorted(by_plain.headers.items()) and by_plain.status_code == 201, what
        assert by_plain.json()["id"] == by_chain.json()["id"] + 1
        for query in ("", f"?after={first.json()['id']}"):
            by_chain, by_plain = chain.get(f"{messages}{query}", **auth, **extra), plain.get(f"{messages}{query}", **auth, **extra)
            _same(by_chain, by_plain, f"poll {query} {what}")
            assert getattr(by_plain.wsgi_request, "answered_by_plain_path", False) and not hasattr(by_chain.wsgi_request, "answered_by_plain_path")
        assert ("Strict-Transport-Security" in by_plain.headers) is ("secure" in extra), what


@pytest.mark.django_db
def test_unusual_requests_on_the_plain_paths_url_are_answered_by_the_chain_and_counted_once(alpha):
    auth, messages = _widget_of(alpha, "alpha.localhost")
    chain, plain = _chain_and_plain("alpha.localhost")
    redirecting = _chain_and_plain("alpha.localhost")  # a deployment that requires HTTPS (SecurityMiddleware's redirect)
    unusual = {
        "a preflight": lambda c: c.options(messages, HTTP_ORIGIN=SHOP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"),
        "NUL in a header": lambda c: c.get(messages, HTTP_X_NOTE="a\x00b", **auth),
        "a Host outside ALLOWED_HOSTS": lambda c: c.get(messages, HTTP_HOST="a&s", **auth),
        "by path prefix on a tenant's host": lambda c: c.get(f"/t/beta{messages}", **auth),
        "by path prefix, no such account": lambda c: c.get(f"/t/nobody{messages}", HTTP_HOST="localhost", **auth),
        "an unlisted origin": lambda c: c.get(messages, HTTP_ORIGIN="https://evil.example", **auth),
        "plain HTTP where HTTPS is required": lambda c: c.get(messages, **auth),
        "no such conversation": lambda c: c.get(f"{API}conversations/999/messages", **auth),
        "a blank message": lambda c: c.post(messages, {"content": " "}, content_type="application/json", **auth),
    }
    counted = [_session_count(alpha, auth)]
    for name, send in unusual.items():
        if name == "plain HTTP where HTTPS is required":
            with override_settings(SECURE_SSL_REDIRECT=True):
                answers = [send(client) for client in redirecting]
            assert answers[1].status_code == 301 and answers[1]["Location"].startswith("https://"), name
        else:
            answers = [send(client) for client in (chain, plain)]
        _same(*answers, name)
        counted.append(_session_count(alpha, auth))
    # The conversation's POST counted 1 in the session's window. The unlisted origin, no such
    # conversation and the blank message reach the session's count (the others are answered
    # before it): once through each path, so twice each.
    steps = dict(zip(unusual, (after - before for before, after in zip(counted, counted[1:]))))
    assert counted[0] == 1
    assert steps == {name: 2 if name in {"an unlisted origin", "no such conversation", "a blank message"} else 0 for name in unusual}


def _session_count(account, auth: dict) -> int:
    """This widget session's count in its throttle window, as Redis holds it."""
    from config.redis import redis_binary_client, tenant_cache_keys
    from conversations.api.throttling import WidgetSessionThrottle
    from conversations.widget import widget_session_id_from_token

    with tenant_context(account):
        session_id = widget_session_id_from_token(auth["HTTP_AUTHORIZATION"].split()[1])
        throttle_key = WidgetSessionThrottle.cache_format % {"scope": WidgetSessionThrottle.scope, "ident": session_id}
        return int(redis_binary_client().get(tenant_cache_keys(f"window:{throttle_key}")[0]) or 0)


@pytest.mark.usefixtures("committed_db")  # each request commits or fails on its own, as served
def test_an_error_after_the_count_is_answered_and_logged_as_the_chain_does(alpha, caplog):
    auth, messages = _widget_of(alpha, "alpha.localhost")
    chain, plain = _chain_and_plain("alpha.localhost")
    answers = []
    with tenant_context(alpha), connection.cursor() as cursor:
        # A real failure inside the message's statement (no mock): the table refuses new rows.
        cursor.execute("CREATE FUNCTION refuse_message() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$")
        cursor.execute("CREATE TRIGGER refuse_message BEFORE INSERT ON conversations_message FOR EACH ROW EXECUTE FUNCTION refuse_message()")
    try:
        for client in (chain, plain):
            caplog.clear()
            with caplog.at_level(logging.ERROR, logger="django.request"):
                answers.append(client.post(messages, {"content": "lost"}, content_type="application/json", HTTP_ORIGIN=SHOP, **auth))
            assert [(r.name, r.getMessage()) for r in caplog.records] == [("django.request", f"Internal Server Error: {messages}")]
    finally:
        with tenant_context(alpha), connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER refuse_message ON conversations_message; DROP FUNCTION refuse_message()")
    _same(*answers, "an error inside the statement")
    assert answers[1].status_code == 500 and answers[1].json()["error"]["code"] == "server_error"
    assert answers[1]["Access-Control-Allow-Origin"] == SHOP


def _wsgi_call(application, method: str, path: str, host: str, body: bytes = b"", **headers) -> tuple:
    """A request through a WSGI application, as gunicorn sends it; (status, headers, body)."""
    environ = _wsgi_environ(method, path, host, body, **headers)
    started = []
    chunks = application(environ, lambda status, response_headers, *_: started.append((status, sorted(response_headers))))
    try:
        content = b"".join(chunks)
    finally:
        chunks.close()  # the request's end: request_finished, as the server does
    return started[0][0], started[0][1], content


def _wsgi_environ(method: str, path: str, host: str, body: bytes = b"", **headers) -> dict:
    return {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": host,
        "SERVER_PORT": "80", "HTTP_HOST": host, "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(), "wsgi.multithread": True,
        "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0), "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json" if body else "", **headers,
    }


@pytest.mark.usefixtures("committed_db")  # served as gunicorn serves it: each request commits
def test_the_wsgi_application_serves_the_usual_poll_and_post_as_the_chain_does(alpha):
    from config.widget_handler import WidgetApiHandler
    from config.wsgi import application

    auth, messages = _widget_of(alpha, "alpha.localhost")
    chain = WidgetApiHandler()
    chain.serves_usual_requests_plain = False
    headers = {"HTTP_AUTHORIZATION": auth["HTTP_AUTHORIZATION"], "HTTP_ORIGIN": SHOP, "HTTP_X_NOTE": "why not"}
    key = {"HTTP_IDEMPOTENCY_KEY": uuid.uuid4().hex}
    body = json.dumps({"content": "through gunicorn"}).encode()

    first = _wsgi_call(application, "POST", messages, "alpha.localhost", body, **headers, **key)
    assert first[0] == "201 Created" and {name.lower(): value for name, value in first[1]}["access-control-allow-origin"] == SHOP
    assert _wsgi_call(chain, "POST", messages, "alpha.localhost", body, **headers, **key) == _wsgi_call(
        application, "POST", messages, "alpha.localhost", body, **headers, **key)
    assert _wsgi_call(chain, "GET", messages, "alpha.localhost", **headers) == _wsgi_call(application, "GET", messages, "alpha.localhost", **headers)
    # By path prefix, and a Host written in upper case with a trailing dot: the same tenant.
    prefixed = f"/t/alpha{messages}"
    assert _wsgi_call(chain, "GET", prefixed, "localhost", **headers) == _wsgi_call(application, "GET", prefixed, "localhost", **headers)
    poll = _wsgi_call(application, "GET", messages, "ALPHA.localhost.", **headers)
    assert poll[0] == "200 OK" and json.loads(poll[2])["results"][-1]["content"] == "through gunicorn"



@pytest.mark.usefixtures("committed_db")
def test_the_wsgi_applications_widget_handler_does_the_request_signals_work_and_yields_to_other_receivers(alpha):
    """request_started's receivers, called by the widget handler itself: a kept connection past
    its age (CONN_MAX_AGE) is closed before the request's statement and the queries log is
    emptied; at its end, a connection past its age is closed and the URL conf reset; with one
    more receiver connected to either signal the signal is sent, and that receiver runs."""
    from django.core.signals import request_finished, request_started
    from django.urls import get_urlconf, set_urlconf

    from config.widget_handler import _REQUEST_FINISHED, _REQUEST_STARTED, WidgetApiHandler
    from config.wsgi import application

    auth, messages = _widget_of(alpha, "alpha.localhost")
    assert _REQUEST_STARTED.now() and _REQUEST_FINISHED.now()  # nothing else listens: the handler's own path is the one tested
    connection.ensure_connection()
    obsolete = connection.connection
    connection.close_at = time.monotonic() - 1  # past its age, as CONN_MAX_AGE marks a kept connection
    connection.queries_log.append({"sql": "before the request", "time": "0"})
    used = []

    def seen(execute, sql, params, many, context):
        used.append(connection.connection)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(seen):
        status, _, body = _wsgi_call(application, "GET", messages, "alpha.localhost", **auth)
    assert status == "200 OK" and json.loads(body)["results"][0]["content"] == "hello"
    assert used and obsolete not in used
    assert [query["sql"] for query in connection.queries_log if query["sql"] == "before the request"] == []

    # The request's end (the server closes the response): request_finished's work, done by
    # the handler too: a connection past its age is closed, the URL conf reset.
    chunks = application(_wsgi_environ("GET", messages, "alpha.localhost", **auth), lambda *_: None)
    assert b"".join(chunks) and connection.connection is not None
    connection.close_at = time.monotonic() - 1
    set_urlconf(settings.ROOT_URLCONF)  # as a request routed by a URL conf of its own leaves it
    chunks.close()
    assert connection.connection is None and get_urlconf() is None and chunks.closed

    heard = []

    def started(sender, environ, **kwargs):
        heard.append(("started", environ["PATH_INFO"]))

    def finished(sender, **kwargs):
        heard.append(("finished", sender))

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        assert _REQUEST_STARTED.now() is None and _REQUEST_FINISHED.now() is None
        status, _, _ = _wsgi_call(application, "GET", messages, "alpha.localhost", **auth)
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert status == "200 OK" and heard == [("started", messages), ("finished", WidgetApiHandler)]
    assert _REQUEST_STARTED.now() and _REQUEST_FINISHED.now()

def test_request_headers_looked_up_on_demand_are_djangos_headers():
    from django.http.request import HttpHeaders

    from config.widget_handler import HeadersOnDemand

    environ = {"HTTP_AUTHORIZATION": "Bearer x", "HTTP_X_NOTE": "n", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "2",
               "SERVER_NAME": "s", "REMOTE_ADDR": "127.0.0.1", "HTTP_ORIGIN": SHOP}
    django_headers, on_demand = HttpHeaders(environ), HeadersOnDemand(environ)
    for name in ("Authorization", "authorization", "AUTHORIZATION", "x-note", "X_Note", "Content-Type", "content_length",
                 "Origin", "Server-Name", "Remote-Addr", "Cookie", "Http-Authorization"):
        assert on_demand.get(name) == django_headers.get(name), name
        assert (name in on_demand) is (name in django_headers), name
    assert dict(on_demand) == dict(django_headers) and len(on_demand) == len(django_headers) and on_demand == django_headers
