"""What each plan allows: members, inboxes and AI calls a month (one place for these numbers).

`limits_for(account)` is what every check reads; `plan_limit_check` is called by the service
that would exceed a limit (adding a member, creating an inbox) and raises `PlanLimitExceeded`,
which the API turns into a 402 in its error shape and the admin into a message. A customer's
message is never refused for a plan limit: over the AI allowance the message is stored and
routed by rules, only the AI work is skipped (ai/plan_allowance.py).

- Seats (`max_agents`) are every membership of the account, whatever its role: an owner or a
  manager takes a seat like an agent. An invitation still open holds a seat from the moment
  it is sent (so an owner cannot send more invitations than the plan can take), and the seat
  is checked again when it is accepted, under a lock on the account's row.
- Inboxes (`max_inboxes`): every inbox of the account.
- AI (`ai_calls_per_month`, `ai_budget_usd_per_month`): the AI ledger's provider calls of the
  tenant's calendar month, cache hits excepted, and their cost.

A plan moved down while the account is above its limits deletes nothing: what is there stays
and works; only new additions are refused until the account is back under the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from accounts.models import Account
from config.errors import ApplicationError


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

# resource -> (what the plan allows, what the account has, what to do about it)
RESOURCES = {
    "agents": ("{limit:,} members (open invitations included)", "has {used:,}",
               "Remove a member or revoke an open invitation, or move to a larger plan."),
    "inboxes": ("{limit:,} inboxes", "has {used:,}", "Delete an inbox, or move to a larger plan."),
    "ai_calls": ("{limit:,} AI calls a month", "has made {used:,} this month", "The AI resumes next month, or at once on a larger plan."),
    "ai_budget_usd": ("{limit:,} USD of AI cost a month", "has spent {used:,.2f} USD this month",
                      "The AI resumes next month, or at once on a larger plan."),
}


class PlanLimitExceeded(ApplicationError):
    """`resource` is "agents", "inboxes", "ai_calls" or "ai_budget_usd"; the message is shown
    to the user as is. An ApplicationError, so every door answers it the house way: the API a
    402 (config.api), a command one line, the desk a message or a form error."""

    code = "plan_limit_exceeded"

    def __init__(self, resource: str, limit: int | Decimal, message: str):
        super().__init__(message, code=self.code)
        self.resource = resource
        self.limit = limit


def limits_for(account: Account) -> PlanLimits:
    return PLAN_LIMITS[account.plan]


def plan_limit_message(*, account: Account, resource: str, limit: int | Decimal, used: int | Decimal) -> str:
    allows, has, remedy = RESOURCES[resource]
    return f"The {account.get_plan_display()} plan allows {allows.format(limit=limit)}; this account {has.format(used=used)}. {remedy}"


def plan_limit_check(*, account: Account, resource: str, used: int | Decimal) -> None:
    """Refuse one more of `resource` when `used` (the count before the addition) has reached
    the plan's limit. Call it under the lock that makes `used` true until the write commits
    (`account_lock`)."""
    limit = _limit(limits_for(account), resource)
    if limit is not None and used >= limit:
        raise PlanLimitExceeded(resource, limit, plan_limit_message(account=account, resource=resource, limit=limit, used=used))


def _limit(limits: PlanLimits, resource: str) -> int | Decimal | None:
    return {
        "agents": limits.max_agents,
        "inboxes": limits.max_inboxes,
        "ai_calls": limits.ai_calls_per_month,
        "ai_budget_usd": limits.ai_budget_usd_per_month,
    }[resource]


def account_current() -> Account:
    """The account whose schema the connection is on: a request's or a task's tenant, or,
    under django-tenants' `schema_context` (which knows only the schema), looked up by it."""
    from django.db import connection

    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Account):
        return tenant
    return Account.objects.get(schema_name=connection.schema_name)


def account_lock(*, account: Account) -> Account:
    """Lock the account's row until the transaction ends: two additions checked at the same
    moment (two invitations accepted at once) then see each other's count, one after the
    other. Call inside `transaction.atomic`, before anything else is locked (the account
    first, then invitations: one order everywhere, so no deadlock)."""
    locked = Account.objects.select_for_update().get(pk=account.pk)
    account.plan = locked.plan  # a plan changed meanwhile counts at once
    return locked


@dataclass(frozen=True)
class Usage:
    """One line of the usage panel: how many are used of how many the plan allows."""

    label: str
    used: int | Decimal
    limit: int | Decimal | None

    @property
    def is_full(self) -> bool:
        return self.limit is not None and self.used >= self.limit


def plan_usage(*, account: Account) -> list[Usage]:
    """The account's usage against its plan, for the people who run it. Read in the tenant's
    schema (inboxes and the AI ledger live there)."""
    from accounts.models import Membership
    from ai.plan_allowance import ai_usage_this_month  # the desk's apps build on accounts
    from conversations.models import Inbox

    limits = limits_for(account)
    ai = ai_usage_this_month()
    return [
        Usage("Members", Membership.objects.filter(account=account).count(), limits.max_agents),
        Usage("Inboxes", Inbox.objects.count(), limits.max_inboxes),
        Usage("AI calls this month", ai.calls, limits.ai_calls_per_month),
        Usage("AI cost this month (USD)", ai.cost.quantize(Decimal("0.01")), limits.ai_budget_usd_per_month),
    ]
