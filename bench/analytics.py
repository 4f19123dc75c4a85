"""Analytics at a big tenant's size: 100,000 conversations, ~1,000,000 messages over 180 days.

    .venv/bin/python bench/analytics.py [--conversations 100000] [--rounds 10] [--rebuild] [--pages-only]

Builds the tenant once in its own database, `hearth_analytics_bench`, on the embedded
PostgreSQL (or DATABASE_URL's server), with COPY from a fixed seed, and reuses it later
(`--rebuild` makes it again). The tenant's time zone is Europe/Paris; two of its four inboxes
keep weekday business hours. Each conversation alternates customer messages and replies (5% by
the AI), 70% are resolved (3% of those reopened and resolved again), 30% of the resolved are
rated, each has an AI classification call in the ledger.

Then prints, in one run:
(a) the rollup of all 180 days (analytics.rollups, every dimension, business hours, AI) against
    ONE hand-written SQL query computing, for every dimension the rollup has (whole desk, inbox,
    team, agent, category, priority), the same twelve figures per day straight from the raw
    tables (volume, messages, first response, reply and resolution median/p90, CSAT), the ratio
    of their times, and a check that both give the same numbers on every (day, group) row (the
    rollup also computes business hours, SLA and AI figures, which the query does not). The
    query runs twice: with the server's settings, and with the work_mem the rollup's
    transaction sets itself (like for like);
(b) p50/p95 of each analytics page and of the summary API over 90 days, in-process through
    Django's test Client with DEBUG off.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from contextlib import contextmanager
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


from bench.bulk_tenant import bench_account_drop, bench_database_url, configure_django, tenant_conversations  # noqa: E402

BENCH_DB = "hearth_analytics_bench"
SLUG = "analytics"
HOST = f"{SLUG}.localhost"
TZ = ZoneInfo("Europe/Paris")
DAYS = 180
TEAMS = ["Billing", "Technical", "Shipping", "Returns", "Sales", "Accounts"]
AGENTS = 20
CATEGORIES = ["billing", "shipping", "returns", "technical", "account", "sales", ""]
PASSWORD = "bench-password-1"
WEEKDAYS_9_TO_6 = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


# --------------------------------------------------------------------------- the build


def tenant_ready(conversations: int) -> bool:
    return tenant_conversations(SLUG) == conversations


def make_account() -> dict:
    from django_tenants.utils import schema_context

    from accounts.models import Membership, User
    from accounts.services import account_create, membership_add

    bench_account_drop(SLUG)
    account = account_create(name="Analytics Corp", slug=SLUG, owner_email=f"owner@{SLUG}.example", owner_password=PASSWORD,
                             timezone=TZ.key, plan="enterprise").account  # a load test: no plan limits

    def member(email, role, name):
        user = User.objects.filter(email=email).first() or User.objects.create_user(email, PASSWORD, full_name=name)
        membership_add(user=user, account=account, role=role, availability=Membership.Availability.ONLINE)
        return user

    member(f"manager@{SLUG}.example", Membership.Role.MANAGER, "Morgan Manager")
    agents = [member(f"agent{i:02d}@{SLUG}.example", Membership.Role.AGENT, f"Agent {i:02d}") for i in range(1, AGENTS + 1)]
    with schema_context(SLUG):
        from conversations.models import Inbox, Team

        teams = [Team.objects.create(name=name, auto_assign=False) for name in TEAMS]
        inboxes = [
            Inbox.objects.create(name=name, auto_assign=False, timezone=TZ.key, business_hours=hours)
            for name, hours in [("Website chat", {}), ("Support email", WEEKDAYS_9_TO_6), ("Mobile app", {}), ("Partners", WEEKDAYS_9_TO_6)]
        ]
    return {"agents": [a.pk for a in agents], "teams": [t.pk for t in teams], "inboxes": [i.pk for i in inboxes]}


def load_rows(people: dict, conversations: int, today: date) -> None:
    from django.db import connection

    rng = random.Random(11)
    first_day = datetime.combine(today - timedelta(days=DAYS), dtime(0), tzinfo=TZ)
    last_moment = datetime.combine(today, dtime(0), tzinfo=TZ) - timedelta(seconds=1)
    span = (last_moment - first_day).total_seconds()
    connection.ensure_connection()
    raw = connection.connection
    raw.execute(f'SET search_path TO "{SLUG}", public')
    contacts = max(1000, conversations // 5)
    with raw.cursor().copy("COPY conversations_contact (id, name, email, phone, custom_attributes, business_fields, blocked, created_at) FROM STDIN") as copy:
        for i in range(1, contacts + 1):
            copy.write_row((i, f"Customer {i}", f"customer{i}@example.org", "", "{}", "{}", False, first_day))
    raw.execute("SELECT setval(pg_get_serial_sequence('conversations_contact', 'id'), %s)", [contacts])
    agent_names = {pk: f"Agent {n:02d}" for n, pk in enumerate(people["agents"], start=1)}
    rows, messages, events, ratings, calls = [], [], [], [], []
    for i in range(1, conversations + 1):
        created = first_day + timedelta(seconds=span * (i - 1) / conversations + rng.randint(0, 600))
        created = min(created, last_moment - timedelta(hours=1))
        assignee = rng.choice(people["agents"]) if rng.random() < 0.9 else None
        thread = []
        moment = created
        for n in range(rng.choice([2, 4, 6, 8, 10, 10, 12, 14, 16, 18])):
            incoming = n % 2 == 0
            if n:
                moment += timedelta(minutes=rng.choice([2, 5, 15, 40, 90, 240, 600]) + rng.random())
            if moment >= last_moment:
                break
            sender = "contact" if incoming else ("ai" if rng.random() < 0.05 or assignee is None else "agent")
            thread.append((incoming, sender, moment))
        first_reply = next((m for incoming, _, m in thread if not incoming), None)
        last = thread[-1][2]
        status, resolved_at = "open", None
        if rng.random() < 0.7 and last + timedelta(hours=2) < last_moment:
            status = "resolved"
            resolved_at = last + timedelta(minutes=rng.randint(5, 100))
            if rng.random() < 0.03 and resolved_at + timedelta(hours=3) < last_moment:
                # resolved, reopened by a follow-up status change, resolved again
                reopened = resolved_at + timedelta(minutes=30)
                events.append((i, "agent", assignee, agent_names.get(assignee, ""), "status_changed", "status", "open", "resolved", resolved_at))
                events.append((i, "agent", assignee, agent_names.get(assignee, ""), "status_changed", "status", "resolved", "open", reopened))
                resolved_at = reopened + timedelta(minutes=rng.randint(10, 100))
            events.append((i, "agent", assignee, agent_names.get(assignee, ""), "status_changed", "status", "open", "resolved", resolved_at))
            if rng.random() < 0.3:
                ratings.append((i, rng.choices([1, 2, 3, 4, 5], [5, 5, 10, 30, 50])[0], "", resolved_at + timedelta(minutes=rng.randint(1, 900))))
        events.append((i, "contact", None, "", "opened", "", "", "", created))
        due = created + timedelta(hours=1) if rng.random() < 0.5 else None
        rows.append((
            i, i, rng.choice(people["inboxes"]), rng.randint(1, contacts), f"Question {i}", status, rng.choice([0, 0, 1, 2, 3, 4]),
            assignee, rng.choice(people["teams"]) if rng.random() < 0.9 else None, None, first_reply, resolved_at,
            "agent" if resolved_at else "", last, created, rng.choice(CATEGORIES), None,
            bool(due and (first_reply is None or first_reply > due)), False, due,
        ))
        for incoming, sender, moment in thread:
            messages.append((i, "incoming" if incoming else "outgoing", "text", sender, None if sender in ("contact", "ai") else assignee, "text", "[]", moment))
        cached = rng.random() < 0.2
        calls.append(("classify", "local", "e5-small", 40, 0, False, 0, 0, 0.0 if cached else rng.uniform(5, 80), cached,
                      "error" if rng.random() < 0.02 else "ok", "", i, None, created + timedelta(seconds=2)))
        if i % 20000 == 0:
            print(f"  generated {i:,} conversations", flush=True)
    copies = [
        ("conversations_conversation (id, number, inbox_id, contact_id, subject, status, priority, assignee_id, team_id, waiting_since, "
         "first_response_at, resolved_at, resolved_by, last_activity_at, created_at, ai_category, ai_confidence, "
         "first_response_breached, resolution_breached, first_response_due_at)", rows),
        ("conversations_message (conversation_id, direction, kind, sender_type, sender_id, content, attachments, created_at)", messages),
        ("conversations_conversationevent (conversation_id, actor_type, actor_id, actor_name, action, field, old_value, new_value, created_at, reason)",
         [(*event, "") for event in events]),
        ("conversations_csatresponse (conversation_id, rating, comment, created_at)", ratings),
        ("ai_aicall (operation, provider, model, input_tokens, output_tokens, tokens_estimated, cost, cost_saved, latency_ms, cache_hit, "
         "status, error, conversation_id, message_id, created_at)", calls),
    ]
    for target, data in copies:
        started = time.monotonic()
        with raw.cursor().copy(f"COPY {target} FROM STDIN") as copy:
            for row in data:
                copy.write_row(row)
        print(f"  {len(data):>9,} rows into {target.split(' ')[0]} in {time.monotonic() - started:.1f} s", flush=True)
    raw.execute("ANALYZE")


def build(*, conversations: int, rebuild: bool) -> None:
    from django.core.management import call_command
    from django_tenants.utils import schema_context

    from analytics.rollups import account_today

    call_command("migrate_schemas", "--noinput", verbosity=0)
    if tenant_ready(conversations) and not rebuild:
        print("tenant already built: reusing it (--rebuild to make it again)", flush=True)
        return
    started = time.monotonic()
    people = make_account()
    from accounts.models import Account
    from django_tenants.utils import tenant_context

    with tenant_context(Account.objects.get(schema_name=SLUG)):
        today = account_today()
    load_rows(people, conversations, today)
    print(f"built in {time.monotonic() - started:.0f} s", flush=True)


# --------------------------------------------------------------------------- (a) rollup vs one query

# The same twelve figures as the rollup's, for EVERY dimension it computes (the whole desk, per
# inbox, team, agent, category, priority: the same GROUPING SETS and the same attribution of
# facts to agents), written by hand straight from the raw tables.
_GROUPS = "GROUPING SETS ((day), (day, inbox_id), (day, team_id), (day, agent_id), (day, category), (day, priority))"
_DIM = ("CASE GROUPING(inbox_id, team_id, agent_id, category, priority) WHEN 31 THEN 'all' WHEN 15 THEN 'inbox' "
        "WHEN 23 THEN 'team' WHEN 27 THEN 'agent' WHEN 29 THEN 'category' WHEN 30 THEN 'priority' END")
_KEY = ("CASE GROUPING(inbox_id, team_id, agent_id, category, priority) WHEN 31 THEN '' "
        "WHEN 15 THEN COALESCE(inbox_id::text, 'none') WHEN 23 THEN COALESCE(team_id::text, 'none') "
        "WHEN 27 THEN COALESCE(agent_id::text, 'none') WHEN 29 THEN COALESCE(category, 'none') "
        "WHEN 30 THEN COALESCE(priority::text, 'none') END")


def _g(agent: str, moment: str) -> str:
    return (f"({moment} AT TIME ZONE %(tz)s)::date AS day, c.inbox_id, c.team_id, {agent} AS agent_id, "
            "NULLIF(c.ai_category, '') AS category, c.priority")


HAND_WRITTEN = f"""
WITH
opened AS (
  SELECT day, {_DIM} AS dim, {_KEY} AS key, count(*) AS n FROM (
    SELECT {_g('c.assignee_id', 'c.created_at')} FROM conversations_conversation c
    WHERE c.created_at >= %(start)s AND c.created_at < %(end)s) f GROUP BY {_GROUPS}),
