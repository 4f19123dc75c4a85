"""The plan's monthly AI allowance (accounts/plans.py): how much AI this month used, and the
guard at the pipeline's entry that skips the AI work once it is used up.

What counts: every provider call on the AI ledger (classify, embed, generate; local or paid;
failed calls too, they may be billed), not cache hits (no work done); and the cost of those
calls, read as USD (the price table is kept in USD on plans with an AI allowance). The month
is the tenant's calendar month in its own time zone (ai.budget.month_start).

The count is kept per tenant and month in Redis, through the Django cache (its key function
starts every key with the tenant's schema, so two tenants with the same key names never share
a counter): `_ledger_write` adds each counted call (`ai_usage_record`); a missing counter (the
first call of the month, or Redis emptied) is rebuilt from the ledger, one indexed COUNT/SUM.
The check is then two Redis reads per message.

How far it can be off (the bound):
- Calls in flight while the counter is rebuilt may be counted twice or not at all: at most
  the number of AI calls running at that moment, once a month.
- The check is not a lock: workers that pass it at the same moment each finish their message,
  so a month can end over its allowance by at most (concurrent workers x calls per message,
  about 3: classify, embed, generate).

Over the allowance, the customer's message is stored and routed as always (intake never looks
at this); the follow-up skips the AI's classification, draft and auto-reply for it, routes it
by the rules that need no AI (inbox, catch-all), and says so on the conversation's timeline.
Agents see a notice on the desk's front page. What people ask for themselves (regenerating a
draft, searching the knowledge base) and knowledge-base indexing still run, and still count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib import messages
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Sum
from redis.exceptions import RedisError

from accounts.plans import PlanLimitExceeded, account_current, limits_for, plan_limit_check
from ai import routing
from ai.budget import month_start
from ai.models import AICall, Classification, Operation
from conversations import events
from conversations.models import Conversation, Message

logger = logging.getLogger(__name__)

COUNTED_OPERATIONS = (Operation.CLASSIFY, Operation.EMBED, Operation.GENERATE)
MICRO = Decimal("1000000")  # cost is counted in millionths of a dollar: Redis adds integers
# Longer than any month, so a counter outlives its month and is never rebuilt mid-month.
COUNTER_TTL = timedelta(days=40).total_seconds()


@dataclass(frozen=True)
class AIUsage:
    calls: int
    cost: Decimal


def _keys() -> tuple[str, str]:
    month = month_start().strftime("%Y-%m")
    return f"plan-ai-calls:{month}", f"plan-ai-cost-micro:{month}"


def _ledger_usage() -> AIUsage:
    totals = AICall.objects.filter(
        created_at__gte=month_start(), operation__in=COUNTED_OPERATIONS, cache_hit=False,
    ).aggregate(calls=Count("id"), cost=Sum("cost"))
    return AIUsage(calls=totals["calls"], cost=totals["cost"] or Decimal("0"))


def ai_usage_this_month() -> AIUsage:
    """The current tenant's AI calls and cost this month (from its counter; rebuilt from the
    ledger when missing)."""
    calls_key, cost_key = _keys()
    found = cache.get_many([calls_key, cost_key])
    if len(found) < 2:
        usage = _ledger_usage()
        # `add` only where missing: a worker that rebuilt first keeps its value (and the calls
        # added to it since).
        cache.add(calls_key, usage.calls, timeout=COUNTER_TTL)
        cache.add(cost_key, int(usage.cost * MICRO), timeout=COUNTER_TTL)
        found = cache.get_many([calls_key, cost_key])
    return AIUsage(calls=int(found.get(calls_key, 0)), cost=Decimal(int(found.get(cost_key, 0))) / MICRO)


def ai_usage_record(call: AICall) -> None:
    """Add one ledger row to the month's counter (called by ai.calls for every row)."""
    if call.operation not in COUNTED_OPERATIONS or call.cache_hit:
        return
    calls_key, cost_key = _keys()
    try:
        cache.incr(calls_key)
        if call.cost:
            cache.incr(cost_key, int(call.cost * MICRO))
    except ValueError:
        pass  # no counter yet: it is rebuilt from the ledger, this row included
    except RedisError:
        # The call is made and on the ledger: a count missed now must not fail it. The next
        # counter rebuild (from the ledger) has it.
        logger.warning("could not count AI call %s against the plan in %s", call.pk, connection.schema_name, exc_info=True)


def ai_allowance_check(*, account) -> None:
    """Raise PlanLimitExceeded when this month's AI calls or cost reached the plan's allowance."""
    limits = limits_for(account)
    if limits.ai_calls_per_month is None and limits.ai_budget_usd_per_month is None:
        return  # unlimited: not even a Redis read
    usage = ai_usage_this_month()
    plan_limit_check(account=account, resource="ai_calls", used=usage.calls)
    plan_limit_check(account=account, resource="ai_budget_usd", used=usage.cost)


def ai_allowance_used_up(*, account) -> PlanLimitExceeded | None:
    try:
        ai_allowance_check(account=account)
    except PlanLimitExceeded as refusal:
        return refusal
    return None


def message_ai_skipped(*, message: Message) -> bool:
    """The guard at the AI pipeline's entry: True when the plan's allowance is used up, after
    routing the message by the rules that need no AI and saying so on its timeline."""
    refusal = ai_allowance_used_up(account=account_current())
    if refusal is None:
        return False
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update(of=("self",)).get(pk=message.conversation_id)
        events.ai_skipped(conversation, reason=refusal.message)
        # Not stored: a classification nobody made. Category and language conditions cannot
        # match it; inbox conditions and catch-all rules can, and priority ones read the
        # conversation's own priority.
        without_ai = Classification(
            message=message, conversation=conversation, category="", is_out_of_scope=True, confidence=0.0,
            priority=conversation.priority, language="",
        )
        routing.conversation_route(conversation=conversation, classification=without_ai)
    return True


def ai_allowance_notice_show(request) -> None:
    """On the desk's front page: everyone in the account learns that the AI is paused."""
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.is_public or not getattr(request.user, "is_authenticated", False):
        return
    refusal = ai_allowance_used_up(account=tenant)
    if refusal is not None:
        messages.warning(
            request, f"AI paused for this month: {refusal.message} New messages are stored and routed by your rules, "
            "without AI classification, drafts or automatic answers.",
        )
