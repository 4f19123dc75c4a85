"""One write path: the page, bulk actions and the agents' API change a conversation through
the same services, each change in one transaction with its events; the timeline reads as
sentences in the account's time zone; the resolution clock survives a reopen."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.utils import timezone

from accounts.models import Membership
from accounts.services import api_token_create
from conversations import services
from conversations.events import Actor
from conversations.models import Conversation, ConversationEvent, Priority, SLATarget
from tests.accounts.factories import PASSWORD, MembershipFactory
from tests.conftest import admin_login
from tests.conversations.factories import ContactFactory, InboxFactory, LabelFactory, SLAPolicyFactory, TeamFactory

pytestmark = pytest.mark.usefixtures("in_alpha")
QUEUE = "/admin/conversations/conversation/"


def _events(conversation):
    return list(ConversationEvent.objects.filter(conversation=conversation).exclude(action="opened").values_list("action", "new_value"))


@pytest.fixture
def manager(alpha):
    return MembershipFactory(account=alpha, role=Membership.Role.MANAGER, user__full_name="Dana Reyes").user


@pytest.fixture
def api(alpha_client, alpha, manager):
    key = api_token_create(user=manager, account=alpha, name="tests")[1]

    def call(method, path, body=None):
        return getattr(alpha_client, method)(f"/api/v1/{path}", data=json.dumps(body) if body is not None else None,
                                             content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}")

    return call


# ----------------------------------------------------------------------------- assignment and labels


def test_an_api_assignment_refused_in_part_changes_nothing(api, open_conversation, beta):
    conversation = open_conversation()
    billing = TeamFactory(name="Billing")
    outsider = MembershipFactory(account=beta).user  # a member of another account
    response = api("post", f"conversations/{conversation.number}/assign", {"team_id": billing.pk, "assignee_id": outsider.pk})
    assert response.status_code == 400, response.content
    conversation.refresh_from_db()
    assert conversation.team_id is None and conversation.assignee_id is None
    assert _events(conversation) == []


def test_team_and_assignee_set_together_from_the_api_and_the_page(api, open_conversation, manager, alpha_client):
    billing, technical = TeamFactory(name="Billing"), TeamFactory(name="Technical")
    conversation = open_conversation()
    assert api("post", f"conversations/{conversation.number}/assign", {"team_id": billing.pk, "assignee_id": manager.pk}).status_code == 200
    conversation.refresh_from_db()
    assert (conversation.team, conversation.assignee) == (billing, manager)
    assert _events(conversation) == [("team_changed", "Billing"), ("assigned", "Dana Reyes")]

    # A part left out stays as it is.
    assert api("post", f"conversations/{conversation.number}/assign", {"assignee_id": None}).status_code == 200
    conversation.refresh_from_db()
    assert (conversation.team, conversation.assignee) == (billing, None)

    admin_login(alpha_client, manager.email, PASSWORD)
    alpha_client.post(f"{QUEUE}{conversation.pk}/change/", {"action": "assign", "assign-team": technical.pk, "assign-assignee": manager.pk})
    conversation.refresh_from_db()
    assert (conversation.team, conversation.assignee) == (technical, manager)


def test_labels_become_exactly_the_chosen_ones(open_conversation):
    vip, refund, late = LabelFactory(name="vip"), LabelFactory(name="refund"), LabelFactory(name="late")
    conversation = open_conversation()
    services.conversation_labels_set(conversation=conversation, labels=[vip, refund], by=Actor.system())
    services.conversation_labels_set(conversation=conversation, labels=[refund, late], by=Actor.system())
    assert set(conversation.labels.values_list("name", flat=True)) == {"refund", "late"}
    actions = ConversationEvent.objects.filter(conversation=conversation, field="labels").values_list("action", "old_value", "new_value")
    assert list(actions) == [("label_added", "", "vip"), ("label_added", "", "refund"), ("label_added", "", "late"), ("label_removed", "vip", "")]


# ----------------------------------------------------------------------------- the resolution clock


def test_a_new_priority_after_a_reopen_keeps_the_reopens_resolution_clock(open_conversation):
    policy = SLAPolicyFactory(business_hours_only=False)
    for priority in (Priority.NONE, Priority.HIGH):
        SLATarget.objects.create(policy=policy, priority=priority, first_response_minutes=60, resolution_minutes=120)
    opened = timezone.now() - timedelta(hours=5)
    conversation = open_conversation(inbox=InboxFactory(auto_assign=False, sla_policy=policy), at=opened)
    services.conversation_status_set(conversation=conversation, status=Conversation.Status.RESOLVED, by=Actor.system(), at=opened + timedelta(minutes=10))
    reopened = opened + timedelta(minutes=200)
    services.message_add_incoming(conversation=conversation, content="It broke again", at=reopened)
    conversation.refresh_from_db()
    assert conversation.resolution_due_at == reopened + timedelta(minutes=120)

    services.conversation_priority_set(conversation=conversation, priority=Priority.HIGH, by=Actor.system(), at=reopened + timedelta(minutes=5))
    conversation.refresh_from_db()
    assert conversation.resolution_due_at == reopened + timedelta(minutes=120)
    services.sla_breaches_mark(at=reopened + timedelta(minutes=60))
    conversation.refresh_from_db()
    assert conversation.resolution_breached is False


# ----------------------------------------------------------------------------- how the page reads


def test_the_timeline_reads_as_sentences(open_conversation, manager, alpha_client):
    policy = SLAPolicyFactory(business_hours_only=False)
    SLATarget.objects.create(policy=policy, priority=Priority.NONE, first_response_minutes=5, resolution_minutes=600)
    conversation = open_conversation(inbox=InboxFactory(auto_assign=False, sla_policy=policy), at=timezone.now() - timedelta(hours=1))
    billing = TeamFactory(name="Billing")
    services.conversation_assignment_set(conversation=conversation, team=billing, by=Actor.agent(manager))
    services.sla_breaches_mark()
    services.conversation_classification_set(conversation=conversation, category="billing", confidence=0.82)
    services.conversation_status_set(conversation=conversation, status=Conversation.Status.RESOLVED, by=Actor.agent(manager))
    services.message_add_incoming(conversation=conversation, content="One more thing")

    admin_login(alpha_client, manager.email, PASSWORD)
    page = alpha_client.get(f"{QUEUE}{conversation.pk}/change/").content.decode()
    for sentence in [
        "Customer opened this conversation",
        "Dana Reyes assigned this to Billing",
        "Hearth marked the first response as late",
        "AI classified this as billing (0.82)",
        "Dana Reyes resolved this",
        "Customer reopened this",
    ]:
        assert sentence in page, sentence
    assert "status_changed" not in page


def test_desk_times_are_in_the_accounts_time_zone_and_relative_in_the_queue(open_conversation, manager, alpha, alpha_client):
    alpha.timezone = "Asia/Tokyo"
    alpha.save(update_fields=["timezone"])
    written = datetime(2026, 1, 5, 10, 0, tzinfo=dt_timezone.utc)  # 19:00 in Tokyo
    conversation = open_conversation(content="Hello from Osaka", at=written)
    Conversation.objects.filter(pk=conversation.pk).update(waiting_since=timezone.now() - timedelta(minutes=12, seconds=5))

    admin_login(alpha_client, manager.email, PASSWORD)
    page = alpha_client.get(f"{QUEUE}{conversation.pk}/change/").content.decode()
    assert "Jan 5, 19:00" in page and "Jan 5, 10:00" not in page
    assert "Times in Asia/Tokyo" in page
    queue = alpha_client.get(QUEUE).content.decode()
    assert "waiting 12 min" in queue
    assert "ago" in queue


# ----------------------------------------------------------------------------- contacts the business owns


def test_contact_fields_set_through_the_agents_api_belong_to_the_business(api):
    contact = ContactFactory(name="", email="")
    response = api("patch", f"contacts/{contact.pk}/", {"name": "Ann Lee", "custom_attributes": {"plan": "enterprise"}})
    assert response.status_code == 200, response.content
    contact.refresh_from_db()
    assert contact.business_fields == ["custom_attributes.plan", "name"]


def test_custom_attributes_are_limited_in_size_by_the_service():
    contact = ContactFactory()
    services.contact_update(contact=contact, custom_attributes={f"key{n}": "x" * 400 for n in range(30)})
    with pytest.raises(Exception, match="at most 16 KiB in all"):
        services.contact_update(contact=contact, custom_attributes={f"more{n}": "y" * 400 for n in range(15)})
    contact.refresh_from_db()
    assert len(contact.custom_attributes) == 30


def test_the_agents_api_clears_an_external_id_with_null(api):
    contact = ContactFactory(external_id="crm-9")
    assert api("patch", f"contacts/{contact.pk}/", {"name": "Still here"}).status_code == 200
    contact.refresh_from_db()
    assert contact.external_id == "crm-9"
    assert api("patch", f"contacts/{contact.pk}/", {"external_id": None}).status_code == 200
    contact.refresh_from_db()
    assert contact.external_id is None


def test_contact_fields_saved_in_the_admin_belong_to_the_business(alpha, alpha_client):
    owner = MembershipFactory(account=alpha, role=Membership.Role.OWNER).user
    contact = ContactFactory(name="Visitor", email="", custom_attributes={"color": "red"})
    admin_login(alpha_client, owner.email, PASSWORD)
    response = alpha_client.post(f"/admin/conversations/contact/{contact.pk}/change/", {
        "name": "Ann Lee", "email": "", "phone": "", "external_id": "", "custom_attributes": '{"color": "red", "plan": "pro"}',
        "business_fields": "",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    contact.refresh_from_db()
    assert contact.name == "Ann Lee"
    assert contact.business_fields == ["custom_attributes.plan", "name"]  # the customer's own "color" stays theirs
