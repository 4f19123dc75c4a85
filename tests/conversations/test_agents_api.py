"""The agents' API through HTTP: a member's token, their visibility, the same services."""

import json

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts.models import Membership
from accounts.services import api_token_create
from conversations import services
from conversations.events import Actor
from conversations.models import Contact, Conversation, ConversationEvent
from tests.conversations.factories import ContactFactory, InboxFactory, LabelFactory, TeamFactory, TeamMemberFactory

pytestmark = pytest.mark.usefixtures("in_alpha")
API = "/api/v1/"
Role = Membership.Role


@pytest.fixture
def api(alpha_client):
    def call(method, path, key, body=None, **headers):
        kwargs = {"content_type": "application/json", "HTTP_AUTHORIZATION": f"Token {key}", **headers}
        if body is not None:
            kwargs["data"] = json.dumps(body)
        return getattr(alpha_client, method)(f"{API}{path}", **kwargs)

    return call


@pytest.fixture
def member_key(alpha, make_member):
    def make(role=Role.MANAGER, **kwargs):
        user = make_member(role=role, **kwargs)
        return user, api_token_create(user=user, account=alpha, name="tests")[1]

    return make


@pytest.fixture
def world(open_conversation, make_member):
    billing, technical = TeamFactory(name="Billing"), TeamFactory(name="Technical")
    inbox = InboxFactory(auto_assign=False)
    label = LabelFactory(name="vip")
    a = open_conversation(inbox=inbox, content="refund please")
    services.conversation_team_set(conversation=a, team=billing, by=Actor.system())
    services.conversation_labels_add(conversation=a, labels=[label], by=Actor.system())
    b = open_conversation(inbox=inbox, content="api broken")
    services.conversation_team_set(conversation=b, team=technical, by=Actor.system())
    services.conversation_priority_set(conversation=b, priority=4, by=Actor.system())
    return {"a": a, "b": b, "billing": billing, "technical": technical, "inbox": inbox}


def _numbers(response):
    assert response.status_code == 200, response.content
    return {row["number"] for row in response.json()["results"]}


def test_list_filters_and_pagination(api, member_key, world):
    user, key = member_key()
    a, b = world["a"].number, world["b"].number
    assert _numbers(api("get", "conversations/", key)) == {a, b}
    assert _numbers(api("get", "conversations/?priority=urgent", key)) == {b}
    assert _numbers(api("get", f"conversations/?team={world['billing'].pk}", key)) == {a}
    assert _numbers(api("get", "conversations/?label=vip", key)) == {a}
    assert _numbers(api("get", "conversations/?status=open&assignee=none", key)) == {a, b}
    assert _numbers(api("get", f"conversations/?inbox={world['inbox'].pk}", key)) == {a, b}
    future = (timezone.now() + timezone.timedelta(hours=1)).isoformat()
    assert _numbers(api("get", f"conversations/?updated_since={future.replace('+', '%2B')}", key)) == set()
    services.conversation_assign(conversation=world["a"], assignee=user, by=Actor.system())
    assert _numbers(api("get", "conversations/?assignee=me", key)) == {a}
    page = api("get", "conversations/?page_size=1", key).json()
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]
    for bad in ["status=closed", "priority=huge", "team=abc", "updated_since=yesterday", "page=abc", "page=99"]:
        response = api("get", f"conversations/?{bad}", key)
        assert response.status_code in (400, 404), bad
        assert set(response.json()) == {"error"}


def test_list_is_in_the_queues_order_and_a_label_filter_lists_each_conversation_once(api, member_key, open_conversation):
    """Waiting customers first (longest-waiting first), then by priority, then by last activity:
    the desk queue's order, which an index serves (the last activity alone is in none)."""
    manager, key = member_key()
    inbox, system = InboxFactory(auto_assign=False), Actor.system()
    vip, refund = LabelFactory(name="vip"), LabelFactory(name="refund")
    answered_old, answered_urgent, waiting_old, answered_recent, waiting_new = (
        open_conversation(inbox=inbox, content=f"question {n}") for n in range(5))
    for conversation in (answered_old, answered_urgent, answered_recent):
        services.message_add_reply(conversation=conversation, content="Answered.", author=manager)
    services.conversation_priority_set(conversation=answered_urgent, priority=4, by=system)
    services.conversation_labels_add(conversation=waiting_new, labels=[vip, refund], by=system)
    services.conversation_labels_add(conversation=answered_old, labels=[vip], by=system)

    listed = api("get", "conversations/", key).json()
    assert [row["number"] for row in listed["results"]] == [
        c.number for c in (waiting_old, waiting_new, answered_urgent, answered_recent, answered_old)]
    labelled = api("get", "conversations/?label=vip", key).json()
    assert (labelled["count"], [row["number"] for row in labelled["results"]]) == (2, [waiting_new.number, answered_old.number])


