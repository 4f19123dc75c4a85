"""The daily rollups against answers worked out by hand, with the data made through the desk's
services (as agents and customers would make it)."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from analytics.models import DailyRollup, Dimension, ReportingDirtyDay
from analytics.rollups import day_rollup
from conversations import services
from conversations.events import Actor
from conversations.models import Conversation
from tests.accounts.factories import MembershipFactory
from tests.conversations.factories import ContactFactory, InboxFactory, TeamFactory

UTC = ZoneInfo("UTC")
WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def at(text: str, tz=UTC) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def desk_row(day: date, dimension=Dimension.ALL, key="") -> DailyRollup:
    return DailyRollup.objects.get(day=day, dimension=dimension, key=key)


def _figures(rows):
    return [{k: v for k, v in row.__dict__.items() if k not in {"_state", "id", "computed_at"}} for row in rows]


@pytest.fixture
def agent(alpha):
    return MembershipFactory(account=alpha, role="agent").user


def test_first_response_in_business_hours_is_not_reset_by_a_reopen(tenant_in_zone, agent):
    tenant_in_zone("UTC")
    team = TeamFactory()
    inbox = InboxFactory(auto_assign=False, business_hours=WEEKDAYS_9_TO_5, timezone="UTC", default_team=team)
    # Monday 16:00: one business hour left that day.
    conversation = services.conversation_open(inbox=inbox, contact=ContactFactory(), content="Where is my parcel?", at=at("2026-03-02T16:00"))
    services.message_add_reply(conversation=conversation, content="On its way", author=agent, at=at("2026-03-03T09:30"))
    services.conversation_status_set(conversation=conversation, status=Conversation.Status.RESOLVED, by=Actor.agent(agent), at=at("2026-03-03T10:00"))
    # The customer writes again: a reopen, answered 20 minutes later (a reply time, not a first response).
    services.message_add_incoming(conversation=conversation, content="It has not arrived", at=at("2026-03-03T11:00"))
    services.message_add_incoming(conversation=conversation, content="Hello?", at=at("2026-03-03T11:10"))
    services.message_add_reply(conversation=conversation, content="Sorry, sending another", author=agent, at=at("2026-03-03T11:20"))
    services.conversation_status_set(conversation=conversation, status=Conversation.Status.RESOLVED, by=Actor.agent(agent), at=at("2026-03-03T12:00"))

    for day in (date(2026, 3, 2), date(2026, 3, 3)):
        day_rollup(day=day)

    monday, tuesday = desk_row(date(2026, 3, 2)), desk_row(date(2026, 3, 3))
    assert (monday.conversations_opened, monday.messages_in, monday.first_response_seconds) == (1, 1, [])
    assert tuesday.first_response_seconds == [17.5 * 3600]
    assert tuesday.first_response_business_seconds == [3600 + 1800]  # 16-17 Monday, 9-9:30 Tuesday
    assert tuesday.reply_seconds == [20 * 60]  # from the first message of the new wait
    assert tuesday.conversations_reopened == 1
    assert tuesday.conversations_resolved == 1
    # Resolutions: the first from the opening (18 h, 2 business hours), the second from the reopen.
    assert tuesday.resolution_seconds == [3600.0, 18 * 3600]
    assert tuesday.resolution_business_seconds == [3600.0, 2 * 3600]
    assert tuesday.resolution_median == pytest.approx((3600 + 18 * 3600) / 2)
    assert (tuesday.messages_in, tuesday.messages_out, tuesday.conversations_handled) == (2, 2, 1)
    by_agent = desk_row(date(2026, 3, 3), Dimension.AGENT, str(agent.pk))
    assert (by_agent.messages_out, by_agent.first_response_seconds, by_agent.conversations_resolved) == (2, [63000.0], 1)
    assert desk_row(date(2026, 3, 3), Dimension.TEAM, str(team.pk)).reply_seconds == [1200.0]


def test_a_conversation_opened_at_half_past_eleven_counts_on_its_local_day(tenant_in_zone, agent):
    new_york = ZoneInfo("America/New_York")
    tenant_in_zone("America/New_York")
    inbox = InboxFactory(auto_assign=False)
    conversation = services.conversation_open(inbox=inbox, contact=ContactFactory(), content="Hi", at=at("2026-06-10T23:30", new_york))
    services.message_add_reply(conversation=conversation, content="Hello", author=agent, at=at("2026-06-11T00:15", new_york))
    for day in (date(2026, 6, 10), date(2026, 6, 11)):
        day_rollup(day=day)
    # 03:30 UTC on the 11th, but the 10th where the business is.
    assert desk_row(date(2026, 6, 10)).conversations_opened == 1
    assert desk_row(date(2026, 6, 11)).conversations_opened == 0
    assert desk_row(date(2026, 6, 11)).first_response_seconds == [45 * 60]


def test_a_daylight_saving_day_has_23_hours_and_loses_none(tenant_in_zone, agent):
    london = ZoneInfo("Europe/London")
    tenant_in_zone("Europe/London")
    inbox = InboxFactory(auto_assign=False)
    # 29 March 2026: clocks go from 01:00 to 02:00. 00:30 GMT and 23:30 BST are that day;
    # 23:30 UTC is 00:30 BST on the 30th.
    for moment in (at("2026-03-29T00:30", london), at("2026-03-29T23:30", london), at("2026-03-29T23:30")):
        services.conversation_open(inbox=inbox, contact=ContactFactory(), content="Hi", at=moment)
    for day in (date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30)):
        day_rollup(day=day)
    assert [desk_row(date(2026, 3, d)).conversations_opened for d in (28, 29, 30)] == [0, 2, 1]


def test_a_day_rolled_up_twice_gives_the_same_rows_and_clears_its_mark(tenant_in_zone, agent):
    tenant_in_zone("UTC")
    inbox = InboxFactory(auto_assign=False)
    for hour in (9, 10, 11):
        conversation = services.conversation_open(inbox=inbox, contact=ContactFactory(), content="Hi", at=at(f"2026-05-05T{hour:02}:00"))
        services.message_add_reply(conversation=conversation, content="Hello", author=agent, at=at(f"2026-05-05T{hour:02}:{hour:02}"))
    ReportingDirtyDay.objects.create(day=date(2026, 5, 5), marked_at=at("2026-05-05T12:00"))
    day_rollup(day=date(2026, 5, 5))
    first = _figures(DailyRollup.objects.filter(day=date(2026, 5, 5)).order_by("dimension", "key"))
    day_rollup(day=date(2026, 5, 5))
    again = _figures(DailyRollup.objects.filter(day=date(2026, 5, 5)).order_by("dimension", "key"))
    assert first == again and len(first) > 1
    assert desk_row(date(2026, 5, 5)).first_response_seconds == [540.0, 600.0, 660.0]
    assert desk_row(date(2026, 5, 5)).first_response_median == 600.0
    assert not ReportingDirtyDay.objects.filter(day=date(2026, 5, 5)).exists()
