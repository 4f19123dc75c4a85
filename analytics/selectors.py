"""Reads for the reports API and the managers' pages: a period's figures from the daily rows,
with today's (and a not yet rolled-up yesterday's) computed live from the raw tables.

A period's median and p90 are exact over the days' stored durations up to EXACT_UP_TO values,
and above that come from the days' summed duration histograms (within 2%, or half a second
under one second, of the exact percentile: analytics.histograms); never averaged from daily
medians; monthly figures are periods like any other (no second source of truth).
Filters pick one group (an inbox, a team, an agent, a category): rows hold one dimension each.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Max, Q, Sum

from analytics import histograms
from analytics.models import NO_KEY, AIUsageDaily, DailyRollup, Dimension
from analytics.rollups import account_today, day_live

MAX_PERIOD_DAYS = 366
COUNTS = [
    field.name for field in DailyRollup._meta.get_fields()
    if field.get_internal_type() == "PositiveIntegerField"
]
DURATIONS = ["first_response", "first_response_business", "reply", "reply_business", "resolution", "resolution_business"]
USAGE_COUNTS = ["calls", "errors", "cache_hits", "input_tokens", "output_tokens", "cost"]


@dataclass(frozen=True)
class Scope:
    """Which conversations: the whole desk, or one group of one dimension."""

    dimension: str = Dimension.ALL
    key: str = ""

    @classmethod
    def of(cls, *, inbox=None, team=None, agent=None, category=None) -> "Scope":
        chosen = [(d, v) for d, v in ((Dimension.INBOX, inbox), (Dimension.TEAM, team), (Dimension.AGENT, agent), (Dimension.CATEGORY, category)) if v not in (None, "")]
        if not chosen:
            return cls()
        dimension, value = chosen[0]
        return cls(dimension, str(value))


def _live_days(since: date, until: date) -> list[date]:
    """Days of the period read from the raw tables: today, and yesterday until it is rolled up."""
    today = account_today()
    days = [day for day in (today - timedelta(days=1), today) if since <= day <= until]
    if days and days[0] < today and _rolled_up(days[0]):
        days = days[1:]
    return days


def _rolled_up(day: date) -> bool:
    shared = _LIVE_SHARED.get()
    key = (connection.schema_name, "rolled_up", day)
    if shared is not None and key in shared:
        return shared[key]
    found = DailyRollup.objects.filter(day=day, dimension=Dimension.ALL).exists()
    if shared is not None:
        shared[key] = found
    return found


def _stored(since: date, until: date, scope: Scope, live: list[date]):
    return DailyRollup.objects.filter(day__gte=since, day__lte=until, dimension=scope.dimension, key=scope.key).exclude(day__in=live)


# Live days computed once per page or API request, however many of its figures read them.
_LIVE_SHARED: ContextVar[dict | None] = ContextVar("analytics_live_shared", default=None)


@contextmanager
def live_days_shared():
    """Within the block, each live day is computed once (per tenant) and reused."""
    token = _LIVE_SHARED.set({})
    try:
        yield
    finally:
        _LIVE_SHARED.reset(token)


def _day_live(day: date):
    shared = _LIVE_SHARED.get()
    if shared is None:
        return day_live(day=day)
    key = (connection.schema_name, day)
    if key not in shared:
        shared[key] = day_live(day=day)
    return shared[key]


def _live_rows(live: list[date], scope: Scope | None):
    rollups, usage = [], []
    for day in live:
        rows, calls = _day_live(day)
        rollups.extend(row for row in rows if scope is None or (row.dimension, row.key) == (scope.dimension, scope.key))
        usage.extend(calls)
    return rollups, usage


# Up to this many durations in a period, its percentiles are exact (one sort is cheap);
# above, they come from the summed histograms, within analytics.histograms.ERROR_BOUND.
EXACT_UP_TO = 20_000
HISTOGRAM_CACHE_SECONDS = 24 * 3600


def _percentiles(stored, live_rows, fields, *, version: tuple, by_key: bool = False) -> dict[tuple[str, str], list[float | None]]:
    """The period's median and p90 per field (and per group with `by_key`), from the stored
    days plus the live ones: exact for a small period, else from summed histograms. One query
    for every field (none when cached; two when exact). `version` is the stored rows' count
    and latest computed_at, read by the caller with its totals."""
    inner, params = stored.values("pk").query.sql_with_params()
    key = "r.key" if by_key else "''"
    pairs = ", ".join(f"('{field}', r.{field}_histogram)" for field in fields)
    found: dict[tuple[str, str], dict[int, int]] = {}
    with connection.cursor() as cursor:
        # The stored days' sums are cached (the cache's keys are per tenant) under the rows'
        # version: a recomputed day has a later computed_at, a removed one changes the count.
        rows, computed = version
        cache_key = "analytics:histograms:" + hashlib.sha256(
            repr((inner, params, key, fields, rows, computed)).encode()).hexdigest()
        cached = cache.get(cache_key)
        if cached is None:
            cursor.execute(
                f"""SELECT {key}, x.field, e.bucket::int, SUM(e.n::bigint)
                    FROM analytics_dailyrollup r CROSS JOIN LATERAL (VALUES {pairs}) AS x(field, histogram)
                    CROSS JOIN LATERAL jsonb_each_text(x.histogram) AS e(bucket, n)
                    WHERE r.id IN ({inner}) GROUP BY 1, 2, 3""",
                params,
            )
            cached = [(group, field, index, int(count)) for group, field, index, count in cursor.fetchall()]
            cache.set(cache_key, cached, timeout=HISTOGRAM_CACHE_SECONDS)
        for group, field, index, count in cached:
            found.setdefault((group, field), {})[index] = count
        for row in live_rows:
            for field in fields:
                histograms.merge(found.setdefault((row.key if by_key else "", field), {}), getattr(row, f"{field}_histogram"))
        if sum(count for histogram in found.values() for count in histogram.values()) > EXACT_UP_TO:
            return {group: histograms.percentiles(histogram) for group, histogram in found.items()}
        extra = [(row.key if by_key else "", field, value) for row in live_rows for field in fields for value in getattr(row, f"{field}_seconds")]
        arrays = ", ".join(f"('{field}', r.{field}_seconds)" for field in fields)
        cursor.execute(
            f"""SELECT k, f, percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY v) FROM (
                  SELECT {key} AS k, x.field AS f, v FROM analytics_dailyrollup r
                  CROSS JOIN LATERAL (VALUES {arrays}) AS x(field, durations) CROSS JOIN LATERAL unnest(x.durations) AS v
                  WHERE r.id IN ({inner})
                  UNION ALL SELECT * FROM unnest(%s::text[], %s::text[], %s::float8[])) d GROUP BY 1, 2""",
            [*params, [e[0] for e in extra], [e[1] for e in extra], [e[2] for e in extra]],
        )
        return {(group, field): list(values) for group, field, values in cursor.fetchall()}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def period_summary(*, since: date, until: date, scope: Scope = Scope()) -> dict:
    live = _live_days(since, until)
    stored = _stored(since, until, scope, live)
    live_rows, live_usage = _live_rows(live, scope)
    totals = {name: value or 0 for name, value in stored.aggregate(
        **{name: Sum(name) for name in COUNTS}, stored_rows=Count("id"), stored_computed=Max("computed_at")).items()}
    version = totals.pop("stored_rows"), totals.pop("stored_computed") or None
    for row in live_rows:
        for name in COUNTS:
            totals[name] += getattr(row, name)
    durations = {}
    found = _percentiles(stored, live_rows, DURATIONS, version=version)
    for field in DURATIONS:
        median, p90 = found.get(("", field)) or (None, None)
        durations[f"{field}_seconds"] = {"median": median, "p90": p90}
    ai = ai_usage(since=since, until=until, live=live, live_usage=live_usage)
    return {
        "since": since, "until": until,
        "conversations_opened": totals["conversations_opened"],
        "conversations_reopened": totals["conversations_reopened"],
        "conversations_resolved": totals["conversations_resolved"],
        "conversations_handled": totals["conversations_handled"],
        "messages_in": totals["messages_in"],
        "messages_out": totals["messages_out"],
        **durations,
        "csat": {
            "responses": totals["csat_responses"],
            "average": round(totals["csat_sum"] / totals["csat_responses"], 3) if totals["csat_responses"] else None,
            "distribution": {str(n): totals[f"csat_{n}"] for n in range(1, 6)},
        },
        "sla": {
            "first_response_due": totals["sla_first_response_due"],
            "first_response_breached": totals["sla_first_response_breached"],
            "first_response_met_share": _share(totals["sla_first_response_due"] - totals["sla_first_response_breached"], totals["sla_first_response_due"]),
            "resolution_due": totals["sla_resolution_due"],
            "resolution_breached": totals["sla_resolution_breached"],
            "resolution_met_share": _share(totals["sla_resolution_due"] - totals["sla_resolution_breached"], totals["sla_resolution_due"]),
        },
        "ai": {
            "classifications": totals["ai_classifications"],
            "corrections": totals["ai_corrections"],
            "corrected_share": _share(totals["ai_corrections"], totals["ai_classifications"]),
            "drafts": totals["ai_drafts"],
            "drafts_accepted": totals["ai_drafts_accepted"],
            "drafts_edited": totals["ai_drafts_edited"],
            "drafts_rejected": totals["ai_drafts_rejected"],
            "auto_replies": totals["ai_auto_replies"],
            "handoffs": totals["ai_handoffs"],
            "deflected": totals["ai_deflected"],
            "deflection_share": _share(totals["ai_deflected"], totals["conversations_resolved"]),
            "feedback_up": totals["ai_feedback_up"],
            "feedback_down": totals["ai_feedback_down"],
            **ai,
        },
    }


def ai_usage(*, since: date, until: date, live: list[date] | None = None, live_usage=None) -> dict:
    """The AI provider calls of the period (account-wide): totals and per provider and model."""
    if live is None:
        live = _live_days(since, until)
        live_usage = _live_rows(live, None)[1]
    stored = AIUsageDaily.objects.filter(day__gte=since, day__lte=until).exclude(day__in=live)
    by_model: dict[tuple[str, str], dict] = {}
    stored_rows = list(stored.values("provider", "model", "computed_at", *USAGE_COUNTS))
    # The stored rows' version (as the durations' cache) and calls, from the same read.
    rows, computed = len(stored_rows), max((row["computed_at"] for row in stored_rows), default=None)
    calls = sum(row["calls"] for row in stored_rows)
    for row in [*stored_rows, *[{f: getattr(u, f) for f in ("provider", "model", *USAGE_COUNTS)} for u in live_usage or []]]:
        entry = by_model.setdefault((row["provider"], row["model"]), {"provider": row["provider"], "model": row["model"], **{f: 0 for f in USAGE_COUNTS}})
        for field in USAGE_COUNTS:
            entry[field] += row[field]
    totals = {field: sum(entry[field] for entry in by_model.values()) for field in USAGE_COUNTS}
    extra = [value for usage in live_usage or [] for value in usage.latency_ms]
    inner, params = stored.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        # As the durations: exact up to EXACT_UP_TO calls, else from a histogram of the stored
        # days' latencies (cached per tenant under the rows' version) plus the live ones.
        if calls + len(extra) <= EXACT_UP_TO:
            # A period without live days (the previous period of the overview) is cached as is.
            cache_key = None if extra else "analytics:latency-p95:" + hashlib.sha256(repr((inner, params, rows, computed)).encode()).hexdigest()
            found = cache.get(cache_key) if cache_key else None
            if found is None:
                cursor.execute(
                    f"""SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY v) FROM (
                         SELECT unnest(latency_ms) AS v FROM analytics_aiusagedaily WHERE id IN ({inner})
                         UNION ALL SELECT unnest(%s::float8[])) latencies""",
                    [*params, extra],
                )
                found = [cursor.fetchone()[0]]
                if cache_key:
                    cache.set(cache_key, found, timeout=HISTOGRAM_CACHE_SECONDS)
            [p95] = found
        else:
            cache_key = "analytics:latencies:" + hashlib.sha256(repr((inner, params, rows, computed)).encode()).hexdigest()
            cached = cache.get(cache_key)
            if cached is None:
                cursor.execute(
                    f"""SELECT {histograms.bucket_sql('v')}, count(*) FROM analytics_aiusagedaily r, unnest(r.latency_ms) AS v
                        WHERE r.id IN ({inner}) GROUP BY 1""",
                    params,
                )
                cached = dict(cursor.fetchall())
                cache.set(cache_key, cached, timeout=HISTOGRAM_CACHE_SECONDS)
            latencies = dict(cached)
            for value in extra:
                latencies[histograms.bucket(value)] = latencies.get(histograms.bucket(value), 0) + 1
            [p95] = histograms.percentiles(latencies, (0.95,))
    return {
        "calls": totals["calls"],
        "errors": totals["errors"],
        "error_rate": _share(totals["errors"], totals["calls"]),
        "cache_hits": totals["cache_hits"],
        "cache_hit_rate": _share(totals["cache_hits"], totals["calls"]),
        "input_tokens": totals["input_tokens"],
        "output_tokens": totals["output_tokens"],
        "cost": str(Decimal(totals["cost"]).quantize(Decimal("0.000001"))),
        "latency_p95_ms": p95,
        "by_model": sorted(
            ({**entry, "cost": str(Decimal(entry["cost"]).quantize(Decimal("0.000001")))} for entry in by_model.values()),
            key=lambda entry: (entry["provider"], entry["model"]),
        ),
    }


DAILY_FIELDS = [
    "conversations_opened", "conversations_reopened", "conversations_resolved", "conversations_handled",
    "messages_in", "messages_out", "first_response_median", "first_response_p90", "first_response_business_median",
    "first_response_business_p90", "reply_median", "reply_p90", "resolution_median", "resolution_p90",
    "resolution_business_median", "resolution_business_p90", "sla_first_response_due", "sla_first_response_breached",
    "sla_resolution_due", "sla_resolution_breached", "csat_responses", "csat_sum", "ai_classifications", "ai_corrections",
    "ai_drafts", "ai_auto_replies", "ai_handoffs", "ai_deflected",
]


def _daily_row(day, key, values: dict) -> dict:
    row = {"day": day, "group": key, **{field: values.get(field) for field in DAILY_FIELDS}}
    responses = row.pop("csat_sum"), row["csat_responses"]
    row["csat_average"] = round(responses[0] / responses[1], 3) if responses[1] else None
    return row


def period_daily(*, since: date, until: date, dimension: str = Dimension.ALL, scope: Scope = Scope()) -> list[dict]:
    """One row per day (every day of the period, zeros included) and group of `dimension`;
    `scope` narrows the whole-desk rows to one group when no grouping is asked for."""
    live = _live_days(since, until)
    if dimension == Dimension.ALL:
        stored = _stored(since, until, scope, live)
        live_rows = _live_rows(live, scope)[0]
    else:
        stored = DailyRollup.objects.filter(day__gte=since, day__lte=until, dimension=dimension).exclude(day__in=live)
        live_rows = [row for row in _live_rows(live, None)[0] if row.dimension == dimension]
    found = {(row["day"], row["key"]): row for row in stored.values("day", "key", *DAILY_FIELDS)}
    for row in live_rows:
        found[(row.day, row.key)] = {field: getattr(row, field) for field in DAILY_FIELDS}
    rows = [_daily_row(day, key, values) for (day, key), values in found.items()]
    if dimension == Dimension.ALL:
        present = {row["day"] for row in rows}
        day = since
        while day <= until:
            if day not in present:
                rows.append(_daily_row(day, scope.key, {field: 0 for field in DAILY_FIELDS if not field.endswith(("median", "p90"))}))
            day += timedelta(days=1)
    return sorted(rows, key=lambda row: (row["day"], row["group"]))


def group_names(dimension: str, keys) -> dict[str, str]:
    """What a manager calls each group: the inbox's, team's or agent's name."""
    from accounts.models import User
    from conversations.models import Inbox, Priority, Team

    ids = [int(key) for key in keys if key and key != NO_KEY and key.isdigit()]
    names = {NO_KEY: {"agent": "Unassigned", "team": "No team", "category": "Uncategorised"}.get(dimension, "None")}
    if dimension == Dimension.INBOX:
        names.update({str(pk): name for pk, name in Inbox.objects.filter(pk__in=ids).values_list("pk", "name")})
    elif dimension == Dimension.TEAM:
        names.update({str(pk): name for pk, name in Team.objects.filter(pk__in=ids).values_list("pk", "name")})
    elif dimension == Dimension.AGENT:
        names.update({str(pk): name or email for pk, name, email in User.objects.filter(pk__in=ids).values_list("pk", "full_name", "email")})
    elif dimension == Dimension.PRIORITY:
        names.update({str(value): label for value, label in Priority.choices})
    return {key: names.get(key, key) for key in keys}


