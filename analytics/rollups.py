"""The daily rollups: one day of one tenant computed from the raw tables in SQL, and replaced
whole in one transaction.

How a day is computed: each kind of fact (conversations opened, status events, messages,
first responses, replies, ratings, AI rows) is one SELECT of that day's facts with the
conversation's groups beside them; PostgreSQL aggregates each over GROUPING SETS (the whole
desk, per inbox, team, agent, category, priority) with `percentile_cont` for the durations;
the groups' figures are merged into one DailyRollup row per group. Durations in business hours
are measured in SQL against the inboxes' opening windows (from conversations/business_hours.py),
put in a temporary table for the transaction.

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

from analytics.histograms import histogram_sql
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


# A fact with a duration (columns `starts`, `ends`, `inbox_id`) gets its calendar and
# business-hours seconds computed once, as columns, before the aggregates read them.
_WITH_SECONDS = (
    "SELECT d.*, EXTRACT(EPOCH FROM d.ends - d.starts)::float8 AS calendar_seconds, "
    "(CASE WHEN d.inbox_id = ANY(%(always_open)s) THEN EXTRACT(EPOCH FROM d.ends - d.starts) ELSE COALESCE(("
    "SELECT SUM(EXTRACT(EPOCH FROM LEAST(w.ends, d.ends) - GREATEST(w.starts, d.starts))) FROM pg_temp.analytics_windows w "
    "WHERE w.inbox_id = d.inbox_id AND w.starts < d.ends AND w.ends > d.starts), 0) END)::float8 AS business_seconds "
    "FROM ({rows}) d"
)


def _durations(name: str) -> dict[str, str]:
    """Median, p90 and the values themselves of a duration, in calendar time and business hours."""
    figures = {}
    for suffix, value in (("", "calendar_seconds"), ("_business", "business_seconds")):
        figures[f"{name}{suffix}_seconds"] = f"COALESCE(array_agg({value} ORDER BY {value}), '{{}}')"
        figures[f"{name}{suffix}_median"] = f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {value})"
        figures[f"{name}{suffix}_p90"] = f"percentile_cont(0.9) WITHIN GROUP (ORDER BY {value})"
    return figures


@dataclass(frozen=True)
class Facts:
    """One kind of fact of the day: `rows` selects them (with GROUP_COLUMNS), `figures` are
    the aggregates (DailyRollup field -> SQL) over a group of them."""

    rows: str
    figures: dict[str, str]


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
                     EXISTS (SELECT 1 FROM {_M} m WHERE m.conversation_id = e.conversation_id AND m.kind = 'text'
                             AND m.sender_type = 'ai' AND m.created_at <= e.created_at) AS ai_replied,
                     EXISTS (SELECT 1 FROM {_M} m WHERE m.conversation_id = e.conversation_id AND m.kind = 'text'
                             AND m.sender_type = 'agent' AND m.direction = 'outgoing' AND m.created_at <= e.created_at) AS agent_replied
                   FROM {_E} e JOIN {_C} c ON c.id = e.conversation_id
                   WHERE e.action = 'status_changed' AND e.new_value = 'resolved'
                     AND e.created_at >= %(start)s AND e.created_at < %(end)s) f""",
        figures={
            "conversations_resolved": "COUNT(DISTINCT conversation_id)",
            "ai_deflected": "COUNT(DISTINCT conversation_id) FILTER (WHERE deflected)",
            **_durations("resolution"),
        },
    ),
    Facts(  # messages the customer and the desk exchanged (no notes, no activity lines)
        rows=f"""SELECT {_groups("CASE WHEN m.direction = 'incoming' THEN c.assignee_id WHEN m.sender_type = 'agent' THEN m.sender_id END", "m.created_at")},
                        m.direction, m.sender_type, m.conversation_id
                 FROM {_M} m JOIN {_C} c ON c.id = m.conversation_id
                 WHERE m.kind = 'text' AND m.created_at >= %(start)s AND m.created_at < %(end)s""",
        figures={
            "messages_in": "COUNT(*) FILTER (WHERE direction = 'incoming')",
            "messages_out": "COUNT(*) FILTER (WHERE direction = 'outgoing')",
            "conversations_handled": "COUNT(DISTINCT conversation_id) FILTER (WHERE direction = 'outgoing')",
            "ai_auto_replies": "COUNT(*) FILTER (WHERE direction = 'outgoing' AND sender_type = 'ai')",
        },
    ),
    Facts(  # first responses, by the day of the response; the agent is who gave it
        rows=f"""SELECT {_groups("first_reply.sender_id", "c.first_response_at")}, c.created_at AS starts, c.first_response_at AS ends
                   FROM {_C} c LEFT JOIN LATERAL (
                     SELECT m.sender_id FROM {_M} m WHERE m.conversation_id = c.id AND m.direction = 'outgoing'
                       AND m.kind = 'text' ORDER BY m.created_at, m.id LIMIT 1) first_reply ON TRUE
                   WHERE c.first_response_at >= %(start)s AND c.first_response_at < %(end)s""",
        figures=_durations("first_response"),
    ),
    Facts(  # every later wait, answered that day: a reply time of its own. A customer message
            # belongs to the wait after the replies before it; the reply that ends the wait is the
            # next one (replies_before equal), the first reply (replies_before 0) excluded.
        rows=f"""WITH thread AS (
                   SELECT m.id, m.conversation_id, m.direction, m.sender_type, m.sender_id, m.created_at,
                          COALESCE(SUM(CASE WHEN m.direction = 'outgoing' THEN 1 ELSE 0 END) OVER (
                            PARTITION BY m.conversation_id ORDER BY m.created_at, m.id
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS replies_before
                   FROM {_M} m WHERE m.kind = 'text' AND m.conversation_id IN (
                     SELECT conversation_id FROM {_M} WHERE kind = 'text' AND direction = 'outgoing'
                       AND created_at >= %(start)s AND created_at < %(end)s)
                 ), waits AS (
                   SELECT conversation_id, replies_before, MIN(created_at) AS starts FROM thread
                   WHERE direction = 'incoming' GROUP BY conversation_id, replies_before
                 )
                 SELECT {_groups("CASE WHEN t.sender_type = 'agent' THEN t.sender_id END", "t.created_at")}, w.starts, t.created_at AS ends
                 FROM thread t JOIN waits w ON w.conversation_id = t.conversation_id AND w.replies_before = t.replies_before
                 JOIN {_C} c ON c.id = t.conversation_id
                 WHERE t.direction = 'outgoing' AND t.replies_before >= 1
                   AND t.created_at >= %(start)s AND t.created_at < %(end)s""",
        figures=_durations("reply"),
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


def _windows_load(cursor, start: datetime, end: datetime) -> list[int]:
    """Fill the transaction's table of opening windows for the durations that end in
    [start, end); returns the ids of the inboxes that are always open."""
    cursor.execute("DROP TABLE IF EXISTS pg_temp.analytics_windows")
    cursor.execute("CREATE TEMP TABLE analytics_windows (inbox_id bigint, starts timestamptz, ends timestamptz) ON COMMIT DROP")
    always_open, rows = [], []
    inboxes = list(Inbox.objects.only("pk", "timezone", "business_hours"))
    scheduled = [inbox for inbox in inboxes if inbox.business_hours]
    always_open = [inbox.pk for inbox in inboxes if not inbox.business_hours]
    if scheduled:
        # The earliest start of any duration ending today is its conversation's opening.
        cursor.execute(
            f"""SELECT MIN(c.created_at) FROM {_C} c WHERE c.id IN (
                  SELECT conversation_id FROM {_M} WHERE kind = 'text' AND direction = 'outgoing' AND created_at >= %s AND created_at < %s
                  UNION SELECT conversation_id FROM {_E} WHERE action = 'status_changed' AND created_at >= %s AND created_at < %s)""",
            [start, end, start, end],
        )
        earliest = cursor.fetchone()[0]
        if earliest is not None:
            for inbox in scheduled:
                hours = BusinessHours.of_inbox(inbox)
                first = timezone.localtime(earliest, hours.tz).date() - timedelta(days=1)
                last = timezone.localtime(end, hours.tz).date() + timedelta(days=1)
                rows.extend((inbox.pk, s, e) for s, e in hours.windows_between(first, last))
    if rows:
        cursor.executemany("INSERT INTO pg_temp.analytics_windows VALUES (%s, %s, %s)", rows)
        cursor.execute("CREATE INDEX ON pg_temp.analytics_windows (inbox_id, starts)")
    return always_open


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


# The rollup's figures, each written by exactly one kind of fact.
_FIGURES = [name for facts in _FACTS for name in facts.figures]
_ARRAYS = {name for name in _FIGURES if name.endswith("_seconds")}
_USAGE_COLUMNS = ["day", "provider", "model", "operation", "calls", "errors", "cache_hits", "input_tokens", "output_tokens",
                  "cost", "latency_ms", "latency_p95_ms"]


def _parts_load(cursor, since: date, until: date) -> dict:
    """Each kind of fact's figures per (day, dimension, key), into a temporary table of the
    transaction; returns the query parameters. Everything stays in PostgreSQL."""
    tz = account_zone()
    start, end = day_bounds(since, tz)[0], day_bounds(until, tz)[1]
    params = {"start": start, "end": end, "tz": tz.key, "since": since, "until": until,
              "always_open": _windows_load(cursor, start, end)}
    cursor.execute("DROP TABLE IF EXISTS pg_temp.analytics_parts")
    columns = ", ".join(f"{name} {'float8[]' if name in _ARRAYS else 'float8'}" for name in _FIGURES)
    cursor.execute(f"CREATE TEMP TABLE analytics_parts (day date, dimension text, key text, {columns}) ON COMMIT DROP")
    # Every day has its whole-desk row, zeros included: a day without a row is not rolled up.
    cursor.execute(
        "INSERT INTO pg_temp.analytics_parts (day, dimension, key) "
        f"SELECT generate_series(%(since)s::date, %(until)s::date, '1 day')::date, '{Dimension.ALL.value}', ''",
        params,
    )
    dimension, key = _dimension_sql()
    for facts in _FACTS:
        names = list(facts.figures)
        cursor.execute(
            f"INSERT INTO pg_temp.analytics_parts (day, dimension, key, {', '.join(names)}) "
            f"SELECT day, {dimension}, {key}, {', '.join(facts.figures.values())} "
            f"FROM ({_WITH_SECONDS.format(rows=facts.rows) if 'calendar_seconds' in str(facts.figures) else facts.rows}) f "
            f"GROUP BY {_GROUPING_SETS}",
            params,
        )
    return params


def _merged_sql() -> tuple[list[str], str]:
    """The DailyRollup columns and the SELECT merging the parts into one row per group (each
    figure comes from one kind of fact, so MAX() picks it; a missing count is 0)."""
    columns, values = ["day", "dimension", "key"], ["day", "dimension", "key"]
    for name in _FIGURES:
        field = DailyRollup._meta.get_field(name)
        columns.append(field.column)
        if name in _ARRAYS:
            values.append(f"COALESCE(MAX({name}), '{{}}')")
        elif field.get_internal_type() == "FloatField":
            values.append(f"MAX({name})")
        else:
            values.append(f"COALESCE(MAX({name}), 0)::bigint")
    columns.append("computed_at")
    values.append("%(computed_at)s")
    merged = f"SELECT {', '.join(f'{value} AS {column}' for value, column in zip(values, columns))} FROM pg_temp.analytics_parts GROUP BY day, dimension, key"
    histograms = {name.replace("_seconds", "_histogram"): histogram_sql(f"m.{name}") for name in _FIGURES if name in _ARRAYS}
    columns.extend(histograms)
    return columns, f"SELECT m.*, {', '.join(histograms.values())} FROM ({merged}) m"


def days_compute(*, since: date, until: date) -> tuple[list[DailyRollup], list[AIUsageDaily]]:
    """The rows of the days from `since` to `until` (inclusive), computed from the raw tables
    and not stored (today's live figures). Call it inside a transaction."""
    moment = timezone.now()
    with connection.cursor() as cursor:
        params = {**_parts_load(cursor, since, until), "computed_at": moment}
        columns, select = _merged_sql()
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
        params = {**_parts_load(cursor, since, until), "computed_at": started}
        for table in (DailyRollup._meta.db_table, AIUsageDaily._meta.db_table):
            cursor.execute(f"DELETE FROM {table} WHERE day BETWEEN %(since)s AND %(until)s", params)
        columns, select = _merged_sql()
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
