"""A long period's median and p90 come from the days' summed duration histograms: within 1.96%
(or half a second under one second) of the exact percentile, for the whole desk and per group;
a short period's stay exact. And a page reads its figures in a bounded number of queries."""

import math
import random
from datetime import timedelta

import pytest

from accounts.models import Membership
from analytics import histograms, selectors
from analytics.models import DailyRollup, Dimension
from analytics.rollups import account_today, day_bounds, days_rollup
from conversations import services
from conversations.events import Actor
from conversations.models import Conversation
from tests.accounts.factories import PASSWORD, MembershipFactory
from tests.conftest import admin_login
from tests.conversations.factories import ContactFactory, InboxFactory, TeamFactory

Role = Membership.Role


def exact(values, fraction):
    """percentile_cont: linear interpolation between the ranks around fraction * (n - 1)."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def within_bound(approximate, true):
    return abs(approximate - true) <= max(histograms.ERROR_BOUND * true, histograms.HALF_SECOND) + 1e-9


@pytest.mark.parametrize("seed", range(5))
def test_percentiles_from_buckets_are_within_the_stated_bound(seed):
    generator = random.Random(seed)
    # From a fraction of a second to weeks: log-normal like real waits, a few instant replies.
    values = [0.0] * 5 + [generator.lognormvariate(7, 2.5) for _ in range(3000 + seed * 997)]
    histogram = {}
    for value in values:
        histogram[histograms.bucket(value)] = histogram.get(histograms.bucket(value), 0) + 1
    for fraction, approximate in zip((0.5, 0.9, 0.99, 0.0), histograms.percentiles(histogram, (0.5, 0.9, 0.99, 0.0))):
        assert within_bound(approximate, exact(values, fraction)), (fraction, approximate, exact(values, fraction))
    assert histograms.percentiles({}) == [None, None]


@pytest.fixture
def waits(tenant_in_zone, alpha):
    """Three days of conversations with first responses and resolutions of spread-out lengths,
    rolled up: every duration known to the test."""
    tenant_in_zone("Europe/Paris")
    today = account_today()
    agent = MembershipFactory(account=alpha, role=Role.AGENT).user
    team = TeamFactory(name="Returns")
    inbox = InboxFactory(auto_assign=False, default_team=team)
    generator = random.Random(11)
    first_responses, resolutions = [], []
    for back in (3, 2):
        start = day_bounds(today - timedelta(days=back))[0] + timedelta(hours=1)
        for n in range(12):
            opened = start + timedelta(minutes=7 * n)
            wait = round(generator.uniform(20, 4000), 3)
            until_resolved = wait + round(generator.uniform(60, 20000), 3)
            conversation = services.conversation_open(inbox=inbox, contact=ContactFactory(), content="Where is it?", at=opened)
            services.message_add_reply(conversation=conversation, content="On its way", author=agent, at=opened + timedelta(seconds=wait))
            services.conversation_status_set(conversation=conversation, status=Conversation.Status.RESOLVED, by=Actor.agent(agent),
                                             at=opened + timedelta(seconds=until_resolved))
            first_responses.append(wait)
            resolutions.append(until_resolved)
    days_rollup(since=today - timedelta(days=3), until=today - timedelta(days=1))
    return {"today": today, "team": team, "first_response": first_responses, "resolution": resolutions}


def test_a_rollups_histograms_hold_exactly_its_stored_durations(waits):
    for row in DailyRollup.objects.exclude(first_response_seconds=[]):
        expected = {}
        for value in row.first_response_seconds:
            expected[str(histograms.bucket(value))] = expected.get(str(histograms.bucket(value)), 0) + 1
        assert row.first_response_histogram == expected


def test_a_period_above_the_exact_limit_is_within_the_bound_for_the_desk_and_each_group(waits, monkeypatch):
    since, until = waits["today"] - timedelta(days=7), waits["today"] - timedelta(days=1)
    exact_summary = selectors.period_summary(since=since, until=until)
    exact_teams = selectors.period_groups(since=since, until=until, dimension=Dimension.TEAM)
    for field in ("first_response", "resolution"):  # the short period: exact
        assert exact_summary[f"{field}_seconds"] == {"median": pytest.approx(exact(waits[field], 0.5)), "p90": pytest.approx(exact(waits[field], 0.9))}
    monkeypatch.setattr(selectors, "EXACT_UP_TO", 0)  # as a period of more durations than that
    summary = selectors.period_summary(since=since, until=until)
    [team] = [row for row in selectors.period_groups(since=since, until=until, dimension=Dimension.TEAM) if row["key"] == str(waits["team"].pk)]
    [exact_team] = [row for row in exact_teams if row["key"] == str(waits["team"].pk)]
    for field in ("first_response", "resolution"):
        for fraction, name in ((0.5, "median"), (0.9, "p90")):
            true = exact(waits[field], fraction)
            assert within_bound(summary[f"{field}_seconds"][name], true)
            assert within_bound(team[f"{field}_{name}"], exact_team[f"{field}_{name}"])
    assert summary["conversations_opened"] == exact_summary["conversations_opened"] == 24


def test_each_page_reads_in_a_bounded_number_of_queries_whatever_the_period(waits, alpha, alpha_client, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    manager = MembershipFactory(account=alpha, role=Role.MANAGER).user
    admin_login(alpha_client, manager.email, PASSWORD)
    # Each page's most with a cold cache, today's live figures included (~23 of them: the
    # rollup's SQL for one day); then a 90-day period reads as many as a 7-day one.
    most = {"": 47, "agents/": 40, "teams/": 38, "inboxes/": 38, "categories/": 37, "ai/": 39, "csat/": 38}
    for page, bound in most.items():
        alpha_client.get(f"/admin/analytics/{page}", {"period": "7"})  # sessions, permissions cached
        with CaptureQueriesContext(connection) as week:
            alpha_client.get(f"/admin/analytics/{page}", {"period": "7"})
        with django_assert_max_num_queries(bound):
            assert alpha_client.get(f"/admin/analytics/{page}", {"period": "90"}).status_code == 200
        with CaptureQueriesContext(connection) as quarter:
            alpha_client.get(f"/admin/analytics/{page}", {"period": "90"})
        assert len(quarter) == len(week), page  # no query per day or per group
    # By month: a few reads per month (its totals, durations, AI use), never per day.
    this_month = waits["today"].replace(day=1)
    with django_assert_max_num_queries(40) as one_month:
        alpha_client.get("/admin/analytics/months/", {"period": "custom", "since": this_month.isoformat(), "until": waits["today"].isoformat()})
    with CaptureQueriesContext(connection) as four_months:
        alpha_client.get("/admin/analytics/months/", {"period": "custom", "since": (this_month - timedelta(days=80)).replace(day=1).isoformat(),
                                                      "until": waits["today"].isoformat()})
    assert len(four_months) - len(one_month) <= 3 * 5


def test_cached_period_sums_follow_a_recomputed_day_and_stay_in_their_tenant(waits, alpha, beta, monkeypatch):
    from django_tenants.utils import tenant_context

    monkeypatch.setattr(selectors, "EXACT_UP_TO", 0)  # the histogram path, whose sums are cached
    since, until = waits["today"] - timedelta(days=7), waits["today"] - timedelta(days=1)
    before = selectors.period_summary(since=since, until=until)["first_response_seconds"]
    # A late fact on a stored day: ten slow first responses, then the day is recomputed.
    day = waits["today"] - timedelta(days=2)
    agent = MembershipFactory(account=alpha, role=Role.AGENT).user
    inbox = InboxFactory(auto_assign=False)
    for n in range(30):
        opened = day_bounds(day)[0] + timedelta(hours=5, minutes=n)
        conversation = services.conversation_open(inbox=inbox, contact=ContactFactory(), content="Still waiting", at=opened)
        services.message_add_reply(conversation=conversation, content="Sorry", author=agent, at=opened + timedelta(hours=9))
    days_rollup(since=day, until=day)
    after = selectors.period_summary(since=since, until=until)["first_response_seconds"]
    assert after["median"] > before["median"] and within_bound(after["p90"], 9 * 3600)
    with tenant_context(beta):  # the same period in another account: its own (empty) figures
        assert selectors.period_summary(since=since, until=until)["first_response_seconds"] == {"median": None, "p90": None}
