"""The desk's services: timestamps, assignment, status, SLA, CSAT and the timeline."""

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.utils import timezone

from accounts.models import Membership
from config.errors import ApplicationError
from conversations import services
from conversations.events import Actor
from conversations.models import Conversation, ConversationEvent, Message, Priority, SLATarget, Team
from tests.conversations.factories import ContactFactory, InboxFactory, SLAPolicyFactory, TeamFactory, TeamMemberFactory

pytestmark = pytest.mark.usefixtures("in_alpha")
Status = Conversation.Status


def _events(conversation):
    return list(ConversationEvent.objects.filter(conversation=conversation).values_list("action", "field", "old_value", "new_value"))


# ----------------------------------------------------------------------------- opening and messages


def test_opening_numbers_conversations_per_tenant_and_starts_the_wait(open_conversation):
    first = open_conversation()
    second = open_conversation(content="Another question")
    assert second.number == first.number + 1
    first.refresh_from_db()
    assert first.status == Status.OPEN
    assert first.waiting_since is not None and first.first_response_at is None
    assert first.subject == "Help, my order is late"
    assert [(m.direction, m.sender_type) for m in first.messages.all()] == [("incoming", "contact")]
    assert _events(first)[0][0] == "opened"


def test_blocked_contact_and_empty_message_are_refused(open_conversation):
    with pytest.raises(ApplicationError, match="blocked"):
        open_conversation(contact=ContactFactory(blocked=True))
    with pytest.raises(ApplicationError, match="needs content"):
        open_conversation(content="   ")
    assert Conversation.objects.count() == 0


def test_first_response_is_the_first_agent_reply_not_a_note(open_conversation, make_member):
    agent = make_member()
    conversation = open_conversation()
    services.message_add_note(conversation=conversation, content="checking the order system", author=agent)
    conversation.refresh_from_db()
    assert conversation.first_response_at is None and conversation.waiting_since is not None

    reply = services.message_add_reply(conversation=conversation, content="It ships today!", author=agent)
    conversation.refresh_from_db()
    assert conversation.first_response_at == reply.created_at
    assert conversation.waiting_since is None
    assert conversation.assignee == agent  # answering an unassigned conversation takes it

    services.message_add_reply(conversation=conversation, content="Tracking: ABC123", author=agent)
    conversation.refresh_from_db()
    assert conversation.first_response_at == reply.created_at


def test_an_ai_reply_counts_as_first_response(open_conversation):
    conversation = open_conversation()
    reply = services.message_add_reply(conversation=conversation, content="Here is our returns policy.", by_ai=True)
    conversation.refresh_from_db()
    assert (reply.sender_type, conversation.first_response_at) == (Message.SenderType.AI, reply.created_at)


def test_reopen_starts_a_new_wait_but_keeps_the_first_response(open_conversation, make_member):
    agent = make_member()
    start = timezone.now() - timedelta(hours=5)
    conversation = open_conversation(at=start)
    first_reply = services.message_add_reply(conversation=conversation, content="Fixed.", author=agent, at=start + timedelta(minutes=10))
    services.conversation_status_set(conversation=conversation, status=Status.RESOLVED, by=Actor.agent(agent), at=start + timedelta(minutes=20))
    conversation.refresh_from_db()
    assert (conversation.status, conversation.resolved_by, conversation.waiting_since) == (Status.RESOLVED, "agent", None)

    came_back = start + timedelta(hours=2)
    message, created = services.message_add_incoming(conversation=conversation, content="It broke again", at=came_back)
    conversation.refresh_from_db()
    assert created
    assert conversation.status == Status.OPEN
    assert conversation.waiting_since == came_back
    assert conversation.resolved_at is None and conversation.resolved_by == ""
    assert conversation.first_response_at == first_reply.created_at
    assert ("status_changed", "status", "resolved", "open") in _events(conversation)


def test_incoming_message_with_the_same_idempotency_key_is_stored_once(open_conversation):
    conversation = open_conversation()
    first, created = services.message_add_incoming(conversation=conversation, content="hello?", idempotency_key="k-1")
    again, created_again = services.message_add_incoming(conversation=conversation, content="hello?", idempotency_key="k-1")
    assert created and not created_again and first.pk == again.pk
    assert conversation.messages.filter(idempotency_key="k-1").count() == 1


# ----------------------------------------------------------------------------- assignment