texts AS (
  SELECT day, {_DIM} AS dim, {_KEY} AS key, count(*) FILTER (WHERE direction = 'incoming') AS i,
         count(*) FILTER (WHERE direction = 'outgoing') AS o FROM (
    SELECT {_g("CASE WHEN m.direction = 'incoming' THEN c.assignee_id WHEN m.sender_type = 'agent' THEN m.sender_id END", 'm.created_at')},
           m.direction FROM conversations_message m JOIN conversations_conversation c ON c.id = m.conversation_id
    WHERE m.kind = 'text' AND m.created_at >= %(start)s AND m.created_at < %(end)s) f GROUP BY {_GROUPS}),
first_responses AS (
  SELECT day, {_DIM} AS dim, {_KEY} AS key, percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY s) AS p FROM (
    SELECT {_g('fr.sender_id', 'c.first_response_at')}, EXTRACT(EPOCH FROM c.first_response_at - c.created_at)::float8 AS s
    FROM conversations_conversation c LEFT JOIN LATERAL (
      SELECT m.sender_id FROM conversations_message m WHERE m.conversation_id = c.id AND m.direction = 'outgoing'
        AND m.kind = 'text' ORDER BY m.created_at, m.id LIMIT 1) fr ON TRUE
    WHERE c.first_response_at >= %(start)s AND c.first_response_at < %(end)s) f GROUP BY {_GROUPS}),