def period_groups(*, since: date, until: date, dimension: str) -> list[dict]:
    """The period's figures per group of `dimension` (an inbox, team, agent, category,
    priority): counts, median first response, reply and resolution, CSAT, SLA breaches."""
    live = _live_days(since, until)
    stored = DailyRollup.objects.filter(day__gte=since, day__lte=until, dimension=dimension).exclude(day__in=live)
    live_rows = [row for row in _live_rows(live, None)[0] if row.dimension == dimension]
    groups: dict[str, dict] = {}
    rows, computed = 0, None
    for row in stored.values("key").annotate(**{name: Sum(name) for name in COUNTS}, stored_rows=Count("id"), stored_computed=Max("computed_at")):
        groups[row["key"]] = {name: row[name] or 0 for name in COUNTS}
        rows += row["stored_rows"]
        computed = max(filter(None, (computed, row["stored_computed"])), default=None)
    for row in live_rows:
        entry = groups.setdefault(row.key, {name: 0 for name in COUNTS})
        for name in COUNTS:
            entry[name] += getattr(row, name)
    found = _percentiles(stored, live_rows, ("first_response", "reply", "resolution"), version=(rows, computed), by_key=True)
    for (key, field), (median, p90) in found.items():
        if key in groups:
            groups[key][f"{field}_median"], groups[key][f"{field}_p90"] = median, p90
    names = group_names(dimension, list(groups))
    rows = []
    for key, figures in groups.items():
        responses = figures["csat_responses"]
        rows.append({
            "key": key, "name": names[key], **figures,
            **{f"{field}_{p}": figures.get(f"{field}_{p}") for field in ("first_response", "reply", "resolution") for p in ("median", "p90")},
            "csat_average": round(figures["csat_sum"] / responses, 2) if responses else None,
            "resolution_rate": _share(figures["conversations_resolved"], figures["conversations_handled"] or figures["conversations_opened"]),
        })
    return sorted(rows, key=lambda row: (-row["conversations_opened"], row["name"]))


