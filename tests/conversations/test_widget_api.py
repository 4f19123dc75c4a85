"""The widget API, through HTTP, as a chat widget calls it."""

import json
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from conversations import services
from conversations.models import Contact, Conversation, Message, MessageFeedback, WidgetSession
from conversations.widget import identifier_hash_for
from tests.conversations.factories import InboxFactory

pytestmark = pytest.mark.usefixtures("in_alpha")
API = "/api/widget/v1/"
SHOP = "https://shop.example"


def _call(client, method, path, body=None, token=None, **headers):
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    kwargs = {"content_type": "application/json", **headers}
    if body is not None:
        kwargs["data"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return getattr(client, method)(f"{API}{path}", **kwargs)


def _error(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]


@pytest.fixture
def inbox():
    return InboxFactory(auto_assign=False, allowed_origins=[SHOP], greeting="Hello there", widget_color="#ff5500")


@pytest.fixture
def session(alpha_client, inbox):
    response = _call(alpha_client, "post", "sessions", {"widget_token": inbox.widget_token, "name": "Wanda", "email": "Wanda@Example.org"})
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def token(session):
    return session["token"]


@pytest.fixture
def conversation_number(alpha_client, token):
    response = _call(alpha_client, "post", "conversations", {"content": "Where is my order?"}, token=token)
    assert response.status_code == 201
    return response.json()["number"]


# ----------------------------------------------------------------------------- sessions


def test_anonymous_session_makes_a_contact(session, inbox):
    assert session["contact"] == {"name": "Wanda", "email": "wanda@example.org", "custom_attributes": {}}
    assert WidgetSession.objects.get().inbox == inbox


def test_hmac_identity_binds_the_known_customer(alpha_client, inbox):
    known = services.contact_create(name="Known Customer", external_id="cust-42")
    good = identifier_hash_for(inbox=inbox, identifier="cust-42")
    response = _call(alpha_client, "post", "sessions", {"widget_token": inbox.widget_token, "identifier": "cust-42", "identifier_hash": good})
    assert response.status_code == 201
    assert response.json()["contact"]["name"] == "Known Customer"
    assert WidgetSession.objects.get().contact == known and WidgetSession.objects.get().identified


@pytest.mark.parametrize("identifier_hash", ["0" * 64, None, "not-hex"])
def test_hmac_identity_is_rejected_without_the_right_hash(alpha_client, inbox, identifier_hash):
    body = {"widget_token": inbox.widget_token, "identifier": "cust-42"}
    if identifier_hash:
        body["identifier_hash"] = identifier_hash
    response = _call(alpha_client, "post", "sessions", body)
    assert response.status_code == 400
    assert _error(response)["code"] == "identity_not_verified"
    assert not Contact.objects.exists() and not WidgetSession.objects.exists()


def test_session_errors(alpha_client, inbox):
    unknown = _call(alpha_client, "post", "sessions", {"widget_token": "nope"})
    assert unknown.status_code == 401 and _error(unknown)["message"] == "unknown widget token"
    missing = _call(alpha_client, "post", "sessions", {})
    assert missing.status_code == 400 and "widget_token" in _error(missing)["fields"]
    bad_email = _call(alpha_client, "post", "sessions", {"widget_token": inbox.widget_token, "email": "nope"})
    assert bad_email.status_code == 400 and "email" in _error(bad_email)["fields"]
    malformed = _call(alpha_client, "post", "sessions", "{not json")
    assert malformed.status_code == 400 and _error(malformed)["code"] == "malformed_request"
    not_object = _call(alpha_client, "post", "sessions", "[1, 2]")
    assert not_object.status_code == 400
    wrong_type = _call(alpha_client, "post", "sessions", {"widget_token": ["a"]})
    assert wrong_type.status_code == 400
    form = alpha_client.post(f"{API}sessions", {"widget_token": inbox.widget_token})
    assert form.status_code == 415 and _error(form)["code"] == "unsupported_media_type"
    assert not WidgetSession.objects.exists()


def test_oversized_body_is_refused(alpha_client, inbox, token, conversation_number):
    with override_settings(API_MAX_BODY_BYTES=1000):
        response = _call(alpha_client, "post", f"conversations/{conversation_number}/messages", {"content": "x" * 2000}, token=token)
    assert response.status_code == 413 and _error(response)["code"] == "request_too_large"
    assert Message.objects.count() == 1


def test_origins_outside_the_inbox_list_are_refused(alpha_client, inbox, token):
    allowed = _call(alpha_client, "get", "contact", token=token, HTTP_ORIGIN=SHOP)
    assert allowed.status_code == 200
    other = _call(alpha_client, "get", "contact", token=token, HTTP_ORIGIN="https://evil.example")
    assert other.status_code == 403
    session = _call(alpha_client, "post", "sessions", {"widget_token": inbox.widget_token}, HTTP_ORIGIN="https://evil.example")
    assert session.status_code == 403


def test_cors_preflight_answers_only_listed_origins(alpha_client, inbox):
    preflight = alpha_client.options(f"{API}sessions", HTTP_ORIGIN=SHOP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert preflight["Access-Control-Allow-Origin"] == SHOP
    other = alpha_client.options(f"{API}sessions", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in other


def test_revoked_and_expired_and_forged_tokens_get_401(alpha_client, token, session):
    assert _call(alpha_client, "get", "contact", token=token + "x").status_code == 401
    assert _call(alpha_client, "get", "contact").status_code == 401
    WidgetSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = _call(alpha_client, "get", "contact", token=token)
    assert expired.status_code == 401 and "expired" in _error(expired)["message"]
    WidgetSession.objects.update(expires_at=timezone.now() + timedelta(days=1))
    assert _call(alpha_client, "delete", "sessions/current", token=token).status_code == 204
    revoked = _call(alpha_client, "get", "contact", token=token)
    assert revoked.status_code == 401 and "ended" in _error(revoked)["message"]


# ----------------------------------------------------------------------------- contact and config


def test_contact_read_and_update(alpha_client, token):
    response = _call(alpha_client, "patch", "contact", {"name": "Wanda W.", "custom_attributes": {"plan": "pro", "seats": 3}}, token=token)
    assert response.status_code == 200
    assert response.json() == {"name": "Wanda W.", "email": "wanda@example.org", "custom_attributes": {"plan": "pro", "seats": 3}}
    _call(alpha_client, "patch", "contact", {"custom_attributes": {"seats": None}}, token=token)
    assert _call(alpha_client, "get", "contact", token=token).json()["custom_attributes"] == {"plan": "pro"}
    bad = _call(alpha_client, "patch", "contact", {"custom_attributes": {"nested": {"a": 1}}}, token=token)
    assert bad.status_code == 400
    nul = _call(alpha_client, "patch", "contact", {"name": "a\u0000b"}, token=token)
    assert nul.status_code == 400
    assert Contact.objects.get().name == "Wanda W."


def test_config_with_widget_token_or_session(alpha_client, inbox, token):
    by_token = alpha_client.get(f"{API}config?widget_token={inbox.widget_token}")
    assert by_token.status_code == 200
    assert by_token.json() == {"inbox": inbox.name, "greeting": "Hello there", "color": "#ff5500", "timezone": "UTC",
                               "business_hours": {}, "open_now": True, "ai_answers": False}
    assert _call(alpha_client, "get", "config", token=token).json()["inbox"] == inbox.name
    assert alpha_client.get(f"{API}config").status_code == 401


# ----------------------------------------------------------------------------- conversations and messages


def test_conversation_create_list_and_messages(alpha_client, token, conversation_number, make_member):
    listing = _call(alpha_client, "get", "conversations", token=token).json()
    assert [c["number"] for c in listing] == [conversation_number]

    conversation = Conversation.objects.get(number=conversation_number)
    agent = make_member(user__full_name="Sam Rivera")
    services.message_add_note(conversation=conversation, content="internal: VIP", author=agent)
    services.message_add_reply(conversation=conversation, content="It ships today", author=agent)
    page = _call(alpha_client, "get", f"conversations/{conversation_number}/messages", token=token).json()
    assert [(m["sender_type"], m["content"]) for m in page["results"]] == [("contact", "Where is my order?"), ("agent", "It ships today")]
    assert page["results"][1]["sender_name"] == "Sam"

    cursor = page["next_cursor"]
    empty = _call(alpha_client, "get", f"conversations/{conversation_number}/messages?after={cursor}", token=token).json()
    assert empty == {"results": [], "next_cursor": cursor}
    posted = _call(alpha_client, "post", f"conversations/{conversation_number}/messages", {"content": "Thanks!"}, token=token)
    assert posted.status_code == 201 and posted.json()["content"] == "Thanks!"
    newer = _call(alpha_client, "get", f"conversations/{conversation_number}/messages?after={cursor}", token=token).json()
    assert [m["id"] for m in newer["results"]] == [posted.json()["id"]]

    assert _call(alpha_client, "get", f"conversations/{conversation_number}/messages?after=abc", token=token).status_code == 400
    assert _call(alpha_client, "get", "conversations/999999/messages", token=token).status_code == 404
    assert _call(alpha_client, "get", "conversations/99999999999999999999/messages", token=token).status_code == 404
    empty_post = _call(alpha_client, "post", f"conversations/{conversation_number}/messages", {"content": "  "}, token=token)
    assert empty_post.status_code == 400 and "content" in _error(empty_post)["fields"]


def test_idempotency_key_returns_the_same_message(alpha_client, token, conversation_number):
    path = f"conversations/{conversation_number}/messages"
    first = _call(alpha_client, "post", path, {"content": "once"}, token=token, HTTP_IDEMPOTENCY_KEY="abc-1")
    again = _call(alpha_client, "post", path, {"content": "once"}, token=token, HTTP_IDEMPOTENCY_KEY="abc-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Message.objects.filter(content="once").count() == 1


def test_idempotency_key_opens_one_conversation(alpha_client, token):
    first = _call(alpha_client, "post", "conversations", {"content": "Hello?"}, token=token, HTTP_IDEMPOTENCY_KEY="open-1")
    again = _call(alpha_client, "post", "conversations", {"content": "Hello?"}, token=token, HTTP_IDEMPOTENCY_KEY="open-1")
    other = _call(alpha_client, "post", "conversations", {"content": "Hello?"}, token=token, HTTP_IDEMPOTENCY_KEY="open-2")
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert first.json()["number"] == again.json()["number"] != other.json()["number"]
    assert Conversation.objects.count() == 2
    bad_key = _call(alpha_client, "post", "conversations", {"content": "x"}, token=token, HTTP_IDEMPOTENCY_KEY="k" * 101)
    assert bad_key.status_code == 400 and "Idempotency-Key" in _error(bad_key)["fields"]


def test_session_cannot_reach_another_inbox_or_contact(alpha_client, inbox, token, conversation_number):
    other_inbox = InboxFactory(auto_assign=False)
    other = _call(alpha_client, "post", "sessions", {"widget_token": other_inbox.widget_token}).json()["token"]
    assert _call(alpha_client, "get", f"conversations/{conversation_number}/messages", token=other).status_code == 404
    assert _call(alpha_client, "post", f"conversations/{conversation_number}/messages", {"content": "hi"}, token=other).status_code == 404
    assert _call(alpha_client, "get", "conversations", token=other).json() == []
    # Same contact (identified) in another inbox still sees only that inbox's conversations.
    contact = Conversation.objects.get(number=conversation_number).contact
    contact.external_id = "cust-7"
    contact.save()
    identified = _call(alpha_client, "post", "sessions", {"widget_token": other_inbox.widget_token, "identifier": "cust-7",
                                                          "identifier_hash": identifier_hash_for(inbox=other_inbox, identifier="cust-7")}).json()["token"]
    assert _call(alpha_client, "get", "conversations", token=identified).json() == []
    assert _call(alpha_client, "get", f"conversations/{conversation_number}/messages", token=identified).status_code == 404


def test_tokens_of_one_tenant_mean_nothing_on_another(alpha_client, beta_client, token, conversation_number, beta):
    with tenant_context(beta):
        beta_inbox = InboxFactory(auto_assign=False)
    assert _call(beta_client, "get", "contact", token=token).status_code == 401
    assert _call(beta_client, "get", f"conversations/{conversation_number}/messages", token=token).status_code == 401
    with schema_context("alpha"):
        alpha_widget = Conversation.objects.get(number=conversation_number).inbox.widget_token
    assert _call(beta_client, "post", "sessions", {"widget_token": alpha_widget}).status_code == 401
    assert _call(alpha_client, "post", "sessions", {"widget_token": beta_inbox.widget_token}).status_code == 401
    with schema_context("beta"):
        assert not WidgetSession.objects.exists()


# ----------------------------------------------------------------------------- CSAT and feedback


def test_csat_once(alpha_client, token, conversation_number):
    path = f"conversations/{conversation_number}/csat"
    assert _call(alpha_client, "post", path, {"rating": 0}, token=token).status_code == 400
    assert _call(alpha_client, "post", path, {"rating": "five"}, token=token).status_code == 400
    created = _call(alpha_client, "post", path, {"rating": 5, "comment": "Great"}, token=token)
    assert created.status_code == 201 and created.json() == {"rating": 5, "comment": "Great"}
    again = _call(alpha_client, "post", path, {"rating": 1}, token=token)
    assert again.status_code == 409 and _error(again)["code"] == "already_rated"
    assert Conversation.objects.get(number=conversation_number).csat.rating == 5


def test_feedback_on_ai_answers_once_and_changeable(alpha_client, token, conversation_number, make_member):
    conversation = Conversation.objects.get(number=conversation_number)
    ai_answer = services.message_add_reply(conversation=conversation, content="Try restarting", by_ai=True)
    agent_answer = services.message_add_reply(conversation=conversation, content="Human here", author=make_member())
    up = _call(alpha_client, "post", f"messages/{ai_answer.pk}/feedback", {"rating": "up"}, token=token)
    assert up.status_code == 200 and up.json() == {"message_id": ai_answer.pk, "rating": "up"}
    down = _call(alpha_client, "post", f"messages/{ai_answer.pk}/feedback", {"rating": "down"}, token=token)
    assert down.json()["rating"] == "down"
    assert MessageFeedback.objects.get(message=ai_answer).rating == "down" and MessageFeedback.objects.count() == 1
    assert _call(alpha_client, "post", f"messages/{agent_answer.pk}/feedback", {"rating": "up"}, token=token).status_code == 404
    assert _call(alpha_client, "post", f"messages/{ai_answer.pk}/feedback", {"rating": "meh"}, token=token).status_code == 400
    page = _call(alpha_client, "get", f"conversations/{conversation_number}/messages", token=token).json()
    assert {m["id"]: m["feedback"] for m in page["results"]}[ai_answer.pk] == "down"


# ----------------------------------------------------------------------------- throttling and unknown URLs


def test_throttling_answers_429_with_retry_after(alpha_client, token):
    rates = {"widget_session": "3/min", "widget_address": "100/min", "widget_session_create": "100/min", "api_user": "100/min"}
    with override_settings(API_THROTTLE_RATES=rates):
        statuses = [_call(alpha_client, "get", "contact", token=token).status_code for _ in range(4)]
        limited = _call(alpha_client, "get", "contact", token=token)
    assert statuses == [200, 200, 200, 429]
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert _error(limited)["code"] == "throttled"


def test_session_creation_is_throttled_per_address(alpha_client, inbox):
    rates = {"widget_session": "100/min", "widget_address": "100/min", "widget_session_create": "2/min", "api_user": "100/min"}
    with override_settings(API_THROTTLE_RATES=rates):
        statuses = [_call(alpha_client, "post", "sessions", {"widget_token": inbox.widget_token}, REMOTE_ADDR="10.1.2.3").status_code for _ in range(3)]
        other_address = _call(alpha_client, "post", "sessions", {"widget_token": inbox.widget_token}, REMOTE_ADDR="10.9.9.9")
    assert statuses == [201, 201, 429] and other_address.status_code == 201


def test_unknown_api_urls_answer_json_404(alpha_client):
    response = alpha_client.get(f"{API}nothing-here")
    assert response.status_code == 404 and _error(response)["code"] == "not_found"


def test_a_forged_forwarded_for_header_does_not_escape_the_address_throttle(alpha_client, inbox):
    rates = {"widget_session": "100/min", "widget_address": "100/min", "widget_session_create": "2/min", "api_user": "100/min"}
    with override_settings(API_THROTTLE_RATES=rates):
        statuses = [
            _call(alpha_client, "post", "sessions", {"widget_token": inbox.widget_token}, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
            for n in range(3)
        ]
    assert statuses == [201, 201, 429]