def _team(members, strategy, **kwargs):
    team = TeamFactory(strategy=strategy, **kwargs)
    for user in members:
        TeamMemberFactory(team=team, user=user)
    return team


def test_round_robin_takes_turns_and_skips_offline_and_busy_agents(open_conversation, make_member):
    ann, bob, cat = make_member(), make_member(), make_member()
    offline = make_member(availability=Membership.Availability.OFFLINE)
    busy = make_member(availability=Membership.Availability.BUSY)
    team = _team(sorted([ann, bob, cat, offline, busy], key=lambda u: u.pk), Team.Strategy.ROUND_ROBIN)
    inbox = InboxFactory(default_team=team, auto_assign=True)

    assignees = [open_conversation(inbox=inbox).assignee for _ in range(4)]
    expected = sorted([ann, bob, cat], key=lambda u: u.pk)
    assert assignees == [*expected, expected[0]]


def test_auto_assignment_skips_agents_at_their_max_concurrent(open_conversation, make_member):
    full = make_member(max_concurrent_conversations=1)
    free = make_member(max_concurrent_conversations=5)
    team = _team([full, free], Team.Strategy.ROUND_ROBIN)
    inbox = InboxFactory(default_team=team, auto_assign=True)
    services.conversation_assign(conversation=open_conversation(inbox=InboxFactory(auto_assign=False)), assignee=full, by=Actor.system())

    assert {open_conversation(inbox=inbox).assignee for _ in range(3)} == {free}


def test_least_loaded_picks_the_agent_with_fewest_open_conversations(open_conversation, make_member):
    busy_agent, idle_agent = make_member(), make_member()
    other_inbox = InboxFactory(auto_assign=False)
    for _ in range(2):
        services.conversation_assign(conversation=open_conversation(inbox=other_inbox), assignee=busy_agent, by=Actor.system())
    resolved = open_conversation(inbox=other_inbox)
    services.conversation_assign(conversation=resolved, assignee=idle_agent, by=Actor.system())
    services.conversation_status_set(conversation=resolved, status=Status.RESOLVED, by=Actor.system())  # does not count

    team = _team([busy_agent, idle_agent], Team.Strategy.LEAST_LOADED)
    inbox = InboxFactory(default_team=team, auto_assign=True)
    assert open_conversation(inbox=inbox).assignee == idle_agent
    assert open_conversation(inbox=inbox).assignee == idle_agent  # 1 vs 2
    assert open_conversation(inbox=inbox).assignee in {busy_agent, idle_agent}


def test_nobody_available_leaves_the_conversation_unassigned_in_its_team(open_conversation, make_member):
    team = _team([make_member(availability=Membership.Availability.OFFLINE)], Team.Strategy.ROUND_ROBIN)
    conversation = open_conversation(inbox=InboxFactory(default_team=team, auto_assign=True))
    assert conversation.assignee is None and conversation.team == team


def test_assigning_a_non_member_is_refused(open_conversation, make_member, beta):
    outsider = make_member(account=beta)
    conversation = open_conversation()
    with pytest.raises(ApplicationError, match="not a member"):
        services.conversation_assign(conversation=conversation, assignee=outsider, by=Actor.system())


def test_assignment_and_priority_changes_are_in_the_timeline(open_conversation, make_member):
    agent = make_member(user__full_name="Ann Agent")
    conversation = open_conversation()
    services.conversation_assign(conversation=conversation, assignee=agent, by=Actor.system())
    services.conversation_priority_set(conversation=conversation, priority=Priority.URGENT, by=Actor.agent(agent))
    event = ConversationEvent.objects.get(conversation=conversation, action="priority_changed")
    assert (event.actor_type, event.actor_id, event.old_value, event.new_value) == ("agent", agent.pk, "None", "Urgent")
    assert ("assigned", "assignee", "", "Ann Agent") in _events(conversation)


# ----------------------------------------------------------------------------- status and snooze


