"""Agents' time online: each availability change is recorded in the account's schema through
the service (the desk's header, the members' admin), and each day's seconds online and busy per
agent (local days, an interval over midnight split at midnight) reach the agents page and CSV."""

import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django_tenants.utils import tenant_context

from accounts.models import Membership
from accounts.services import membership_availability_set
from analytics import selectors
from analytics.models import AvailabilityChange, PresenceDaily
from analytics.rollups import account_today, day_bounds, days_rollup
from tests.accounts.factories import PASSWORD, MembershipFactory
from tests.conftest import admin_login

Availability = Membership.Availability
PARIS = ZoneInfo("Europe/Paris")


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


@pytest.fixture
def shifts(tenant_in_zone, alpha):
    """One agent's availability over two days, set through the service at known times."""
    tenant_in_zone("Europe/Paris")
    day = account_today() - timedelta(days=4)
    following = day + timedelta(days=1)
    membership = Membership.objects.get(pk=MembershipFactory(account=alpha, role=Membership.Role.AGENT).pk)
    for moment, availability in (
        (local(day, 8), Availability.ONLINE),
        (local(day, 12), Availability.BUSY),
        (local(day, 13), Availability.ONLINE),  # online through midnight ...
        (local(following, 1, 15), Availability.OFFLINE),  # ... until 01:15 the next day
        (local(following, 9), Availability.ONLINE),
        (local(following, 10), Availability.ONLINE),  # no change: not a new interval
        (local(following, 11), Availability.OFFLINE),
    ):
        membership_availability_set(membership=membership, availability=availability, at=moment)
    return {"day": day, "following": following, "agent": membership.user, "membership": membership}


def _presence(user):
    return {row.day: (row.online_seconds, row.busy_seconds) for row in PresenceDaily.objects.filter(user=user)}


def test_time_online_per_local_day_with_an_interval_over_midnight(shifts):
    day, following, agent = shifts["day"], shifts["following"], shifts["agent"]
    assert AvailabilityChange.objects.filter(user=agent).count() == 6  # the repeated "online" is not a change
    days_rollup(since=day, until=following)
    # Day one: 08-12 and 13-24 online, 12-13 busy; day two: 00:00-01:15 and 09-11 online.
    expected = {day: (15 * 3600, 3600), following: (3600 + 15 * 60 + 2 * 3600, 0)}
    assert _presence(agent) == expected
    # Each day rolled up alone gives the same rows, and rolling up again replaces them.
    days_rollup(since=day, until=day)
    days_rollup(since=following, until=following)
    assert _presence(agent) == expected
    period = selectors.period_presence(since=day, until=following)
    assert period[str(agent.pk)] == {"online_seconds": 18 * 3600 + 15 * 60, "busy_seconds": 3600}


def test_a_dst_day_counts_its_25_hours(tenant_in_zone, alpha):
    tenant_in_zone("Europe/Paris")
    membership = Membership.objects.get(pk=MembershipFactory(account=alpha, role=Membership.Role.AGENT).pk)
    autumn = date(2026, 10, 25)  # clocks go back at 03:00: a 25-hour day
    membership_availability_set(membership=membership, availability=Availability.ONLINE, at=local(autumn - timedelta(days=1), 23))
    membership_availability_set(membership=membership, availability=Availability.OFFLINE, at=local(autumn + timedelta(days=1), 2))
    days_rollup(since=autumn - timedelta(days=1), until=autumn + timedelta(days=1))
    assert _presence(membership.user) == {autumn - timedelta(days=1): (3600, 0), autumn: (25 * 3600, 0), autumn + timedelta(days=1): (7200, 0)}


