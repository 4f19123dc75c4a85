"""The process's memory of verified widget tokens (conversations/widget.py, `_token_signed`):
a token it remembers is refused whenever the full check would refuse it. Each test first
makes the token remembered (a request that succeeds), then changes what the check depends on."""

from __future__ import annotations

import json

import pytest
from django.core import signing
from django.test import override_settings
from django_tenants.utils import tenant_context

from conversations import services
from conversations.widget import _token_signed, identifier_hash_for
from tests.conversations.factories import InboxFactory

pytestmark = pytest.mark.django_db
API = "/api/widget/v1/"


def _call(client, method, path, body=None, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return getattr(client, method)(f"{API}{path}", data=json.dumps(body) if body is not None else None,
                                   content_type="application/json", **headers)


def _remembered_session(client, inbox) -> str:
    response = _call(client, "post", "sessions", {"widget_token": inbox.widget_token})
    assert response.status_code == 201, response.content
    token = response.json()["token"]
    before = _token_signed.cache_info().hits
    assert _call(client, "get", "contact", token=token).status_code == 200
    assert _call(client, "get", "contact", token=token).status_code == 200
    assert _token_signed.cache_info().hits > before  # the second request was answered from memory
    return token


@pytest.fixture
def alpha_inbox(db, alpha):
    with tenant_context(alpha):
        return InboxFactory(auto_assign=False)


def test_a_rotated_widget_token_ends_a_remembered_session(alpha, alpha_client, alpha_inbox):
    token = _remembered_session(alpha_client, alpha_inbox)
    with tenant_context(alpha):
        services.inbox_widget_token_rotate(inbox=alpha_inbox)
    response = _call(alpha_client, "get", "contact", token=token)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "the session has ended; open a new one"


def test_a_remembered_token_past_its_age_is_expired(alpha_client, alpha_inbox):
    token = _remembered_session(alpha_client, alpha_inbox)
    # The session's row is still live; only the token's age (the setting) says it is too old.
    with override_settings(WIDGET_SESSION_TTL_SECONDS=-1):
        response = _call(alpha_client, "get", "contact", token=token)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "the session has expired; open a new one"
    assert _call(alpha_client, "get", "contact", token=token).status_code == 200


def test_a_remembered_token_means_nothing_on_another_tenant(alpha_client, beta_client, beta, alpha_inbox):
    token = _remembered_session(alpha_client, alpha_inbox)
    with tenant_context(beta):
        InboxFactory(auto_assign=False)
    response = _call(beta_client, "get", "contact", token=token)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "the session token is not valid here"


def test_a_remembered_session_reaches_no_conversation_of_another_inbox(alpha, alpha_client, alpha_inbox):
    # One contact (the same verified identifier) on two inboxes: the session of the first never
    # reaches the conversation opened on the second.
    with tenant_context(alpha):
        other_inbox = InboxFactory(auto_assign=False)
    sessions = {}
    for inbox in (alpha_inbox, other_inbox):
        identity = {"identifier": "customer-7", "identifier_hash": identifier_hash_for(inbox=inbox, identifier="customer-7")}
        response = _call(alpha_client, "post", "sessions", {"widget_token": inbox.widget_token, **identity})
        assert response.status_code == 201, response.content
        sessions[inbox.pk] = response.json()["token"]
    token, other = sessions[alpha_inbox.pk], sessions[other_inbox.pk]
    assert _call(alpha_client, "get", "contact", token=token).status_code == 200
    created = _call(alpha_client, "post", "conversations", {"content": "on the other inbox"}, token=other)
    assert created.status_code == 201
    number = created.json()["number"]
    assert _call(alpha_client, "get", f"conversations/{number}/messages", token=other).status_code == 200
    assert _call(alpha_client, "get", f"conversations/{number}/messages", token=token).status_code == 404
    assert _call(alpha_client, "post", f"conversations/{number}/messages", {"content": "hi"}, token=token).status_code == 404
    assert _call(alpha_client, "post", f"conversations/{number}/messages", {"content": "hi"}, token=other).status_code == 201


def test_a_remembered_token_is_refused_once_its_key_is_gone(alpha_client, alpha_inbox, settings):
    token = _remembered_session(alpha_client, alpha_inbox)
    old = settings.SECRET_KEY
    with override_settings(SECRET_KEY="a-new-key-" + "x" * 50, SECRET_KEY_FALLBACKS=[old]):
        assert _call(alpha_client, "get", "contact", token=token).status_code == 200  # the old key is a fallback
    with override_settings(SECRET_KEY="a-new-key-" + "x" * 50, SECRET_KEY_FALLBACKS=[]):
        response = _call(alpha_client, "get", "contact", token=token)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "the session token is not valid"


def test_an_altered_remembered_token_is_refused_and_not_remembered(alpha_client, alpha_inbox):
    token = _remembered_session(alpha_client, alpha_inbox)
    payload, signed_at, signature = token.rsplit(":", 2)
    for forged in (f"{payload}:{signed_at}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
                   f"{payload}:{signing.b62_encode(signing.b62_decode(signed_at) + 3600)}:{signature}",
                   token + "x"):
        size = _token_signed.cache_info().currsize
        assert _call(alpha_client, "get", "contact", token=forged).status_code == 401
        assert _token_signed.cache_info().currsize == size
