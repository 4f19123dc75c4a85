"""This month's AI cost and calls against the plan's allowance (accounts.plans.limits_for), on
the AI page and the overview's tile: the account's calendar month, today's calls live."""

from datetime import timedelta
from decimal import Decimal

from django_tenants.utils import tenant_context

from accounts.models import Account, Membership
from ai.models import AICall
from analytics import selectors
from analytics.rollups import account_today, day_bounds, day_rollup
from tests.accounts.factories import PASSWORD, MembershipFactory
from tests.conftest import admin_login


def _call(at, cost):
    AICall.objects.create(operation="generate", provider="openai", model="gpt-x", input_tokens=10, output_tokens=5,
                          cost=Decimal(cost), latency_ms=12, status="ok", created_at=at)


def test_this_months_ai_use_against_the_plans_allowance(tenant_in_zone, alpha, alpha_client):
    tenant_in_zone("Pacific/Auckland")
    alpha.plan = Account.Plan.TRIAL  # 5 USD and 1,000 calls a month
    alpha.save(update_fields=["plan"])
    today = account_today()
    first = today.replace(day=1)
    _call(day_bounds(first)[0] - timedelta(minutes=5), "4.00")  # the evening before: last month
    _call(day_bounds(first)[0] + timedelta(minutes=5), "1.00")  # the first minutes of this month
    day_rollup(day=first - timedelta(days=1))
    if first < today:
        day_rollup(day=first)
    _call(day_bounds(today)[0] + timedelta(seconds=1), "1.50")  # today, live
    allowance = selectors.ai_month_allowance()
    assert (allowance["calls"], allowance["calls_allowed"], allowance["calls_share"]) == (2, 1000, 0.002)
    assert (allowance["cost"], allowance["budget_usd"], allowance["budget_share"]) == ("2.500000", "5", 0.5)

    manager = MembershipFactory(account=alpha, role=Membership.Role.MANAGER).user
    admin_login(alpha_client, manager.email, PASSWORD)
    month = today.strftime("%Y-%m")
    overview = alpha_client.get("/admin/analytics/").content.decode()
    assert f"AI budget used, {month}" in overview and '<a class="value" href="/admin/analytics/ai/">50.0%</a>' in overview and "2.50 of 5.00 USD, 2 of 1000 calls" in overview
    ai_page = alpha_client.get("/admin/analytics/ai/").content.decode()
    allowance_table = ai_page.split('data-table="ai-allowance"')[1].split("</table>")[0]
    assert "<td>AI cost (USD)</td><td>2.50</td><td>5.00</td><td>50.0</td>" in allowance_table
    assert "<td>AI provider calls</td><td>2</td><td>1000</td><td>0.2</td>" in allowance_table

    alpha.plan = Account.Plan.ENTERPRISE  # no limits
    alpha.save(update_fields=["plan"])
    with tenant_context(alpha):
        unlimited = selectors.ai_month_allowance()
    assert (unlimited["calls_allowed"], unlimited["calls_share"], unlimited["budget_usd"], unlimited["budget_share"]) == (None, None, None, None)


def test_the_analytics_tile_and_the_plans_allowance_count_the_same_calls_and_cost(tenant_in_zone, alpha):
    """One rule (ai.plan_allowance): provider calls (classify, embed, generate; failed ones too,
    they may be billed), never cache hits (no work done) nor the AI's own acts (auto-reply,
    handoff). The tile people read and the counter that pauses the AI must say the same."""
    from accounts.plans import plan_usage
    from ai.plan_allowance import ai_usage_this_month

    tenant_in_zone("Europe/Paris")
    now = day_bounds(account_today())[0] + timedelta(seconds=1)
    _call(now, "1.25")
    _call(now, "0.25")
    AICall.objects.create(operation="classify", provider="local", model="e5", latency_ms=3, status="error", created_at=now)
    AICall.objects.create(operation="generate", provider="openai", model="gpt-x", latency_ms=1, status="ok", cache_hit=True,
                          cost_saved=Decimal("1.25"), created_at=now)
    AICall.objects.create(operation="auto_reply", provider="local", model="", latency_ms=5, status="ok", created_at=now)

    tile = selectors.ai_month_allowance()
    plan = ai_usage_this_month()
    assert (tile["calls"], Decimal(tile["cost"])) == (plan.calls, plan.cost) == (3, Decimal("1.50"))
    desk = {usage.label: usage.used for usage in plan_usage(account=alpha)}
    assert (desk["AI calls this month"], desk["AI cost this month (USD)"]) == (3, Decimal("1.50"))
