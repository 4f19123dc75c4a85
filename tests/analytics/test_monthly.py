"""Monthly figures are derived from the daily rows (nothing monthly is stored): a month's totals
are the sums of its days, and its medians/p90s come from the same daily histograms (or exact
values) as any period's."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from accounts.models import Membership
from accounts.services import api_token_create
from analytics import histograms, selectors
from analytics.models import DailyRollup, Dimension
from analytics.rollups import days_rollup
from conversations import services
from conversations.events import Actor
from conversations.models import Conversation
from tests.accounts.factories import PASSWORD, MembershipFactory
from tests.conftest import admin_login
from tests.conversations.factories import ContactFactory, InboxFactory

PARIS = ZoneInfo("Europe/Paris")
DAYS = [date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)]
SINCE, UNTIL = date(2026, 10, 15), date(2026, 11, 20)


@pytest.fixture
def two_months(tenant_in_zone, alpha):
    """Conversations on two days of October and two of November, with known waits."""
    tenant_in_zone("Europe/Paris")
    agent = MembershipFactory(account=alpha, role=Membership.Role.AGENT).user
    inbox = InboxFactory(auto_assign=False)
    waits = {"2026-10": [], "2026-11": []}
    for n, day in enumerate(DAYS):
        for k in range(3 + n):
            opened = datetime(day.year, day.month, day.day, 9, 7 * k, tzinfo=PARIS)
            wait = 60 * (k + 1) * (n + 1) + 7
            conversation = services.conversation_open(inbox=inbox, contact=ContactFactory(), content="Hello", at=opened)
            services.message_add_reply(conversation=conversation, content="Hi", author=agent, at=opened + timedelta(seconds=wait))
            if k % 2 == 0:
                services.conversation_status_set(conversation=conversation, status=Conversation.Status.RESOLVED, by=Actor.agent(agent),
                                                 at=opened + timedelta(hours=2))
                services.csat_record(conversation=conversation, rating=1 + (k + n) % 5, at=opened + timedelta(hours=3))
            waits[day.strftime("%Y-%m")].append(float(wait))
    days_rollup(since=DAYS[0], until=DAYS[-1])
    return waits


def _token(alpha):
    manager = MembershipFactory(account=alpha, role=Membership.Role.MANAGER).user
    return api_token_create(user=manager, account=alpha, name="bi")[1]


def test_monthly_totals_are_the_sums_of_the_daily_rows(two_months, alpha, alpha_client):
    auth = {"HTTP_AUTHORIZATION": f"Token {_token(alpha)}"}
    period = {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    months = alpha_client.get("/api/v1/reports/monthly", period, **auth)
    assert months.status_code == 200, months.content
    daily = alpha_client.get("/api/v1/reports/daily", period, **auth).json()
    rows = months.json()
    assert [(row["month"], row["since"], row["until"]) for row in rows] == [
        ("2026-10", "2026-10-15", "2026-10-31"), ("2026-11", "2026-11-01", "2026-11-20")]
    for row in rows:
        days = [day for day in daily if row["since"] <= day["day"] <= row["until"]]
        for field in ("conversations_opened", "conversations_resolved", "conversations_reopened", "messages_in", "messages_out"):
            assert row[field] == sum(day[field] for day in days), (row["month"], field)
        assert row["csat"]["responses"] == sum(day["csat_responses"] for day in days)
        assert row["conversations_opened"] == {"2026-10": 3 + 4, "2026-11": 5 + 6}[row["month"]]
        # A short month is exact: the median and p90 of exactly its first responses.
        waits = sorted(two_months[row["month"]])
        assert row["first_response_seconds"]["median"] == pytest.approx(_exact(waits, 0.5))
        assert row["first_response_seconds"]["p90"] == pytest.approx(_exact(waits, 0.9))
    assert alpha_client.get("/api/v1/reports/monthly", {"since": "2026-01-01", "until": "2027-06-01"}, **auth).status_code == 400


def test_monthly_percentiles_come_from_the_daily_histograms_as_the_period_figures(two_months, monkeypatch):
    monkeypatch.setattr(selectors, "EXACT_UP_TO", 0)  # as months of more durations than that
    for row in selectors.period_monthly(since=SINCE, until=UNTIL):
        summed = {}
        for stored in DailyRollup.objects.filter(day__gte=row["since"], day__lte=row["until"], dimension=Dimension.ALL):
            histograms.merge(summed, stored.first_response_histogram)
        assert [row["first_response_seconds"]["median"], row["first_response_seconds"]["p90"]] == histograms.percentiles(summed)
        period = selectors.period_summary(since=row["since"], until=row["until"])
        assert row["first_response_seconds"] == period["first_response_seconds"]
        assert row["resolution_seconds"] == period["resolution_seconds"]


def test_the_monthly_page_links_each_month_to_its_conversations(two_months, alpha, alpha_client):
    manager = MembershipFactory(account=alpha, role=Membership.Role.MANAGER).user
    admin_login(alpha_client, manager.email, PASSWORD)
    page = alpha_client.get("/admin/analytics/months/", {"period": "custom", "since": SINCE.isoformat(), "until": UNTIL.isoformat()})
    assert page.status_code == 200
    html = page.content.decode()
    link = "/admin/conversations/conversation/?created_day=2026-11-01..2026-11-20"
    assert f'<td><a href="{link}">11</a></td>' in html  # November's opened, linked
    assert len(alpha_client.get(link).context["cl"].result_list) == 11


def _exact(ordered, fraction):
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def test_monthly_is_for_this_accounts_managers_and_in_the_schema(two_months, alpha, beta, alpha_client, beta_client):
    from django_tenants.utils import tenant_context

    period = {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    agent = MembershipFactory(account=alpha, role=Membership.Role.AGENT).user
    agent_key = api_token_create(user=agent, account=alpha, name="bi")[1]
    assert alpha_client.get("/api/v1/reports/monthly", period, HTTP_AUTHORIZATION=f"Token {agent_key}").status_code == 403
    with tenant_context(beta):
        beta_key = _token(beta)
        own = beta_client.get("/api/v1/reports/monthly", period, HTTP_AUTHORIZATION=f"Token {beta_key}").json()
        assert [row["conversations_opened"] for row in own] == [0, 0]  # beta's months know nothing of alpha's
    assert alpha_client.get("/api/v1/reports/monthly", period, HTTP_AUTHORIZATION=f"Token {beta_key}").status_code == 401
    schema = alpha_client.get("/api/schema/", {"format": "json"}).json()
    assert "MonthlyRowOutput" in str(schema["paths"]["/api/v1/reports/monthly"]["get"]["responses"]["200"])
    assert {"month", "since", "until", "conversations_opened", "first_response_seconds"} <= set(schema["components"]["schemas"]["MonthlyRowOutput"]["properties"])