thread AS (
  SELECT conversation_id, direction, sender_type, sender_id, created_at,
         COALESCE(SUM(CASE WHEN direction = 'outgoing' THEN 1 ELSE 0 END) OVER (
           PARTITION BY conversation_id ORDER BY created_at, id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS replies_before
  FROM conversations_message WHERE kind = 'text' AND conversation_id IN (
    SELECT conversation_id FROM conversations_message WHERE kind = 'text' AND direction = 'outgoing'
      AND created_at >= %(start)s AND created_at < %(end)s)),
waits AS (
  SELECT conversation_id, replies_before, MIN(created_at) AS starts FROM thread WHERE direction = 'incoming' GROUP BY 1, 2),
replies AS (
  SELECT day, {_DIM} AS dim, {_KEY} AS key, percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY s) AS p FROM (
    SELECT {_g("CASE WHEN t.sender_type = 'agent' THEN t.sender_id END", 't.created_at')}, EXTRACT(EPOCH FROM t.created_at - w.starts)::float8 AS s
    FROM thread t JOIN waits w ON w.conversation_id = t.conversation_id AND w.replies_before = t.replies_before
    JOIN conversations_conversation c ON c.id = t.conversation_id
    WHERE t.direction = 'outgoing' AND t.replies_before >= 1 AND t.created_at >= %(start)s AND t.created_at < %(end)s) f
  GROUP BY {_GROUPS}),
status_events AS (
  SELECT e.conversation_id, e.created_at, e.new_value, e.actor_type, e.actor_id,
         MAX(CASE WHEN e.old_value = 'resolved' AND e.new_value <> 'resolved' THEN e.created_at END) OVER (
           PARTITION BY e.conversation_id ORDER BY e.created_at, e.id) AS reopened_at
  FROM conversations_conversationevent e WHERE e.action = 'status_changed' AND e.created_at < %(end)s),
resolutions AS (
  SELECT day, {_DIM} AS dim, {_KEY} AS key, count(DISTINCT conversation_id) AS n,
         percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY s) AS p FROM (
    SELECT {_g("CASE WHEN e.actor_type = 'agent' THEN e.actor_id END", 'e.created_at')}, e.conversation_id,
           EXTRACT(EPOCH FROM e.created_at - COALESCE(e.reopened_at, c.created_at))::float8 AS s
    FROM status_events e JOIN conversations_conversation c ON c.id = e.conversation_id
    WHERE e.new_value = 'resolved' AND e.created_at >= %(start)s) f GROUP BY {_GROUPS}),
