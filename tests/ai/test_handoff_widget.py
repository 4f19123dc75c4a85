"""The widget's side of AI answers: sources and sender in the message payload, thumbs on AI
answers, and "Talk to a person" (POST /api/widget/v1/conversations/{number}/handoff)."""

from __future__ import annotations

import json

import pytest
from django_tenants.utils import schema_context, tenant_context

from ai import handoff
from conversations import services
from conversations.models import Conversation, ConversationEvent, Message, MessageFeedback
from tests.conversations.conftest import in_alpha  # noqa: F401 (fixture)
from tests.conversations.factories import InboxFactory, TeamFactory

pytestmark = pytest.mark.usefixtures("in_alpha")
API = "/api/widget/v1/"
SOURCES = [{"slug": "reset-password", "title": "Resetting your password", "url": "https://help.example.com/reset-password"}]


def _call(client, method, path, body=None, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    return getattr(client, method)(f"{API}{path}", data=data, content_type="application/json", **headers)


def _error(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]


@pytest.fixture
def team():
    return TeamFactory(name="Support", auto_assign=False)


@pytest.fixture
def token(alpha_client, team):
    inbox = InboxFactory(auto_assign=False, ai_auto_reply=True, default_team=team)
    response = _call(alpha_client, "post", "sessions", {"widget_token": inbox.widget_token})
    assert response.status_code == 201
    return response.json()["token"]


@pytest.fixture
def number(alpha_client, token):
    response = _call(alpha_client, "post", "conversations", {"content": "How do I reset my password?"}, token=token)
    assert response.status_code == 201
    return response.json()["number"]


def _ai_answer(number):
    conversation = Conversation.objects.get(number=number)
    return services.message_add_reply(conversation=conversation, content="Settings > Security.", by_ai=True, sources=SOURCES)


def test_an_ai_answer_reaches_the_widget_marked_with_its_sources(alpha_client, token, number):
    answer = _ai_answer(number)
    results = _call(alpha_client, "get", f"conversations/{number}/messages", token=token).json()["results"]
    shown = next(m for m in results if m["id"] == answer.pk)
    assert shown["sender_type"] == "ai" and shown["sender_name"] == "Assistant"
    assert shown["sources"] == SOURCES and shown["feedback"] is None
    assert next(m for m in results if m["sender_type"] == "contact")["sources"] == []


def test_thumbs_on_an_ai_answer_are_kept_and_shown(alpha_client, token, number):
    answer = _ai_answer(number)
    assert _call(alpha_client, "post", f"messages/{answer.pk}/feedback", {"rating": "down"}, token=token).status_code == 200
    assert MessageFeedback.objects.get(message=answer).rating == "down"
    results = _call(alpha_client, "get", f"conversations/{number}/messages", token=token).json()["results"]
    assert next(m for m in results if m["id"] == answer.pk)["feedback"] == "down"


def test_talk_to_a_person_hands_off_once(alpha_client, token, number, team):
    _ai_answer(number)
    first = _call(alpha_client, "post", f"conversations/{number}/handoff", token=token)
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["number"] == number and body["reason"] == handoff.REASON_CUSTOMER_BUTTON and body["handed_off_at"]

    again = _call(alpha_client, "post", f"conversations/{number}/handoff", {}, token=token)
    assert again.status_code == 200 and again.json() == body
    conversation = Conversation.objects.get(number=number)
    assert conversation.team == team and conversation.waiting_since is not None
    assert ConversationEvent.objects.filter(conversation=conversation, action="handed_off").count() == 1
    assert conversation.messages.filter(kind=Message.Kind.NOTE).count() == 1
    # The note is for agents only: the widget never shows it.
    results = _call(alpha_client, "get", f"conversations/{number}/messages", token=token).json()["results"]
    assert all("handed this conversation" not in m["content"] for m in results)


@pytest.mark.parametrize("body", ["[1, 2]", '"person"', "{not json"])
def test_talk_to_a_person_refuses_a_bad_body_and_changes_nothing(alpha_client, token, number, body):
    response = _call(alpha_client, "post", f"conversations/{number}/handoff", body, token=token)
    assert response.status_code == 400
    _error(response)
    assert Conversation.objects.get(number=number).ai_handoff_at is None


def test_talk_to_a_person_needs_the_customers_own_conversation(alpha_client, token, number, team):
    assert _call(alpha_client, "post", f"conversations/{number}/handoff").status_code == 401  # no session
    other_inbox = InboxFactory(auto_assign=False)
    stranger = _call(alpha_client, "post", "sessions", {"widget_token": other_inbox.widget_token}).json()["token"]
    response = _call(alpha_client, "post", f"conversations/{number}/handoff", token=stranger)
    assert response.status_code == 404
    _error(response)
    assert _call(alpha_client, "post", "conversations/999999/handoff", token=token).status_code == 404
    assert Conversation.objects.get(number=number).ai_handoff_at is None


def test_talk_to_a_person_on_another_tenant_means_nothing(alpha_client, beta_client, token, number, beta):
    with tenant_context(beta):
        beta_inbox = InboxFactory(auto_assign=False)
    assert _call(beta_client, "post", f"conversations/{number}/handoff", token=token).status_code == 401
    beta_token = _call(beta_client, "post", "sessions", {"widget_token": beta_inbox.widget_token}).json()["token"]
    assert _call(alpha_client, "post", f"conversations/{number}/handoff", token=beta_token).status_code == 401
    assert Conversation.objects.get(number=number).ai_handoff_at is None
    with schema_context("beta"):
        assert not Conversation.objects.filter(ai_handoff_at__isnull=False).exists()


def test_the_handoff_endpoint_is_in_the_openapi_schema(alpha_client):
    schema = alpha_client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/widget/v1/conversations/{number}/handoff"]["post"]
    assert operation["operationId"] == "widget_conversation_handoff"
    assert {"200", "400", "401", "404"} <= set(operation["responses"])
    message = schema["components"]["schemas"]["WidgetMessage"]["properties"]
    assert "sources" in message
