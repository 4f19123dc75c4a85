"""The widget's reach: a rotated token ends its sessions, only web-widget inboxes open
sessions, and a customer cannot overwrite what the business set about them."""

from __future__ import annotations

import json

import pytest

from conversations import services
from conversations.models import Contact, Inbox
from tests.conversations.factories import InboxFactory

pytestmark = pytest.mark.usefixtures("in_alpha")
API = "/api/widget/v1/"


def _call(client, method, path, body=None, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return getattr(client, method)(f"{API}{path}", data=json.dumps(body) if body is not None else None, content_type="application/json", **headers)


def _session(client, inbox, **fields):
    response = _call(client, "post", "sessions", {"widget_token": inbox.widget_token, **fields})
    assert response.status_code == 201, response.content
    return response.json()["token"]


def test_rotating_the_widget_token_ends_the_sessions_it_opened(alpha_client):
    inbox, other = InboxFactory(auto_assign=False), InboxFactory(auto_assign=False)
    token, elsewhere = _session(alpha_client, inbox), _session(alpha_client, other)
    assert _call(alpha_client, "get", "contact", token=token).status_code == 200

    services.inbox_widget_token_rotate(inbox=inbox)
    assert _call(alpha_client, "get", "contact", token=token).status_code == 401
    assert _call(alpha_client, "get", "contact", token=elsewhere).status_code == 200  # another inbox's sessions stay
    inbox.refresh_from_db()
    assert _call(alpha_client, "get", "contact", token=_session(alpha_client, inbox)).status_code == 200


@pytest.mark.parametrize("channel", [Inbox.Channel.EMAIL, Inbox.Channel.API])
def test_only_a_web_widget_inbox_token_opens_sessions(alpha_client, channel):
    inbox = InboxFactory(auto_assign=False, channel=channel)
    response = _call(alpha_client, "post", "sessions", {"widget_token": inbox.widget_token})
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "unknown widget token"
    assert alpha_client.get(f"{API}config", {"widget_token": inbox.widget_token}).status_code == 401


def test_a_customer_cannot_overwrite_what_the_business_set(alpha_client):
    inbox = InboxFactory(auto_assign=False)
    token = _session(alpha_client, inbox, name="Wanda")
    contact = Contact.objects.get()
    services.contact_update(contact=contact, name="Wanda Maximoff", custom_attributes={"plan": "enterprise"})

    refused = _call(alpha_client, "patch", "contact", {"name": "W", "custom_attributes": {"plan": "free", "color": "red"}}, token=token)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "set_by_business"
    assert set(error["fields"]) == {"name", "custom_attributes.plan"}
    contact.refresh_from_db()
    assert (contact.name, contact.custom_attributes) == ("Wanda Maximoff", {"plan": "enterprise"})  # nothing half-applied

    # Their own fields, and the business's values sent unchanged, are fine.
    allowed = _call(alpha_client, "patch", "contact",
                    {"name": "Wanda Maximoff", "email": "wanda@example.org", "custom_attributes": {"color": "red"}}, token=token)
    assert allowed.status_code == 200, allowed.content
    assert allowed.json()["custom_attributes"] == {"plan": "enterprise", "color": "red"}
    # Nor may the customer delete the business's attribute.
    assert _call(alpha_client, "patch", "contact", {"custom_attributes": {"plan": None}}, token=token).status_code == 400


def test_an_identified_visitor_fills_only_the_gaps_the_business_left(alpha_client):
    from conversations.widget import identifier_hash_for

    inbox = InboxFactory(auto_assign=False)
    contact = services.contact_create(name="Ann Lee", external_id="cus_1")
    _session(alpha_client, inbox, identifier="cus_1", identifier_hash=identifier_hash_for(inbox=inbox, identifier="cus_1"),
             name="Anonymous Annie", email="Ann@Example.org")
    contact.refresh_from_db()
    assert (contact.name, contact.email) == ("Ann Lee", "ann@example.org")


def test_custom_attributes_have_a_total_size_limit_from_the_widget_too(alpha_client):
    token = _session(alpha_client, InboxFactory(auto_assign=False))
    first = _call(alpha_client, "patch", "contact", {"custom_attributes": {f"a{n}": "x" * 450 for n in range(30)}}, token=token)
    assert first.status_code == 200, first.content
    second = _call(alpha_client, "patch", "contact", {"custom_attributes": {f"b{n}": "x" * 450 for n in range(15)}}, token=token)
    assert second.status_code == 400
    assert second.json()["error"]["fields"] == {"custom_attributes": ["custom attributes are at most 16 KiB in all"]}
    assert len(Contact.objects.get().custom_attributes) == 30
