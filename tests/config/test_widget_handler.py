"""The widget API's handler (config/widget_handler.py) skips the middleware a bearer-token API
does not use: its answers must be the ones Django's usual handler, with every middleware, gives.

`Client` here is Django's own (every widget request through the full middleware); the
`HearthClient` routes as config/wsgi.py does (widget API paths through the lean handler)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client
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