def ai_usage_daily(*, since: date, until: date) -> dict[date, dict]:
    """Per day: AI calls and their cost (account-wide), today live."""
    live = _live_days(since, until)
    days: dict[date, dict] = {}
    for row in AIUsageDaily.objects.filter(day__gte=since, day__lte=until).exclude(day__in=live).values("day").annotate(calls=Sum("calls"), cost=Sum("cost")):
        days[row["day"]] = {"calls": row["calls"], "cost": row["cost"]}
    for usage in _live_rows(live, None)[1]:
        entry = days.setdefault(usage.day, {"calls": 0, "cost": Decimal(0)})
        entry["calls"] += usage.calls
        entry["cost"] += usage.cost
    return days


# The conversation's field of each dimension's key (as the rollups group conversations).
_SCOPE_FIELD = {Dimension.INBOX: "inbox_id", Dimension.TEAM: "team_id", Dimension.AGENT: "assignee_id",
                Dimension.CATEGORY: "ai_category", Dimension.PRIORITY: "priority"}


def csat_latest(*, since: date, until: date, scope: Scope = Scope(), limit: int = 30):
    """The period's latest ratings with a comment (of the scope's conversations), newest first."""
    from analytics.rollups import day_bounds
    from conversations.models import CSATResponse

    responses = CSATResponse.objects.filter(created_at__gte=day_bounds(since)[0], created_at__lt=day_bounds(until)[1]).exclude(comment="")
    if scope.dimension != Dimension.ALL:
        field = f"conversation__{_SCOPE_FIELD[scope.dimension]}"
        if scope.key == NO_KEY:
            responses = responses.filter(Q(**{f"{field}__isnull": True}) | Q(**{field: ""}) if scope.dimension == Dimension.CATEGORY else Q(**{f"{field}__isnull": True}))
        else:
            responses = responses.filter(**{field: scope.key})
    return responses.select_related("conversation").order_by("-created_at")[:limit]


