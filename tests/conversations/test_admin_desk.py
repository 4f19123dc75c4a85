"""The agents' back office: queue, conversation page, roles, bulk actions, escaping."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from accounts.models import Membership
from conversations import services
from conversations.events import Actor
from conversations.models import Conversation, ConversationEvent, Message, Priority
from tests.accounts.factories import PASSWORD
from tests.conftest import admin_login
from tests.conversations.factories import (
    CannedResponseFactory,
    ContactFactory,
    InboxFactory,
    LabelFactory,
    SLAPolicyFactory,
    TeamFactory,
    TeamMemberFactory,
)

pytestmark = pytest.mark.usefixtures("in_alpha")
Role = Membership.Role
QUEUE = "/admin/conversations/conversation/"


def _page(conversation):
    return f"{QUEUE}{conversation.pk}/change/"


@pytest.fixture
def desk(make_member, open_conversation):
    """Two teams; an agent in Billing; one conversation per team and one assigned to the agent."""
    billing, technical = TeamFactory(name="Billing"), TeamFactory(name="Technical")
    agent = make_member(role=Role.AGENT)
    TeamMemberFactory(team=billing, user=agent)
    inbox = InboxFactory(auto_assign=False)
    billing_conv = open_conversation(inbox=inbox, content="Refund please")
    services.conversation_team_set(conversation=billing_conv, team=billing, by=Actor.system())
    technical_conv = open_conversation(inbox=inbox, content="API is down")
    services.conversation_team_set(conversation=technical_conv, team=technical, by=Actor.system())
    mine_elsewhere = open_conversation(inbox=inbox, content="Assigned to me in technical")
    services.conversation_team_set(conversation=mine_elsewhere, team=technical, by=Actor.system())
    services.conversation_assign(conversation=mine_elsewhere, assignee=agent, by=Actor.system())
    return {"agent": agent, "billing": billing_conv, "technical": technical_conv, "mine": mine_elsewhere, "teams": (billing, technical), "inbox": inbox}


def _login(client, user):
    admin_login(client, user.email, PASSWORD)


# ----------------------------------------------------------------------------- roles


def test_agent_sees_their_teams_and_their_own_conversations_only(desk, alpha_client):
    _login(alpha_client, desk["agent"])
    queue = alpha_client.get(QUEUE).content.decode()
    assert f"#{desk['billing'].number}<" in queue and f"#{desk['mine'].number}<" in queue
    assert f"#{desk['technical'].number}<" not in queue

    assert alpha_client.get(_page(desk["billing"])).status_code == 200
    assert alpha_client.get(_page(desk["mine"])).status_code == 200
    refused = alpha_client.get(_page(desk["technical"]))
    assert refused.status_code == 403
    assert b"API is down" not in refused.content
    # Nor can the agent write to it by posting to its URL.
    alpha_client.post(_page(desk["technical"]), {"action": "reply", "reply-content": "sneaky"})
    assert not Message.objects.filter(content="sneaky").exists()


def test_manager_sees_every_conversation(desk, alpha_client, make_member):
    _login(alpha_client, make_member(role=Role.MANAGER))
    queue = alpha_client.get(QUEUE).content.decode()
    for key in ["billing", "technical", "mine"]:
        assert f"#{desk[key].number}<" in queue
    assert alpha_client.get(_page(desk["technical"])).status_code == 200


@pytest.mark.parametrize("path", ["/admin/conversations/inbox/add/", "/admin/conversations/team/add/", "/admin/conversations/slapolicy/add/", "/admin/accounts/invitation/add/"])
def test_only_admins_manage_inboxes_teams_sla_and_members(path, alpha_client, make_member):
    _login(alpha_client, make_member(role=Role.MANAGER))
    assert alpha_client.get(path).status_code == 403
    _login(alpha_client, make_member(role=Role.ADMIN))
    assert alpha_client.get(path).status_code == 200


def test_agent_cannot_open_setup_pages(alpha_client, make_member):
    _login(alpha_client, make_member(role=Role.AGENT))
    assert alpha_client.get("/admin/conversations/inbox/").status_code == 403
    assert alpha_client.get("/admin/accounts/membership/").status_code == 403


def test_members_page_lists_only_this_accounts_members(alpha_client, make_member, beta):
    admin = make_member(role=Role.ADMIN)
    outsider = make_member(account=beta)
    _login(alpha_client, admin)
    page = alpha_client.get("/admin/accounts/membership/").content.decode()
    assert admin.email in page and outsider.email not in page


def test_admin_invites_a_member_by_email_instead_of_adding_a_login(alpha_client, make_member, alpha):
    # Adding people is by invitation now (tests/accounts/test_invitations.py has the flow).
    _login(alpha_client, make_member(role=Role.ADMIN))
    assert alpha_client.get("/admin/accounts/membership/add/").status_code == 403
    response = alpha_client.post("/admin/accounts/invitation/add/", {"email": "New.Agent@Example.com", "role": "agent"})
    assert response.status_code == 302
    assert not Membership.objects.filter(account=alpha, user__email="new.agent@example.com").exists()


# ----------------------------------------------------------------------------- conversation page


def test_reply_from_the_admin_creates_the_message_through_the_services(desk, alpha_client):
    agent = desk["agent"]
    _login(alpha_client, agent)
    conversation = desk["billing"]
    response = alpha_client.post(_page(conversation), {"action": "reply", "reply-content": "Refund issued today."})
    assert response.status_code == 302 and response["Location"] == _page(conversation)

    reply = Message.objects.get(conversation=conversation, content="Refund issued today.")
    assert (reply.direction, reply.kind, reply.sender_type, reply.sender_id) == ("outgoing", "text", "agent", agent.pk)
    conversation.refresh_from_db()
    assert conversation.first_response_at == reply.created_at and conversation.waiting_since is None
    assert conversation.assignee == agent
    assert ConversationEvent.objects.filter(conversation=conversation, action="assigned").exists()
    page = alpha_client.get(_page(conversation)).content.decode()
    assert "Refund issued today." in page and "Reply sent." in page


def test_note_from_the_admin_is_private_and_not_a_response(desk, alpha_client):
    _login(alpha_client, desk["agent"])
    conversation = desk["billing"]
    alpha_client.post(_page(conversation), {"action": "note", "note-content": "Customer is a VIP"})
    note = Message.objects.get(conversation=conversation, content="Customer is a VIP")
    assert note.kind == Message.Kind.NOTE
    conversation.refresh_from_db()
    assert conversation.first_response_at is None


def test_canned_response_short_code_expands(desk, alpha_client):
    CannedResponseFactory(short_code="refund", body="Your refund is on its way.")
    _login(alpha_client, desk["agent"])
    alpha_client.post(_page(desk["billing"]), {"action": "reply", "reply-content": "/refund"})
    assert Message.objects.filter(conversation=desk["billing"], content="Your refund is on its way.").exists()


def test_status_priority_assign_and_labels_from_the_page(desk, alpha_client, make_member):
    manager = make_member(role=Role.MANAGER)
    label = LabelFactory(name="vip")
    _login(alpha_client, manager)
    conversation = desk["technical"]
    alpha_client.post(_page(conversation), {"action": "priority", "priority-priority": Priority.HIGH})
    alpha_client.post(_page(conversation), {"action": "assign", "assign-assignee": manager.pk, "assign-team": desk["teams"][0].pk})
    alpha_client.post(_page(conversation), {"action": "labels", "labels-labels": [label.pk]})
    alpha_client.post(_page(conversation), {"action": "status", "status-status": "resolved"})
    conversation.refresh_from_db()
    assert (conversation.priority, conversation.assignee, conversation.team, conversation.status) == (Priority.HIGH, manager, desk["teams"][0], "resolved")
    assert list(conversation.labels.values_list("name", flat=True)) == ["vip"]
    actions = set(ConversationEvent.objects.filter(conversation=conversation).values_list("action", flat=True))
    assert {"priority_changed", "assigned", "team_changed", "label_added", "status_changed"} <= actions


def test_snooze_without_a_time_shows_an_error_and_changes_nothing(desk, alpha_client):
    _login(alpha_client, desk["agent"])
    response = alpha_client.post(_page(desk["billing"]), {"action": "status", "status-status": "snoozed"})
    assert response.status_code == 200
    assert b"Choose a time in the future" in response.content
    desk["billing"].refresh_from_db()
    assert desk["billing"].status == "open"


def test_customer_and_agent_text_is_escaped_not_executed(alpha_client, make_member, open_conversation):
    manager = make_member(role=Role.MANAGER)
    contact = ContactFactory(name='<script>alert("name")</script>', email="x@example.org")
    conversation = open_conversation(contact=contact, content='<img src=x onerror="alert(1)"> hi', subject="<b>bold</b>")
    services.message_add_note(conversation=conversation, content="<script>alert('note')</script>", author=manager)
    _login(alpha_client, manager)
    for path in [_page(conversation), QUEUE]:
        page = alpha_client.get(path).content.decode()
        assert '<script>alert("name")</script>' not in page
        assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;" in page
    page = alpha_client.get(_page(conversation)).content.decode()
    assert '<img src=x onerror="alert(1)">' not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "<script>alert('note')</script>" not in page and "<b>bold</b>" not in page


# ----------------------------------------------------------------------------- queue


def test_queue_filters_and_search(desk, alpha_client, make_member):
    manager = make_member(role=Role.MANAGER)
    services.message_add_incoming(conversation=desk["technical"], content="the webhook returns 502")
    Conversation.objects.filter(pk=desk["billing"].pk).update(first_response_breached=True, ai_category="billing")
    _login(alpha_client, manager)

    def numbers(query):
        page = alpha_client.get(f"{QUEUE}?{query}").content.decode()
        return {key for key in ["billing", "technical", "mine"] if f"#{desk[key].number}<" in page}

    assert numbers("q=webhook") == {"technical"}
    assert numbers(f"q=%23{desk['mine'].number}") == {"mine"}
    assert numbers("assignee=none") == {"billing", "technical"}
    assert numbers(f"assignee={desk['agent'].pk}") == {"mine"}
    assert numbers("sla=breached") == {"billing"}
    assert numbers("ai_category=billing") == {"billing"}
    assert numbers(f"team__id__exact={desk['teams'][1].pk}") == {"technical", "mine"}
    assert numbers("status__exact=open") == {"billing", "technical", "mine"}

    services.conversation_assign(conversation=desk["technical"], assignee=manager, by=Actor.system())
    assert numbers("assignee=me") == {"technical"}


def test_queue_runs_a_fixed_number_of_queries_however_many_rows(alpha_client, make_member, open_conversation):
    manager = make_member(role=Role.MANAGER)
    team, label = TeamFactory(), LabelFactory()
    inbox = InboxFactory(auto_assign=False, default_team=team, sla_policy=SLAPolicyFactory())

    def add(count):
        for _ in range(count):
            conversation = open_conversation(inbox=inbox)
            services.conversation_assign(conversation=conversation, assignee=manager, by=Actor.system())
            services.conversation_labels_add(conversation=conversation, labels=[label], by=Actor.system())

    _login(alpha_client, manager)
    add(3)
    with CaptureQueriesContext(connection) as few:
        assert alpha_client.get(QUEUE).status_code == 200
    add(30)
    with CaptureQueriesContext(connection) as many:
        assert alpha_client.get(QUEUE).status_code == 200
    assert len(many) == len(few)


def test_bulk_actions_assign_resolve_prioritise_label_and_move(desk, alpha_client, make_member):
    manager = make_member(role=Role.MANAGER)
    label = LabelFactory(name="bulk")
    _login(alpha_client, manager)
    selected = [desk["billing"].pk, desk["technical"].pk]

    def act(action, **extra):
        return alpha_client.post(QUEUE, {"action": action, "_selected_action": selected, **extra})

    act("assign_to_me")
    act("set_priority", priority=Priority.URGENT)
    act("add_label", label=label.pk)
    act("assign_to_team", team=desk["teams"][1].pk)
    act("resolve")
    for pk in selected:
        conversation = Conversation.objects.get(pk=pk)
        assert (conversation.assignee, conversation.priority, conversation.team, conversation.status) == (manager, Priority.URGENT, desk["teams"][1], "resolved")
        assert list(conversation.labels.values_list("name", flat=True)) == ["bulk"]
    assert Conversation.objects.get(pk=desk["mine"].pk).status == "open"
    missing_value = act("set_priority", priority="")
    assert missing_value.status_code == 302
    assert "Choose a priority" in alpha_client.get(QUEUE).content.decode()


# ----------------------------------------------------------------------------- every page


def test_every_desk_admin_page_renders(desk, alpha_client, make_member, open_conversation, alpha):
    owner = make_member(role=Role.OWNER)
    policy = SLAPolicyFactory()
    label = LabelFactory()
    canned = CannedResponseFactory()
    services.csat_record(conversation=desk["billing"], rating=5)
    event = ConversationEvent.objects.first()
    membership = Membership.objects.get(account=alpha, user=owner)
    _login(alpha_client, owner)
    pages = ["/admin/", "/admin/conversations/", "/admin/accounts/"]
    for model, obj in [
        ("conversation", desk["billing"]), ("inbox", desk["inbox"]), ("team", desk["teams"][0]), ("slapolicy", policy),
        ("label", label), ("cannedresponse", canned), ("contact", desk["billing"].contact),
        ("csatresponse", desk["billing"].csat), ("conversationevent", event),
    ]:
        pages += [f"/admin/conversations/{model}/", f"/admin/conversations/{model}/{obj.pk}/change/"]
    pages += [f"/admin/conversations/{m}/add/" for m in ["inbox", "team", "slapolicy", "label", "cannedresponse", "contact"]]
    pages += ["/admin/accounts/membership/", f"/admin/accounts/membership/{membership.pk}/change/", "/admin/accounts/invitation/add/"]
    pages += ["/admin/analytics/jobstatus/"]
    for path in pages:
        assert alpha_client.get(path).status_code == 200, path


def test_one_tenants_conversations_never_show_in_anothers_queue(desk, beta, beta_client, make_member):
    beta_manager = make_member(role=Role.MANAGER, account=beta)
    _login(beta_client, beta_manager)
    page = beta_client.get(QUEUE).content.decode()
    assert beta_client.get(QUEUE).status_code == 200
    assert "Refund please" not in page and f"#{desk['billing'].number}<" not in page
    assert beta_client.get(_page(desk["billing"])).status_code == 404
    with tenant_context(beta):
        assert Conversation.objects.count() == 0


def test_agent_sets_their_own_availability_from_the_header(alpha_client, make_member, alpha):
    agent = make_member(role=Role.AGENT, availability=Membership.Availability.OFFLINE)
    _login(alpha_client, agent)
    page = alpha_client.get(QUEUE).content.decode()
    assert 'id="availability-select"' in page and '<option value="offline" selected>' in page
    response = alpha_client.post("/admin/availability/", {"availability": "online", "next": QUEUE})
    assert response.status_code == 302 and response["Location"] == QUEUE
    assert Membership.objects.get(account=alpha, user=agent).availability == "online"
    bad = alpha_client.post("/admin/availability/", {"availability": "asleep", "next": "https://evil.example/"})
    assert bad["Location"] == "/admin/"
    assert Membership.objects.get(account=alpha, user=agent).availability == "online"
    assert alpha_client.get("/admin/availability/").status_code == 405
