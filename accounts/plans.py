"""What each plan allows: agents, inboxes and AI calls a month (one place for these numbers).

`limits_for(account)` is what every check reads; `plan_limit_check` is called by the service
that would exceed a limit (adding a member, creating an inbox, making an AI call) and raises
`PlanLimitExceeded`, which the API turns into a 402 in its error shape and the admin into a
message. A customer's message is never refused for a plan limit: over the AI allowance the
message is stored and routed by rules, only the AI work is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from accounts.models import Account


@dataclass(frozen=True)
class PlanLimits:
    max_agents: int | None  # members of any role; None: no limit
    max_inboxes: int | None
    ai_calls_per_month: int | None
    ai_budget_usd_per_month: Decimal | None


PLAN_LIMITS: dict[str, PlanLimits] = {
    Account.Plan.TRIAL: PlanLimits(max_agents=3, max_inboxes=2, ai_calls_per_month=1_000, ai_budget_usd_per_month=Decimal("5")),
    Account.Plan.STARTER: PlanLimits(max_agents=10, max_inboxes=5, ai_calls_per_month=20_000, ai_budget_usd_per_month=Decimal("50")),
    Account.Plan.GROWTH: PlanLimits(max_agents=50, max_inboxes=25, ai_calls_per_month=200_000, ai_budget_usd_per_month=Decimal("500")),
    Account.Plan.ENTERPRISE: PlanLimits(max_agents=None, max_inboxes=None, ai_calls_per_month=None, ai_budget_usd_per_month=None),
}


class PlanLimitExceeded(Exception):
    """`resource` is "agents", "inboxes" or "ai_calls"; the message is shown to the user as is."""

    code = "plan_limit_exceeded"

    def __init__(self, resource: str, limit: int, message: str):
        super().__init__(message)
        self.resource = resource
        self.limit = limit
        self.message = message


def limits_for(account: Account) -> PlanLimits:
    return PLAN_LIMITS[account.plan]