def _presence_live(live: list[date]):
    from analytics.presence import presence_days_compute

    if not live:
        return []
    shared = _LIVE_SHARED.get()
    key = (connection.schema_name, "presence", tuple(live))
    if shared is not None and key in shared:
        return shared[key]
    rows = presence_days_compute(since=min(live), until=max(live))
    if shared is not None:
        shared[key] = rows
    return rows


def period_presence(*, since: date, until: date) -> dict[str, dict[str, float]]:
    """Seconds online and busy per agent (the user id as text, as the rollups' agent keys)
    over the period: the stored days plus today (and a not yet rolled-up yesterday) live."""
    from analytics.models import PresenceDaily

    live = _live_days(since, until)
    agents: dict[str, dict[str, float]] = {}
    stored = PresenceDaily.objects.filter(day__gte=since, day__lte=until).exclude(day__in=live)
    for row in stored.values("user_id").annotate(online=Sum("online_seconds"), busy=Sum("busy_seconds")):
        agents[str(row["user_id"])] = {"online_seconds": row["online"] or 0.0, "busy_seconds": row["busy"] or 0.0}
    for row in _presence_live(live):
        entry = agents.setdefault(str(row.user_id), {"online_seconds": 0.0, "busy_seconds": 0.0})
        entry["online_seconds"] += row.online_seconds
        entry["busy_seconds"] += row.busy_seconds
    return agents