def test_snooze_needs_a_future_time_and_beat_wakes_it(open_conversation, make_member):
    agent = make_member()
    conversation = open_conversation()
    with pytest.raises(ApplicationError, match="future"):
        services.conversation_status_set(conversation=conversation, status=Status.SNOOZED, by=Actor.agent(agent), snoozed_until=timezone.now() - timedelta(minutes=1))

    now = timezone.now()
    services.conversation_status_set(conversation=conversation, status=Status.SNOOZED, by=Actor.agent(agent), snoozed_until=now + timedelta(hours=1))
    assert services.conversations_wake_snoozed(at=now + timedelta(minutes=30)) == 0
    assert services.conversations_wake_snoozed(at=now + timedelta(hours=2)) == 1
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == (Status.OPEN, None)
    assert ConversationEvent.objects.filter(conversation=conversation, action="status_changed", actor_type="system", new_value="open").exists()


def test_unknown_status_is_refused(open_conversation):
    with pytest.raises(ApplicationError, match="status 'closed'"):
        services.conversation_status_set(conversation=open_conversation(), status="closed", by=Actor.system())


# ----------------------------------------------------------------------------- SLA


def _policy(business_hours_only, first=60, resolution=240, priority=Priority.HIGH):
    policy = SLAPolicyFactory(business_hours_only=business_hours_only)
    SLATarget.objects.create(policy=policy, priority=priority, first_response_minutes=first, resolution_minutes=resolution)
    return policy


def test_sla_due_times_count_business_hours_only(open_conversation):
    inbox = InboxFactory(auto_assign=False, timezone="Europe/London", sla_policy=_policy(True),
                         business_hours={d: [["09:00", "17:00"]] for d in ["mon", "tue", "wed", "thu", "fri"]})
    friday_afternoon = datetime(2026, 11, 20, 16, 30, tzinfo=dt_timezone.utc)  # London is UTC in November
    conversation = open_conversation(inbox=inbox, priority=Priority.HIGH, at=friday_afternoon)
    assert conversation.first_response_due_at == datetime(2026, 11, 23, 9, 30, tzinfo=dt_timezone.utc)  # Monday
    assert conversation.resolution_due_at == datetime(2026, 11, 23, 12, 30, tzinfo=dt_timezone.utc)


def test_sla_without_business_hours_and_priority_change_moves_due_times(open_conversation):
    inbox = InboxFactory(auto_assign=False, sla_policy=_policy(False, first=30, resolution=120, priority=Priority.URGENT))
    start = timezone.now() - timedelta(minutes=5)
    conversation = open_conversation(inbox=inbox, at=start)
    assert conversation.first_response_due_at is None  # no target for priority None
    services.conversation_priority_set(conversation=conversation, priority=Priority.URGENT, by=Actor.system())
    conversation.refresh_from_db()
    assert conversation.first_response_due_at == start + timedelta(minutes=30)
    assert conversation.resolution_due_at == start + timedelta(minutes=120)


def test_late_reply_and_overdue_conversations_are_marked_breached(open_conversation, make_member):
    inbox = InboxFactory(auto_assign=False, sla_policy=_policy(False, first=15, resolution=60))
    long_ago = timezone.now() - timedelta(hours=3)
    answered_late = open_conversation(inbox=inbox, priority=Priority.HIGH, at=long_ago)
    services.message_add_reply(conversation=answered_late, content="Sorry for the wait", author=make_member(), at=long_ago + timedelta(minutes=40))
    unanswered = open_conversation(inbox=inbox, priority=Priority.HIGH, at=long_ago)
    on_time = open_conversation(inbox=inbox, priority=Priority.HIGH)

    answered_late.refresh_from_db()
    assert answered_late.first_response_breached is True
    assert services.sla_breaches_mark() == 3  # unanswered: first response + resolution; answered_late: resolution
    unanswered.refresh_from_db()
    on_time.refresh_from_db()
    assert unanswered.first_response_breached and unanswered.resolution_breached
    assert not on_time.sla_breached
    assert ConversationEvent.objects.filter(conversation=unanswered, action="sla_breached").count() == 2
    assert services.sla_breaches_mark() == 0  # flagged once


# ----------------------------------------------------------------------------- CSAT


def test_csat_is_recorded_once_with_a_rating_of_one_to_five(open_conversation):
    conversation = open_conversation()
    with pytest.raises(ApplicationError, match="1 to 5"):
        services.csat_record(conversation=conversation, rating=6)
    response = services.csat_record(conversation=conversation, rating=4, comment=" quick ")
    assert (response.rating, response.comment) == (4, "quick")
    with pytest.raises(ApplicationError, match="already been rated"):
        services.csat_record(conversation=conversation, rating=5)
    assert ("csat_recorded", "csat", "", "4") in _events(conversation)
