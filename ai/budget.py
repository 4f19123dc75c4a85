"""The monthly budget for paid providers: what this month cost, and what follows from it.

The month is the tenant's calendar month in its own time zone (Account.timezone): a desk in
Sydney starts a new budget at its midnight, not at UTC's. Spend is the ledger's sum of costs of
paid calls (everything but `local`) since then. At 100% `ai.calls` stops paid calls and local
takes over; at 80% the people who run the account see a warning in the admin.

The check is not locked: calls running at the same moment may each pass it, so a month can
overshoot by the cost of a few calls. Intake is never refused for budget reasons; only which
provider answers changes.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib import messages
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from ai.models import AICall, AISettings, Provider

WARNING_SHARE = Decimal("0.8")


@dataclass(frozen=True)
class BudgetState:
    budget: Decimal  # 0: no limit
    spent: Decimal
    currency: str

    @property
    def share(self) -> Decimal:
        return self.spent / self.budget if self.budget > 0 else Decimal("0")

    @property
    def exhausted(self) -> bool:
        return self.budget > 0 and self.spent >= self.budget

    @property
    def warning(self) -> bool:
        return self.budget > 0 and self.share >= WARNING_SHARE


def month_start(*, at: datetime | None = None) -> datetime:
    """The first instant of the current month in the current tenant's time zone."""
    tenant = getattr(connection, "tenant", None)
    zone = zoneinfo.ZoneInfo(getattr(tenant, "timezone", None) or "UTC")
    local = (at or timezone.now()).astimezone(zone)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def budget_state(*, ai_settings: AISettings) -> BudgetState:
    spent = (
        AICall.objects.filter(created_at__gte=month_start()).exclude(provider=Provider.LOCAL).aggregate(total=Sum("cost"))["total"]
        or Decimal("0")
    )
    return BudgetState(budget=ai_settings.monthly_budget, spent=spent, currency=ai_settings.currency)


def budget_warning_show(request) -> None:
    """On admin pages: tell the people who run the account that the budget is nearly or wholly
    spent (a message on that page only)."""
    from accounts.access import user_runs_account
    from ai.settings_store import ai_settings_get

    tenant = getattr(request, "tenant", None)
    if tenant is None or not user_runs_account(request.user, account=tenant):
        return
    ai_settings = ai_settings_get()
    if ai_settings.provider == Provider.LOCAL or ai_settings.monthly_budget <= 0:
        return
    state = budget_state(ai_settings=ai_settings)
    if not state.warning:
        return
    spent = f"{state.spent:.2f} of {state.budget:.2f} {state.currency} ({state.share * 100:.0f}%)"
    if state.exhausted:
        messages.warning(request, f"AI budget used up: {spent} this month. Paid AI calls have stopped; the local provider answers until next month or a higher budget.")
    else:
        messages.warning(request, f"AI budget: {spent} spent this month. At 100% paid AI calls stop and the local provider takes over.")