def month_periods(since: date, until: date) -> list[tuple[date, date]]:
    """The calendar months the period touches, each cut to the period: (first day, last day)."""
    periods = []
    first = since
    while first <= until:
        following = (first.replace(day=1) + timedelta(days=32)).replace(day=1)
        last = min(following - timedelta(days=1), until)
        periods.append((first, last))
        first = following
    return periods


def period_monthly(*, since: date, until: date, scope: Scope = Scope()) -> list[dict]:
    """One summary per calendar month of the period (the first and last cut to the period):
    each is `period_summary` of its days, so a month's totals are the sums of its daily rows
    and its medians/p90s come from the same daily histograms (or exact values) as any period's.
    Nothing monthly is stored."""
    return [{"month": first.strftime("%Y-%m"), **period_summary(since=first, until=last, scope=scope)}
            for first, last in month_periods(since, until)]


def ai_month_allowance() -> dict:
    """This calendar month's AI provider calls and cost (the account's time zone) against the
    plan's allowance (accounts.plans.limits_for): a None allowance is unlimited. The figures
    are the plan's own (ai.plan_allowance.ai_usage_this_month: what counts, and the counter
    that pauses the AI), so the tile never says there is room the plan does not see."""
    from accounts.plans import limits_for
    from ai.plan_allowance import ai_usage_this_month

    today = account_today()
    usage = ai_usage_this_month()
    calls, cost = usage.calls, usage.cost
    limits = limits_for(connection.tenant)
    budget = limits.ai_budget_usd_per_month
    return {
        "month": today.strftime("%Y-%m"),
        "calls": calls,
        "calls_allowed": limits.ai_calls_per_month,
        "calls_share": _share(calls, limits.ai_calls_per_month) if limits.ai_calls_per_month else None,
        "cost": str(cost.quantize(Decimal("0.000001"))),
        "budget_usd": None if budget is None else str(budget),
        "budget_share": round(float(cost / budget), 4) if budget else None,
    }