def test_today_counts_live_until_now(tenant_in_zone, alpha):
    tenant_in_zone("Europe/Paris")
    today = account_today()
    membership = Membership.objects.get(pk=MembershipFactory(account=alpha, role=Membership.Role.AGENT).pk)
    went_online = max(day_bounds(today)[0], datetime.now(PARIS) - timedelta(minutes=30))
    membership_availability_set(membership=membership, availability=Availability.ONLINE, at=went_online)
    online = selectors.period_presence(since=today, until=today)[str(membership.user_id)]["online_seconds"]
    assert (datetime.now(PARIS) - went_online).total_seconds() - 60 < online <= (datetime.now(PARIS) - went_online).total_seconds()
    assert not PresenceDaily.objects.exists()  # today is never stored


def test_the_agents_page_and_csv_show_hours_online(shifts, alpha, alpha_client):
    days_rollup(since=shifts["day"], until=shifts["following"])
    manager = MembershipFactory(account=alpha, role=Membership.Role.MANAGER).user
    admin_login(alpha_client, manager.email, PASSWORD)
    page = alpha_client.get("/admin/analytics/agents/", {"period": "7"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Time online (hours)" in html and "Online (h)" in html
    rows = list(csv.reader(io.StringIO(alpha_client.get("/admin/analytics/agents/", {"period": "7", "csv": "agent"}).content.decode())))
    assert rows[0][-2:] == ["Online (h)", "Busy (h)"]
    name = shifts["agent"].full_name or shifts["agent"].email
    # The agent had no conversation in the period, and is listed for their time online.
    [row] = [row for row in rows[1:] if row[0] == name]
    assert row[1] == "0" and row[-2:] == ["18.2", "1.0"]  # 18 h 15 min online, 1 h busy
    online = list(csv.reader(io.StringIO(alpha_client.get("/admin/analytics/agents/", {"period": "7", "csv": "agents-online"}).content.decode())))
    assert online[1:] == [[name, "18.2", "1.0"]]


def test_changes_from_the_desk_header_and_the_members_admin_are_recorded_in_their_account(db, alpha, beta, alpha_client):
    agent = MembershipFactory(account=alpha, role=Membership.Role.AGENT).user
    owner = MembershipFactory(account=alpha, role=Membership.Role.OWNER).user
    admin_login(alpha_client, agent.email, PASSWORD)
    assert alpha_client.post("/admin/availability/", {"availability": "online", "next": "/admin/"}).status_code == 302
    alpha_client.logout()
    admin_login(alpha_client, owner.email, PASSWORD)
    membership = Membership.objects.get(user=agent, account=alpha)
    changed = alpha_client.post(f"/admin/accounts/membership/{membership.pk}/change/",
                                {"role": "agent", "availability": "busy", "max_concurrent_conversations": "10"})
    assert changed.status_code == 302, changed.content[:2000]
    membership.refresh_from_db()
    assert membership.availability == "busy"
    with tenant_context(alpha):
        assert list(AvailabilityChange.objects.filter(user=agent).values_list("previous", "availability")) == [("offline", "online"), ("online", "busy")]
    with tenant_context(beta):
        assert not AvailabilityChange.objects.exists()


def test_the_demo_gets_a_month_of_shifts_and_its_agents_stay_as_they_were(tenant_in_zone, alpha):
    from analytics.demo import demo_presence_seed, demo_rollups_backfill

    tenant_in_zone("Europe/London")
    online = MembershipFactory(account=alpha, role=Membership.Role.AGENT, availability=Availability.ONLINE)
    offline = MembershipFactory(account=alpha, role=Membership.Role.AGENT, availability=Availability.OFFLINE)
    assert demo_presence_seed(days=10) == 2 and demo_presence_seed(days=10) == 0  # once
    demo_rollups_backfill(days=10)
    weekdays = [row for row in PresenceDaily.objects.filter(user=online.user) if row.day.weekday() < 5]
    assert weekdays and all(6.5 * 3600 <= row.online_seconds <= 9 * 3600 and row.busy_seconds == 45 * 60 for row in weekdays)
    assert [m.availability for m in Membership.objects.filter(pk__in=[online.pk, offline.pk]).order_by("pk")] == ["online", "offline"]