ratings AS (
  SELECT day, {_DIM} AS dim, {_KEY} AS key, count(*) AS n, sum(rating) AS total FROM (
    SELECT {_g('c.assignee_id', 'r.created_at')}, r.rating FROM conversations_csatresponse r
    JOIN conversations_conversation c ON c.id = r.conversation_id
    WHERE r.created_at >= %(start)s AND r.created_at < %(end)s) f GROUP BY {_GROUPS}),
keys AS (
  SELECT generate_series(%(first)s::date, %(last)s::date, '1 day')::date AS day, 'all' AS dim, '' AS key
  UNION SELECT day, dim, key FROM opened UNION SELECT day, dim, key FROM texts UNION SELECT day, dim, key FROM first_responses
  UNION SELECT day, dim, key FROM replies UNION SELECT day, dim, key FROM resolutions UNION SELECT day, dim, key FROM ratings)
SELECT k.day, k.dim, k.key, COALESCE(o.n, 0), COALESCE(r.n, 0), COALESCE(t.i, 0), COALESCE(t.o, 0), f.p[1], f.p[2], rp.p[1], rp.p[2],
       r.p[1], r.p[2], COALESCE(c.n, 0), COALESCE(c.total, 0)
FROM keys k LEFT JOIN opened o USING (day, dim, key) LEFT JOIN texts t USING (day, dim, key)
LEFT JOIN first_responses f USING (day, dim, key) LEFT JOIN replies rp USING (day, dim, key)
LEFT JOIN resolutions r USING (day, dim, key) LEFT JOIN ratings c USING (day, dim, key)
WHERE k.day BETWEEN %(first)s AND %(last)s
"""
FIELDS = ["conversations_opened", "conversations_resolved", "messages_in", "messages_out", "first_response_median", "first_response_p90",
          "reply_median", "reply_p90", "resolution_median", "resolution_p90", "csat_responses", "csat_sum"]


def rollup_against_sql() -> None:
    from django.db import connection, transaction
    from django_tenants.utils import tenant_context

    from accounts.models import Account
    from analytics.models import DailyRollup
    from analytics.rollups import WORK_MEM, account_today, day_bounds, day_runs, days_rollup

    with tenant_context(Account.objects.get(schema_name=SLUG)):
        today = account_today()
        first, last = today - timedelta(days=DAYS), today - timedelta(days=1)
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        started = time.perf_counter()
        for since, until in day_runs(days):  # as analytics_backfill does: a month per transaction
            days_rollup(since=since, until=until)
        monthly_seconds = time.perf_counter() - started
        started = time.perf_counter()
        days_rollup(since=first, until=last)  # all 180 days in one pass
        rollup_seconds = time.perf_counter() - started
        hand_params = {"tz": TZ.key, "start": day_bounds(first)[0], "end": day_bounds(last)[1], "first": first, "last": last}
        started = time.perf_counter()
        with connection.cursor() as cursor:  # the server's settings, as any query gets them
            cursor.execute(HAND_WRITTEN, hand_params)
            hand = {row[:3]: row[3:] for row in cursor.fetchall()}
        sql_seconds = time.perf_counter() - started
        # The same query with the memory the rollup's transaction gives itself (SET LOCAL
        # work_mem): the like-for-like comparison.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
            started = time.perf_counter()
            cursor.execute(HAND_WRITTEN, hand_params)
            same_memory = {row[:3]: row[3:] for row in cursor.fetchall()}
            sql_same_memory_seconds = time.perf_counter() - started
        stored = {(row["day"], row["dimension"], row["key"]): tuple(row[f] for f in FIELDS)
                  for row in DailyRollup.objects.filter(day__gte=first, day__lte=last).values("day", "dimension", "key", *FIELDS)}
        rows = len(stored)
    # Every (day, group) either side has, compared figure by figure (a group only the rollup
    # has, from a fact kind outside these twelve figures, must be all zeros here).
    zeros = (0, 0, 0, 0, None, None, None, None, None, None, 0, 0)
    mismatches = [group for group in sorted(set(hand) | set(stored), key=str) if not _same(hand.get(group, zeros), stored.get(group, zeros))]
    if same_memory != hand:
        mismatches.insert(0, "the hand-written query with more memory")
    print(f"(a) rollup of {DAYS} days, every dimension ({rows:,} rows), in one pass: {rollup_seconds:.1f} s "
          f"(in 31-day passes, as the backfill: {monthly_seconds:.1f} s);\n"
          f"    one hand-written query, the same twelve figures for every dimension: {sql_seconds:.1f} s; ratio {rollup_seconds / sql_seconds:.2f}x "
          f"({monthly_seconds / sql_seconds:.2f}x in 31-day passes);\n"
          f"    the same query with the rollup's work_mem ({WORK_MEM}): {sql_same_memory_seconds:.1f} s; ratio {rollup_seconds / sql_same_memory_seconds:.2f}x "
          f"({monthly_seconds / sql_same_memory_seconds:.2f}x in 31-day passes); load {os.getloadavg()[0]:.1f}")
    groups = len(set(hand) | set(stored))
    print(f"    same numbers on {groups - len(mismatches)} of {groups} (day, group) rows" + (f"; first mismatch {mismatches[0]}: {hand.get(mismatches[0])} vs {stored.get(mismatches[0])}" if mismatches else ""))


def _same(a, b) -> bool:
    if b is None:
        return False
    return all((x is None and y is None) or (x is not None and y is not None and abs(float(x) - float(y)) < 1e-6) for x, y in zip(a, b))


# --------------------------------------------------------------------------- (b) pages and API


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def pages_and_api(rounds: int) -> None:
    from django.conf import settings
    from django.test import Client, override_settings
    from django_tenants.utils import tenant_context

    from accounts.models import Account, User
    from accounts.services import api_token_create
    from analytics.rollups import account_today

    account = Account.objects.get(schema_name=SLUG)
    manager = User.objects.get(email=f"manager@{SLUG}.example")
    with tenant_context(account):
        today = account_today()
    key = api_token_create(user=manager, account=account, name="bench")[1]
    static = override_settings(STORAGES={**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}})
    static.enable()
    client = Client(HTTP_HOST=HOST)
    if client.post("/admin/login/", {"username": manager.email, "password": PASSWORD}, secure=True).status_code != 302:
        raise SystemExit("could not sign in as the manager")
    since = (today - timedelta(days=89)).isoformat()
    pages = ("", "agents/", "teams/", "inboxes/", "categories/", "ai/", "csat/", "months/")
    targets = [(f"page {name or 'overview'}", f"/admin/analytics/{name}?period=90", {}) for name in pages]
    targets.append(("summary API", f"/api/v1/reports/summary?since={since}&until={today.isoformat()}", {"HTTP_AUTHORIZATION": f"Token {key}"}))
    targets.append(("daily API by team", f"/api/v1/reports/daily?since={since}&until={today.isoformat()}&group_by=team", {"HTTP_AUTHORIZATION": f"Token {key}"}))
    targets.append(("monthly API", f"/api/v1/reports/monthly?since={since}&until={today.isoformat()}", {"HTTP_AUTHORIZATION": f"Token {key}"}))
    print(f"(b) 90 days, in-process test Client, DEBUG off, {rounds} timed requests after one warm-up (today live from the raw tables);")
    print("    per request (medians): queries, time in SQL, time in the template, the rest (Python: view, middleware, serialising),")
    print("    and the CPU time of this (web) process, which a busy machine inflates far less than the wall clock")
    print(f"    {'what':<24}{'p50 ms':>9}{'p95 ms':>9}{'queries':>9}{'SQL ms':>9}{'tmpl ms':>9}{'rest ms':>9}{'CPU ms':>9}")
    for name, url, headers in targets:
        response = client.get(url, secure=True, **headers)
        if response.status_code != 200:
            raise SystemExit(f"{name}: HTTP {response.status_code}")
        timings, counts, sql, templates, cpu = [], [], [], [], []
        for _ in range(rounds):
            with _measured() as measured:
                started, started_cpu = time.perf_counter(), time.process_time()
                client.get(url, secure=True, **headers)
                timings.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
            counts.append(measured["queries"])
            sql.append(measured["sql"])
            templates.append(measured["template"])
        p50 = percentile(timings, 50)
        rest = p50 - percentile(sql, 50) - percentile(templates, 50)
        print(f"    {name:<24}{p50 * 1000:>9.0f}{percentile(timings, 95) * 1000:>9.0f}{percentile(counts, 50):>9}"
              f"{percentile(sql, 50) * 1000:>9.0f}{percentile(templates, 50) * 1000:>9.0f}{rest * 1000:>9.0f}{percentile(cpu, 50) * 1000:>9.0f}", flush=True)
    print(f"    load average after: {os.getloadavg()[0]:.2f}")


@contextmanager
def _measured():
    """Queries and their time (a database execute wrapper) and the time spent rendering the
    page's template (a TemplateResponse's render), of the requests inside the block."""
    from django.db import connection
    from django.template.response import SimpleTemplateResponse

    measured = {"queries": 0, "sql": 0.0, "template": 0.0}

    def timed_query(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            measured["queries"] += 1
            measured["sql"] += time.perf_counter() - started

    render = SimpleTemplateResponse.rendered_content

    def timed_render(self):
        started = time.perf_counter()
        try:
            return render.fget(self)
        finally:
            measured["template"] += time.perf_counter() - started

    SimpleTemplateResponse.rendered_content = property(timed_render)
    try:
        with connection.execute_wrapper(timed_query):
            yield measured
    finally:
        SimpleTemplateResponse.rendered_content = render


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--pages-only", action="store_true", help="skip (a), the rollup against the hand-written query")
    args = parser.parse_args()
    configure_django(bench_database_url(BENCH_DB), host=HOST, cache_prefix="hearth-analytics-bench")
    print(f"building the tenant ({args.conversations:,} conversations over {DAYS} days) if needed ...", flush=True)
    build(conversations=args.conversations, rebuild=args.rebuild)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{SLUG}".conversations_message')
        print(f"{cursor.fetchone()[0]:,} messages; {os.cpu_count()} cores, Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}\n", flush=True)
    if not args.pages_only:
        rollup_against_sql()
    pages_and_api(args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