def test_agent_token_sees_only_their_teams(api, member_key, world):
    agent, key = member_key(role=Role.AGENT)
    TeamMemberFactory(team=world["billing"], user=agent)
    assert _numbers(api("get", "conversations/", key)) == {world["a"].number}
    assert api("get", f"conversations/{world['b'].number}/", key).status_code == 403
    assert api("post", f"conversations/{world['b'].number}/reply", key, {"content": "x"}).status_code == 403


def test_retrieve_reply_note_assign_status(api, member_key, world, make_member):
    user, key = member_key()
    number = world["a"].number
    detail = api("get", f"conversations/{number}/", key).json()
    assert detail["labels"] == ["vip"] and detail["messages"][0]["content"] == "refund please"

    reply = api("post", f"conversations/{number}/reply", key, {"content": "Refunded."})
    assert reply.status_code == 201 and reply.json()["sender_type"] == "agent"
    note = api("post", f"conversations/{number}/notes", key, {"content": "VIP customer"})
    assert note.status_code == 201 and note.json()["kind"] == "note"
    conversation = Conversation.objects.get(number=number)
    assert conversation.first_response_at is not None and conversation.assignee == user

    other = make_member()
    assigned = api("post", f"conversations/{number}/assign", key, {"assignee_id": other.pk, "team_id": world["technical"].pk})
    assert assigned.status_code == 200 and (assigned.json()["assignee_id"], assigned.json()["team_id"]) == (other.pk, world["technical"].pk)
    resolved = api("post", f"conversations/{number}/status", key, {"status": "resolved"})
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert ConversationEvent.objects.filter(conversation=conversation, action="status_changed", actor_id=user.pk).exists()

    assert api("post", f"conversations/{number}/status", key, {"status": "snoozed"}).status_code == 400
    assert api("post", f"conversations/{number}/assign", key, {}).status_code == 400
    assert api("post", f"conversations/{number}/assign", key, {"assignee_id": 10**9}).status_code == 400
    assert api("post", f"conversations/{number}/reply", key, {"content": ""}).status_code == 400
    assert api("get", "conversations/123456789/", key).status_code == 404


def test_contacts_list_search_create_update(api, member_key):
    _, key = member_key()
    ContactFactory(name="Zoe Zed", email="zoe@example.org")
    created = api("post", "contacts/", key, {"name": "Ada Lovelace", "email": "ADA@example.org", "external_id": "crm-1", "custom_attributes": {"tier": "gold"}})
    assert created.status_code == 201 and created.json()["email"] == "ada@example.org"
    duplicate = api("post", "contacts/", key, {"name": "Other", "external_id": "crm-1"})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "duplicate_external_id"
    assert [c["name"] for c in api("get", "contacts/?q=lovelace", key).json()["results"]] == ["Ada Lovelace"]
    contact_id = created.json()["id"]
    updated = api("patch", f"contacts/{contact_id}/", key, {"phone": "+44 20 7946 0000", "blocked": True})
    assert updated.status_code == 200 and updated.json()["blocked"] is True
    assert api("get", f"contacts/{contact_id}/", key).json()["phone"] == "+44 20 7946 0000"
    assert api("get", "contacts/999999999/", key).status_code == 404
    assert api("patch", f"contacts/{contact_id}/", key, {"email": "bad"}).status_code == 400
    assert Contact.objects.count() == 2


def test_bad_missing_revoked_and_foreign_tokens_get_401(api, alpha_client, beta_client, member_key, beta, make_member, world):
    _, key = member_key()
    assert api("get", "conversations/", "nope").status_code == 401
    assert alpha_client.get(f"{API}conversations/").status_code == 401
    beta_user = make_member(account=beta)
    beta_key = api_token_create(user=beta_user, account=beta, name="beta")[1]
    assert api("get", "conversations/", beta_key).status_code == 401
    assert beta_client.get(f"{API}conversations/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    with schema_context("alpha"):
        Membership.objects.filter(account__schema_name="alpha").delete()
    assert api("get", "conversations/", key).status_code == 401


def test_create_api_token_command(alpha, make_member, capsys):
    user = make_member()
    call_command("create_api_token", account="alpha", email=user.email, name="CRM")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("hth_")
    assert user.api_tokens.get().name == "CRM"
