"""The daily rollups: one day of one tenant computed from the raw tables in SQL, and replaced
whole in one transaction.

How days are computed: each kind of fact (conversations opened, status events, messages,
first responses, replies, ratings, AI rows) is one SELECT of the days' facts with the
conversation's groups beside them; PostgreSQL aggregates each over GROUPING SETS (the whole
desk, per inbox, team, agent, category, priority); the kinds are the branches of one
statement that merges them into one DailyRollup row per group and inserts it, so nothing is
written in between. A duration's values are sorted once per group into the stored array, and
its median and p90 (`percentile_cont`'s arithmetic) and histogram are read from that array.
Durations in business hours are measured against the inboxes' opening windows (from
conversations/business_hours.py), passed as arrays: a binary search per end of a duration.

What counts as what (one place for it):
- first response: first customer message (the conversation's opening) to the first reply of
  an agent or the AI (`Conversation.first_response_at`); a reopen never resets it.
- reply time: every later wait, from the first customer message after a reply (or after the
  first response) to the next reply; counted on the reply's day.
- resolution time: from the start of the resolution clock (the opening, or the last reopen)
  to the resolution; counted on the resolution's day.
- deflected: resolved that day, answered by the AI and never by a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from analytics.histograms import bucket_sql
from analytics.models import NO_KEY, AIUsageDaily, DailyRollup, Dimension, ReportingDirtyDay
from analytics.presence import presence_days_replace
from conversations.business_hours import BusinessHours
from conversations.models import Inbox

# The grouping columns every fact query selects, in this order, and the dimension each is.
GROUP_COLUMNS = ("inbox_id", "team_id", "agent_id", "category", "priority")
_GROUPING_SETS = "GROUPING SETS ((day), (day, inbox_id), (day, team_id), (day, agent_id), (day, category), (day, priority))"
# GROUPING(...) over GROUP_COLUMNS: a bit is 1 for each column the row is aggregated over.
_DIMENSION_OF_GROUPING = {
    0b11111: (Dimension.ALL, None),
    0b01111: (Dimension.INBOX, "inbox_id"),
    0b10111: (Dimension.TEAM, "team_id"),
    0b11011: (Dimension.AGENT, "agent_id"),
    0b11101: (Dimension.CATEGORY, "category"),
    0b11110: (Dimension.PRIORITY, "priority"),
}

_C = "conversations_conversation"
_M = "conversations_message"
_E = "conversations_conversationevent"


def _groups(agent: str, moment: str) -> str:
    """The fact's local day (of `moment`) and the conversation's groups (`agent` for agents)."""
    return (
        f"({moment} AT TIME ZONE %(tz)s)::date AS day, "
        f"c.inbox_id, c.team_id, {agent} AS agent_id, NULLIF(c.ai_category, '') AS category, c.priority"
    )


# A fact with a duration (columns `starts`, `ends`, `inbox_id`) gets its calendar seconds, then
# its business-hours seconds (`_opening_hours`), as columns before the aggregates read them. The
# facts are materialized first: their own columns can be subqueries (a resolution's start),
# which PostgreSQL would otherwise repeat in every expression reading them.
_WITH_SECONDS = """facts AS MATERIALIZED ({rows}),
  durations AS (
    SELECT f.*, {business} AS business_seconds
    FROM (SELECT facts.*, EXTRACT(EPOCH FROM facts.ends - facts.starts)::float8 AS calendar_seconds FROM facts) f {hours})"""


def _percentile_sql(values: str, fraction: float) -> str:
    """`percentile_cont(fraction)` of a SORTED float8[] (the same arithmetic as PostgreSQL's),
    read from the array the rollup keeps anyway instead of sorting the values a second time."""
    n = f"cardinality({values})"
    position = f"({fraction}::float8 * ({n} - 1))"
    low, high = f"{values}[floor({position})::int + 1]", f"{values}[ceil({position})::int + 1]"
    return f"(CASE WHEN {n} > 0 THEN {low} + (({position} - floor({position})) * ({high} - {low})) END)"


@dataclass(frozen=True)
class Facts:
    """One kind of fact of the day: `rows` selects them (with GROUP_COLUMNS), `figures` are
    the aggregates (DailyRollup field -> SQL) over a group of them. With `duration`, each row
    also has `starts` and `ends`, and the group's durations are kept (sorted), with their
    median, p90 and histogram, in calendar time and business hours. `having` keeps some of
    the groups only."""

    rows: str
    figures: dict[str, str]
    duration: str | None = None
    having: str = ""


_FACTS = [
    Facts(  # volume and SLA, by the day the conversation was opened
        rows=f"""SELECT {_groups('c.assignee_id', "c.created_at")}, c.first_response_due_at, c.first_response_breached,
                        c.resolution_due_at, c.resolution_breached
                 FROM {_C} c WHERE c.created_at >= %(start)s AND c.created_at < %(end)s""",
        figures={
            "conversations_opened": "COUNT(*)",
            "sla_first_response_due": "COUNT(*) FILTER (WHERE first_response_due_at IS NOT NULL)",
            "sla_first_response_breached": "COUNT(*) FILTER (WHERE first_response_breached)",
            "sla_resolution_due": "COUNT(*) FILTER (WHERE resolution_due_at IS NOT NULL)",
            "sla_resolution_breached": "COUNT(*) FILTER (WHERE resolution_breached)",
        },
    ),
    Facts(  # reopened: a resolved conversation opened again
        rows=f"""SELECT {_groups('c.assignee_id', "e.created_at")}, e.conversation_id
                 FROM {_E} e JOIN {_C} c ON c.id = e.conversation_id
                 WHERE e.action = 'status_changed' AND e.old_value = 'resolved' AND e.new_value <> 'resolved'
                   AND e.created_at >= %(start)s AND e.created_at < %(end)s""",
        figures={"conversations_reopened": "COUNT(DISTINCT conversation_id)"},
    ),
    Facts(  # resolutions, their time from the (re)opening, and deflection
        rows=f"""SELECT f.*, (f.ai_replied AND NOT f.agent_replied) AS deflected FROM (
                   SELECT {_groups("CASE WHEN e.actor_type = 'agent' THEN e.actor_id END", "e.created_at")}, e.conversation_id,
                     e.created_at AS ends,
                     COALESCE((SELECT MAX(r.created_at) FROM {_E} r WHERE r.conversation_id = e.conversation_id
                               AND r.action = 'status_changed' AND r.old_value = 'resolved' AND r.new_value <> 'resolved'
                               AND r.created_at <= e.created_at AND r.id < e.id), c.created_at) AS starts,
                     COALESCE(replies.ai, false) AS ai_replied, COALESCE(replies.agent, false) AS agent_replied
                   FROM {_E} e JOIN {_C} c ON c.id = e.conversation_id
                   LEFT JOIN LATERAL (  -- the conversation's replies until then, read once
                     SELECT bool_or(m.sender_type = 'ai') AS ai, bool_or(m.sender_type = 'agent' AND m.direction = 'outgoing') AS agent
                     FROM {_M} m WHERE m.conversation_id = e.conversation_id AND m.kind = 'text' AND m.created_at <= e.created_at) replies ON TRUE
                   WHERE e.action = 'status_changed' AND e.new_value = 'resolved'
                     AND e.created_at >= %(start)s AND e.created_at < %(end)s) f""",
        figures={
            "conversations_resolved": "COUNT(DISTINCT conversation_id)",
            "ai_deflected": "COUNT(DISTINCT conversation_id) FILTER (WHERE deflected)",
        },
        duration="resolution",
    ),
    Facts(  # messages the customer and the desk exchanged (no notes, no activity lines), first
            # counted per (day, conversation, incoming or the replying agent) and per (day,
            # conversation): few rows, summed by hashing, no sort of every message per dimension.
            # A conversation was handled that day by an agent if it has a row of the agent's
            # replies (one per conversation and agent), and, for the other dimensions, if its
            # (day, conversation) row has a reply. The (day, conversation) rows are not any
            # agent's: they count nowhere else, and make no agent's group of their own.
        rows=f"""SELECT m.day, c.inbox_id, c.team_id,
                        CASE WHEN m.detail THEN (CASE WHEN m.incoming THEN c.assignee_id ELSE m.replier_id END) END AS agent_id,
                        NULLIF(c.ai_category, '') AS category, c.priority, m.detail, m.incoming, m.messages, m.ai_messages, m.replied
                 FROM (SELECT day, conversation_id, incoming, replier_id, GROUPING(incoming, replier_id) = 0 AS detail,
                              COUNT(*) AS messages, COUNT(*) FILTER (WHERE ai) AS ai_messages, bool_or(NOT incoming) AS replied
                       FROM (SELECT (created_at AT TIME ZONE %(tz)s)::date AS day, conversation_id, direction = 'incoming' AS incoming,
                                    CASE WHEN direction = 'outgoing' AND sender_type = 'agent' THEN sender_id END AS replier_id,
                                    direction = 'outgoing' AND sender_type = 'ai' AS ai
                             FROM {_M} WHERE kind = 'text' AND created_at >= %(start)s AND created_at < %(end)s) m
                       GROUP BY GROUPING SETS ((day, conversation_id, incoming, replier_id), (day, conversation_id))) m
                 JOIN {_C} c ON c.id = m.conversation_id""",
        figures={
            "messages_in": "SUM(messages) FILTER (WHERE detail AND incoming)",
            "messages_out": "SUM(messages) FILTER (WHERE detail AND NOT incoming)",
            "conversations_handled": "CASE WHEN GROUPING(agent_id) = 0 THEN COUNT(*) FILTER (WHERE detail AND NOT incoming) "
                                     "ELSE COUNT(*) FILTER (WHERE NOT detail AND replied) END",
            "ai_auto_replies": "SUM(ai_messages) FILTER (WHERE detail)",
        },
        having="GROUPING(agent_id) = 1 OR bool_or(detail)",
    ),
    Facts(  # first responses, by the day of the response; the agent is who gave it
        rows=f"""SELECT {_groups("first_reply.sender_id", "c.first_response_at")}, c.created_at AS starts, c.first_response_at AS ends
                   FROM {_C} c LEFT JOIN LATERAL (
                     SELECT m.sender_id FROM {_M} m WHERE m.conversation_id = c.id AND m.direction = 'outgoing'
                       AND m.kind = 'text' ORDER BY m.created_at, m.id LIMIT 1) first_reply ON TRUE
                   WHERE c.first_response_at >= %(start)s AND c.first_response_at < %(end)s""",
        figures={},
        duration="first_response",
    ),
    Facts(  # every later wait, answered that day: a reply time of its own. A wait starts at the
            # first customer message after a reply (or the opening) and ends at the next reply;
            # the first reply's wait is the first response, not counted here. One pass over each
            # conversation's messages in order (the message_thread index), no self-join.
        rows=f"""SELECT {_groups("CASE WHEN t.sender_type = 'agent' THEN t.sender_id END", "t.created_at")},
                        t.wait_started AS starts, t.created_at AS ends
                 FROM (
                   SELECT t.*,
                          MAX(CASE WHEN t.direction = 'incoming' AND t.previous_direction IS DISTINCT FROM 'incoming' THEN t.created_at END)
                            OVER earlier AS wait_started,
                          bool_or(t.direction = 'outgoing') OVER earlier AS replied_before
                   FROM (
                     SELECT m.id, m.conversation_id, m.direction, m.sender_type, m.sender_id, m.created_at,
                            LAG(m.direction) OVER (PARTITION BY m.conversation_id ORDER BY m.created_at, m.id) AS previous_direction
                     FROM {_M} m WHERE m.kind = 'text' AND m.conversation_id IN (
                       SELECT conversation_id FROM {_M} WHERE kind = 'text' AND direction = 'outgoing'
                         AND created_at >= %(start)s AND created_at < %(end)s)
                   ) t
                   WINDOW earlier AS (PARTITION BY t.conversation_id ORDER BY t.created_at, t.id
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                 ) t JOIN {_C} c ON c.id = t.conversation_id
                 WHERE t.direction = 'outgoing' AND t.previous_direction = 'incoming' AND t.replied_before
                   AND t.created_at >= %(start)s AND t.created_at < %(end)s""",
        figures={},
        duration="reply",
    ),
    Facts(  # ratings, by the day they were given (a late rating counts on its own day)
        rows=f"""SELECT {_groups('c.assignee_id', "r.created_at")}, r.rating
                 FROM conversations_csatresponse r JOIN {_C} c ON c.id = r.conversation_id
                 WHERE r.created_at >= %(start)s AND r.created_at < %(end)s""",
        figures={
            "csat_responses": "COUNT(*)",
            "csat_sum": "COALESCE(SUM(rating), 0)",
            **{f"csat_{n}": f"COUNT(*) FILTER (WHERE rating = {n})" for n in range(1, 6)},
        },
    ),
    Facts(  # customers' thumbs on AI answers
        rows=f"""SELECT {_groups('c.assignee_id', "fb.created_at")}, fb.rating
                 FROM conversations_messagefeedback fb JOIN {_M} m ON m.id = fb.message_id JOIN {_C} c ON c.id = m.conversation_id
                 WHERE m.sender_type = 'ai' AND fb.created_at >= %(start)s AND fb.created_at < %(end)s""",
        figures={
            "ai_feedback_up": "COUNT(*) FILTER (WHERE rating = 'up')",
            "ai_feedback_down": "COUNT(*) FILTER (WHERE rating = 'down')",
        },
    ),
    Facts(
        rows=f"""SELECT {_groups('c.assignee_id', "a.created_at")} FROM ai_classification a JOIN {_C} c ON c.id = a.conversation_id
                 WHERE a.created_at >= %(start)s AND a.created_at < %(end)s""",
        figures={"ai_classifications": "COUNT(*)"},
    ),
    Facts(
        rows=f"""SELECT {_groups('a.corrected_by_id', "a.created_at")} FROM ai_correction a JOIN {_C} c ON c.id = a.conversation_id
                 WHERE a.created_at >= %(start)s AND a.created_at < %(end)s""",
        figures={"ai_corrections": "COUNT(*)"},
    ),
    Facts(  # drafts made that day, by what became of them
        rows=f"""SELECT {_groups('COALESCE(d.used_by_id, c.assignee_id)', "d.created_at")}, d.status
                 FROM ai_draft d JOIN {_C} c ON c.id = d.conversation_id
                 WHERE d.created_at >= %(start)s AND d.created_at < %(end)s""",
        figures={
            "ai_drafts": "COUNT(*)",
            "ai_drafts_accepted": "COUNT(*) FILTER (WHERE status = 'accepted')",
            "ai_drafts_edited": "COUNT(*) FILTER (WHERE status = 'edited')",
            "ai_drafts_rejected": "COUNT(*) FILTER (WHERE status = 'rejected')",
        },
    ),
    Facts(
        rows=f"""SELECT {_groups('c.assignee_id', "c.ai_handoff_at")} FROM {_C} c
                 WHERE c.ai_handoff_at >= %(start)s AND c.ai_handoff_at < %(end)s""",
        figures={"ai_handoffs": "COUNT(*)"},
    ),
]

_AI_USAGE = """
    SELECT (created_at AT TIME ZONE %(tz)s)::date AS day, provider, model, operation, COUNT(*) AS calls,
           COUNT(*) FILTER (WHERE status IN ('error', 'timeout', 'budget_exceeded')) AS errors,
           COUNT(*) FILTER (WHERE cache_hit) AS cache_hits,
           COALESCE(SUM(input_tokens), 0) AS input_tokens, COALESCE(SUM(output_tokens), 0) AS output_tokens,
           COALESCE(SUM(cost), 0) AS cost,
           array_agg(latency_ms::float8 ORDER BY latency_ms) AS latency_ms,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS latency_p95_ms
    FROM ai_aicall WHERE created_at >= %(start)s AND created_at < %(end)s
      AND operation IN ('classify', 'embed', 'generate')  -- provider calls; the AI's own acts are counted from the desk
    GROUP BY (created_at AT TIME ZONE %(tz)s)::date, provider, model, operation
"""


def account_zone() -> ZoneInfo:
    """The current tenant's time zone: its days are the days reports count."""
    return ZoneInfo(getattr(getattr(connection, "tenant", None), "timezone", None) or "UTC")


def day_bounds(day: date, tz: ZoneInfo | None = None) -> tuple[datetime, datetime]:
    """The instants a local day starts and ends (23 or 25 hours long on a DST change)."""
    tz = tz or account_zone()
    return datetime.combine(day, time(0), tzinfo=tz), datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def account_today() -> date:
    return timezone.localtime(timezone.now(), account_zone()).date()


def _opening_hours(cursor, start: datetime, end: datetime) -> tuple[str, str, dict]:
    """The SQL of a duration's seconds in its inbox's business hours (columns `starts`, `ends`,
    `inbox_id`, `calendar_seconds`), for the durations that end in [start, end); the one-row
    derived table it reads (to join); and their parameters: each scheduled inbox's opening
    windows as three arrays (starts, ends, and the open seconds of the windows before each
    one). The open seconds up to a moment are one binary search (`width_bucket`) in the
    inbox's starts plus the part of its window already open, and a duration's business seconds
    the difference at its two ends: no lookup per duration. An inbox without a schedule is
    always open: calendar seconds."""
    inboxes = list(Inbox.objects.only("pk", "timezone", "business_hours").order_by("pk"))
    scheduled = [inbox for inbox in inboxes if inbox.business_hours]
    params: dict = {}
    if not scheduled:
        return "calendar_seconds", "", params
    # The earliest start of any duration ending in the range is its conversation's opening.
    cursor.execute(
        f"""SELECT MIN(c.created_at) FROM {_C} c WHERE c.id IN (
              SELECT conversation_id FROM {_M} WHERE kind = 'text' AND direction = 'outgoing' AND created_at >= %s AND created_at < %s
              UNION SELECT conversation_id FROM {_E} WHERE action = 'status_changed' AND created_at >= %s AND created_at < %s
              UNION SELECT id FROM {_C} WHERE first_response_at >= %s AND first_response_at < %s)""",
        [start, end, start, end, start, end],
    )
    earliest = cursor.fetchone()[0] or start
    branches, arrays = [], []
    for inbox in scheduled:
        hours = BusinessHours.of_inbox(inbox)
        first = timezone.localtime(earliest, hours.tz).date() - timedelta(days=1)
        last = timezone.localtime(end, hours.tz).date() + timedelta(days=1)
        windows = hours.windows_between(first, last)
        open_before, total = [], 0.0
        for window_start, window_end in windows:
            open_before.append(total)
            total += (window_end - window_start).total_seconds()
        name = f"hours_{inbox.pk}"
        params.update({f"{name}_starts": [s for s, _ in windows], f"{name}_ends": [e for _, e in windows],
                       f"{name}_open_before": open_before})
        arrays.extend(f"%({name}_{part})s::{kind}[] AS {name}_{part}" for part, kind in
                      (("starts", "timestamptz"), ("ends", "timestamptz"), ("open_before", "float8")))
        starts, ends, before = f"hours.{name}_starts", f"hours.{name}_ends", f"hours.{name}_open_before"

        def open_until(moment: str) -> str:  # the inbox's open seconds from its first window to `moment`
            k = f"width_bucket({moment}, {starts})"
            return f"COALESCE(({before})[{k}] + date_part('epoch', LEAST({moment}, ({ends})[{k}]) - ({starts})[{k}]), 0)"

        branches.append(f"WHEN {inbox.pk} THEN GREATEST(0, {open_until('ends')} - {open_until('starts')})")
    return f"(CASE inbox_id {' '.join(branches)} ELSE calendar_seconds END)", f"CROSS JOIN (SELECT {', '.join(arrays)}) hours", params


def _dimension_sql() -> tuple[str, str]:
    """SQL naming each grouping set's row: its dimension, and its key (the group's id or name,
    NO_KEY for none, '' for the whole desk)."""
    grouping = f"GROUPING({', '.join(GROUP_COLUMNS)})"
    dimension = " ".join(f"WHEN {bits} THEN '{dim.value}'" for bits, (dim, _) in _DIMENSION_OF_GROUPING.items())
    key = " ".join(
        f"WHEN {bits} THEN " + ("''" if column is None else f"COALESCE({column}::text, '{NO_KEY}')")
        for bits, (_, column) in _DIMENSION_OF_GROUPING.items()
    )
    return f"CASE {grouping} {dimension} END", f"CASE {grouping} {key} END"


def _histogram_sql(values: str) -> str:
    """A SORTED float8[] of durations as a jsonb histogram {"bucket": count} (analytics.histograms'
    buckets): the buckets come in order, so they are counted by a group per bucket over the
    unnested values (no hash table per array)."""
    return (
        f"(SELECT jsonb_object_agg(b, n) FROM (SELECT b, count(*) AS n FROM (SELECT {bucket_sql('v')} AS b "
        f"FROM (SELECT unnest({values}) AS v) v) b GROUP BY b ORDER BY b) buckets)"
    )


def _duration_columns(name: str) -> dict[str, str]:
    """A duration's DailyRollup columns, each as SQL over the group's sorted calendar and
    business-hours seconds (`g.cal`, `g.bus`)."""
    columns = {}
    for suffix, values in (("", "g.cal"), ("_business", "g.bus")):
        columns[f"{name}{suffix}_seconds"] = values
        columns[f"{name}{suffix}_median"] = _percentile_sql(values, 0.5)
        columns[f"{name}{suffix}_p90"] = _percentile_sql(values, 0.9)
        columns[f"{name}{suffix}_histogram"] = _histogram_sql(values)
    return columns


# The rollup's figures, each written by exactly one kind of fact.
_FIGURES = [name for facts in _FACTS for name in [*facts.figures, *(_duration_columns(facts.duration) if facts.duration else ())]]
_ARRAYS = {name for name in _FIGURES if name.endswith("_seconds")}
_HISTOGRAMS = {name for name in _FIGURES if name.endswith("_histogram")}
_USAGE_COLUMNS = ["day", "provider", "model", "operation", "calls", "errors", "cache_hits", "input_tokens", "output_tokens",
                  "cost", "latency_ms", "latency_p95_ms"]

# Memory for each sort and hash table of the rollup's statements (SET LOCAL: this transaction
# only). PostgreSQL's default (4MB) spills a 180-day pass's grouping sets to disk.
WORK_MEM = "64MB"


def _facts_sql(facts: Facts, business: str, hours: str) -> tuple[list[str], str]:
    """The figures' names and the SELECT of one kind of fact's figures per (day, dimension, key).
    A duration's values are sorted once per group, into the stored array; its median, p90 and
    histogram are read from that array."""
    dimension, key = _dimension_sql()
    names, values = list(facts.figures), list(facts.figures.values())
    having = f"HAVING {facts.having}" if facts.having else ""
    if not facts.duration:
        return names, f"SELECT day, {dimension}, {key}, {', '.join(values)} FROM ({facts.rows}) f GROUP BY {_GROUPING_SETS} {having}"
    durations = _duration_columns(facts.duration)
    counts = "".join(f"{value} AS {name}, " for name, value in facts.figures.items())
    select = ", ".join(["g.day", "g.dimension", "g.key", *(f"g.{name}" for name in names), *durations.values()])
    return [*names, *durations], f"""WITH {_WITH_SECONDS.format(rows=facts.rows, business=business, hours=hours)}
      SELECT {select} FROM (
        SELECT day, {dimension} AS dimension, {key} AS key, {counts}
               array_agg(calendar_seconds ORDER BY calendar_seconds) AS cal, array_agg(business_seconds ORDER BY business_seconds) AS bus
        FROM durations GROUP BY {_GROUPING_SETS} {having}) g"""


def _rollup_sql(cursor, since: date, until: date) -> tuple[list[str], str, dict]:
    """The DailyRollup columns, the one SELECT computing the rows of the days from `since` to
    `until` straight from the raw tables, and its parameters. Each kind of fact's figures per
    (day, dimension, key) are one branch of a UNION ALL, with NULL for the figures of the
    other kinds; one row per group merges them (each figure comes from one kind of fact, so
    MAX() picks it; a missing count is 0). One statement: the groups' values, arrays included,
    are never written to a table in between."""
    tz = account_zone()
    start, end = day_bounds(since, tz)[0], day_bounds(until, tz)[1]
    cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
    business, hours, hours_params = _opening_hours(cursor, start, end)
    params = {"start": start, "end": end, "tz": tz.key, "since": since, "until": until, **hours_params}
    kinds = {name: "float8[]" if name in _ARRAYS else "jsonb" if name in _HISTOGRAMS else "float8" for name in _FIGURES}
    # Every day has its whole-desk row, zeros included: a day without a row is not rolled up.
    branches = [
        f"SELECT generate_series(%(since)s::date, %(until)s::date, '1 day')::date, '{Dimension.ALL.value}'::text, ''::text, "
        + ", ".join(f"NULL::{kind}" for kind in kinds.values())
    ]
    for facts in _FACTS:
        names, select = _facts_sql(facts, business, hours)
        figures = ", ".join(f"k.{name}::{kind}" if name in names else f"NULL::{kind}" for name, kind in kinds.items())
        branches.append(f"SELECT k.day, k.dimension, k.key, {figures} FROM ({select}) AS k(day, dimension, key, {', '.join(names)})")
    columns, values = ["day", "dimension", "key"], ["day", "dimension", "key"]
    for name in _FIGURES:
        field = DailyRollup._meta.get_field(name)
        columns.append(field.column)
        if name in _ARRAYS:
            values.append(f"COALESCE(MAX({name}), '{{}}')")
        elif name in _HISTOGRAMS:  # jsonb has no MAX()
            values.append(f"COALESCE((array_agg({name}) FILTER (WHERE {name} IS NOT NULL))[1], '{{}}')")
        elif field.get_internal_type() == "FloatField":
            values.append(f"MAX({name})")
        else:
            values.append(f"COALESCE(MAX({name}), 0)::bigint")
    columns.append("computed_at")
    values.append("%(computed_at)s")
    parts = "\nUNION ALL ".join(branches)
    select = (f"SELECT {', '.join(f'{value} AS {column}' for value, column in zip(values, columns))} "
              f"FROM ({parts}) AS parts(day, dimension, key, {', '.join(kinds)}) GROUP BY day, dimension, key")
    return columns, select, params


def days_compute(*, since: date, until: date) -> tuple[list[DailyRollup], list[AIUsageDaily]]:
    """The rows of the days from `since` to `until` (inclusive), computed from the raw tables
    and not stored (today's live figures). Call it inside a transaction."""
    moment = timezone.now()
    with connection.cursor() as cursor:
        columns, select, params = _rollup_sql(cursor, since, until)
        params["computed_at"] = moment
        cursor.execute(select, params)
        rollups = [DailyRollup(**dict(zip(columns, row))) for row in cursor.fetchall()]
        cursor.execute(_AI_USAGE, params)
        usage = [AIUsageDaily(computed_at=moment, **dict(zip(_USAGE_COLUMNS, row))) for row in cursor.fetchall()]
    return rollups, usage


def days_rollup(*, since: date, until: date) -> int:
    """Recompute the days from `since` to `until` and replace their rows, all in one
    transaction and all in SQL: the same days twice give the same rows, and a worker killed
    half-way leaves the previous rows. Returns the number of rows written."""
    with transaction.atomic(), connection.cursor() as cursor:
        # Two runs over the same day of the same tenant wait for each other, never interleave
        # (days locked in order, so two overlapping ranges cannot deadlock).
        for n in range((until - since).days + 1):
            day = since + timedelta(days=n)
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"analytics:{connection.schema_name}:{day.isoformat()}"])
        started = timezone.now()
        columns, select, params = _rollup_sql(cursor, since, until)
        params["computed_at"] = started
        for table in (DailyRollup._meta.db_table, AIUsageDaily._meta.db_table):
            cursor.execute(f"DELETE FROM {table} WHERE day BETWEEN %(since)s AND %(until)s", params)
        cursor.execute(f"INSERT INTO {DailyRollup._meta.db_table} ({', '.join(columns)}) {select}", params)
        written = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {AIUsageDaily._meta.db_table} ({', '.join(_USAGE_COLUMNS)}, computed_at) "
            f"SELECT usage.*, %(computed_at)s FROM ({_AI_USAGE}) usage",
            params,
        )
        presence_days_replace(cursor=cursor, params=params)  # agents' time online (analytics.presence)
        # A day marked again while this ran keeps its mark (marked_at is later): recomputed next time.
        ReportingDirtyDay.objects.filter(day__gte=since, day__lte=until, marked_at__lte=started).delete()
    return written


def day_rollup(*, day: date) -> int:
    return days_rollup(since=day, until=day)


def day_live(*, day: date) -> tuple[list[DailyRollup], list[AIUsageDaily]]:
    """Today's figures, straight from the raw tables, never stored (the day is not over)."""
    with transaction.atomic():
        return days_compute(since=day, until=day)


# Days recomputed together in one transaction (one pass over the raw tables per kind of fact).
DAYS_PER_PASS = 31


def day_runs(days, *, longest: int = DAYS_PER_PASS) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) ranges of at most `longest` days."""
    runs: list[list[date]] = []
    for day in sorted(set(days)):
        if runs and (day - runs[-1][1]).days == 1 and (day - runs[-1][0]).days < longest:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(first, last) for first, last in runs]
