"""The desk at a big tenant's size: 100,000 conversations, 1,000,000 messages, 20,000 contacts.

    .venv/bin/python bench/desk_scale.py [--rounds 12] [--rebuild] [--explain [PAGE] [--statements 2]]

Builds the tenant once (about two minutes) in its own database, `hearth_deskscale`, on the
embedded PostgreSQL (or on DATABASE_URL's server), and reuses it on later runs; `--rebuild`
makes it again. Rows are generated in Python from a fixed seed and loaded with COPY; the
tables' secondary indexes are dropped for the load and rebuilt after it, as a restore would.

Then measures the desk pages in-process through Django's test Client with DEBUG off (no
network, no server: what is timed is Django, the ORM and PostgreSQL), as an agent of two of
six teams and as a manager: each page is requested once to warm up (its queries are counted
then), then `--rounds` times, timed. Prints p50/p95 per page and the queries per request.
`--explain [PAGE]` prints EXPLAIN (ANALYZE, BUFFERS) of each page's heaviest statements instead
(the main query and the capped count of a queue page), for both roles.

The data: statuses 70% resolved, 12% open, 10% pending, 8% snoozed; priorities skewed to
none/low; 6 teams (10% of conversations without one), 20 agents; labels on half of the
conversations; an AI category on 70%; waiting_since set on open conversations the customer
wrote last. Messages are drawn from a support vocabulary with Zipf-like frequencies, so
"order" is in about one message in eight and "zeppelin" in about a hundred. Conversation #1
has 500 messages.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


from bench.bulk_tenant import bench_account_drop, bench_database_url, configure_django, tenant_conversations  # noqa: E402

BENCH_DB = "hearth_deskscale"
SLUG = "scale"
HOST = f"{SLUG}.localhost"
CONVERSATIONS = 100_000
CONTACTS = 20_000
TARGET_MESSAGES = 1_000_000
BIG_THREAD = 500
TEAMS = ["Billing", "Technical", "Shipping", "Returns", "Sales", "Accounts"]
AGENTS = 20
LABELS = ["vip", "bug", "feature-request", "refund", "urgent", "follow-up", "churn-risk", "invoice", "onboarding", "escalated",
          "duplicate", "press", "partner", "legal", "feedback"]
CATEGORIES = ["billing", "shipping", "returns", "technical", "account", "sales", "feedback", "other"]
COMMON_WORD, RARE_WORD = "order", "zeppelin"
PASSWORD = "bench-password-1"

# Support-desk words, most frequent first; a long tail of made-up words follows them.
VOCABULARY = """
the i my to a and you is it for of in on this not have your with was can be that me please
order help thanks hi hello account payment refund delivery package invoice password email
card charge charged shipping shipped tracking number still received issue problem working
error app login subscription cancel cancelled price plan upgrade update address phone
support team week days yesterday today tomorrow again when why how what where could would
should will just already need want get got see know sent send reply waiting wait late
missing wrong broken damaged item items product return returned replacement exchange store
website page button link click checkout cart discount code coupon credit bank transfer
receipt amount twice double billing monthly annual trial free premium customer service
manager call back asap urgent quickly soon thank appreciate sorry confused understand
explain unable able reset locked access settings profile notification notifications sync
device laptop browser chrome safari android iphone version latest install download export
import data report dashboard feature request bug crash slow fast size colour color exchange
warranty repair guarantee contract terms policy privacy delete remove close open reopen
""".split()


# --------------------------------------------------------------------------- the build


def tenant_ready() -> bool:
    return tenant_conversations(SLUG) == CONVERSATIONS


def build(*, rebuild: bool) -> None:
    from django.core.management import call_command

    call_command("migrate_schemas", "--noinput", verbosity=0)
    if tenant_ready() and not rebuild:
        print("tenant already built: reusing it (--rebuild to make it again)", flush=True)
        return
    started = time.monotonic()
    people = make_account()
    print(f"  account and members: {time.monotonic() - started:.1f} s", flush=True)
    load_rows(people)
    print(f"built in {time.monotonic() - started:.0f} s", flush=True)


def make_account() -> dict:
    from django_tenants.utils import schema_context

    from accounts.models import Membership, User
    from accounts.services import account_create, membership_add

    bench_account_drop(SLUG)
    account = account_create(name="Scale Corp", slug=SLUG, owner_email=f"owner@{SLUG}.example", owner_password=PASSWORD,
                             plan="enterprise").account  # a load test: no plan limits

    def member(email, role, name):
        user = User.objects.filter(email=email).first() or User.objects.create_user(email, PASSWORD, full_name=name)
        membership_add(user=user, account=account, role=role, availability=Membership.Availability.ONLINE)
        return user

    manager = member(f"manager@{SLUG}.example", Membership.Role.MANAGER, "Morgan Manager")
    agents = [member(f"agent{i:02d}@{SLUG}.example", Membership.Role.AGENT, f"Agent {i:02d}") for i in range(1, AGENTS + 1)]
    with schema_context(SLUG):
        from conversations.models import Inbox, Label, Team, TeamMember

        teams = [Team.objects.create(name=name, auto_assign=False) for name in TEAMS]
        # Agent 01 (the one measured) is in Billing and Technical; the others in one team each.
        TeamMember.objects.create(team=teams[0], user=agents[0])
        TeamMember.objects.create(team=teams[1], user=agents[0])
        for index, agent in enumerate(agents[1:]):
            TeamMember.objects.create(team=teams[index % len(teams)], user=agent)
        inboxes = [Inbox.objects.create(name=name, channel=channel, auto_assign=False)
                   for name, channel in [("Website chat", "web_widget"), ("Support email", "email"), ("Mobile app", "api")]]
        labels = [Label.objects.create(name=name) for name in LABELS]
    return {"manager": manager.pk, "agents": [a.pk for a in agents], "teams": [t.pk for t in teams],
            "inboxes": [i.pk for i in inboxes], "labels": [label.pk for label in labels]}


def sentences(rng: random.Random, count: int) -> list[str]:
    """Sentences with Zipf-like word frequencies: word k of the list is drawn ~1/k as often."""
    syllables = ["ka", "lo", "mi", "ter", "san", "vel", "dor", "pli", "ran", "tum", "ex", "qua", "bri", "sol", "nek"]
    tail = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(3000)})
    words = [w for w in VOCABULARY if w != RARE_WORD] + tail
    cumulative, total = [], 0.0
    for rank in range(1, len(words) + 1):
        total += 1 / rank ** 0.9
        cumulative.append(total)
    made = [" ".join(rng.choices(words, cum_weights=cumulative, k=rng.randint(5, 11))).capitalize() + "." for _ in range(count)]
    made[7] = f"My {RARE_WORD} model arrived without its propeller."
    return made


def load_rows(people: dict) -> None:
    from django.db import connection

    rng = random.Random(8)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    pieces = sentences(rng, 20_000)
    team_agents = {team: [] for team in people["teams"]}
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT team_id, user_id FROM "{SLUG}".conversations_teammember')
        for team, user in cursor.fetchall():
            team_agents[team].append(user)
    connection.ensure_connection()
    raw = connection.connection  # the psycopg connection (autocommit): COPY goes through it directly
    raw.execute(f'SET search_path TO "{SLUG}", public')
    raw.execute("SET maintenance_work_mem = '256MB'")
    tables = ["conversations_contact", "conversations_conversation", "conversations_conversation_labels", "conversations_message",
              "conversations_conversationevent"]
    indexes = raw.execute(
        """SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = ANY(%s)
           AND indexname NOT IN (SELECT conname FROM pg_constraint)""", [SLUG, tables]).fetchall()
    for name, _ in indexes:
        raw.execute(f'DROP INDEX "{SLUG}"."{name}"')

    step = time.monotonic()
    first_names = ["Ada", "Ben", "Chloe", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kofi", "Lena", "Mateo", "Nora",
                   "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Yusuf", "Zoe"]
    last_names = ["Smith", "Garcia", "Müller", "Okafor", "Tanaka", "Kowalski", "Rossi", "Nguyen", "Silva", "Johansson", "Khan",
                  "Dubois", "Novak", "Haddad", "Kim", "Murphy", "Ivanova", "Costa", "Larsen", "Mensah"]
    domains = ["example.com", "mail.example.org", "shop.example.net", "corp.example.io"]
    with raw.cursor().copy("COPY conversations_contact (id, name, email, phone, custom_attributes, business_fields, blocked, created_at) FROM STDIN") as copy:
        for i in range(1, CONTACTS + 1):
            first, last = rng.choice(first_names), rng.choice(last_names)
            copy.write_row((i, f"{first} {last}", f"{first.lower()}.{last.lower()}{i}@{rng.choice(domains)}", "", "{}", "{}", False,
                            now - timedelta(days=rng.randint(30, 900))))
    raw.execute("SELECT setval('conversations_contact_id_seq', %s)", [CONTACTS])

    statuses = ["resolved"] * 70 + ["open"] * 12 + ["pending"] * 10 + ["snoozed"] * 8
    priorities = [0] * 40 + [1] * 25 + [2] * 20 + [3] * 10 + [4] * 5
    team_weights = [30, 25, 15, 10, 5, 5, 10]  # six teams, then none
    message_counts, labelled = [], []
    with raw.cursor().copy(
        """COPY conversations_conversation (id, number, inbox_id, contact_id, subject, status, snoozed_until, priority, assignee_id,
           team_id, waiting_since, first_response_at, resolved_at, resolved_by, last_activity_at, created_at, ai_category,
           ai_confidence, first_response_breached, resolution_breached) FROM STDIN""") as copy:
        for i in range(1, CONVERSATIONS + 1):
            created = now - timedelta(minutes=int((CONVERSATIONS - i) * 7.5) + rng.randint(0, 300))  # ~1.4 years of history
            status = rng.choice(statuses) if i > 1 else "open"
            team = rng.choices(people["teams"] + [None], weights=team_weights)[0] if i > 1 else people["teams"][0]
            assignee = None
            if team is not None and rng.random() < 0.85:
                assignee = rng.choice(team_agents[team] or people["agents"])
            activity = min(now, created + timedelta(minutes=rng.randint(5, 60 * 24 * 5)))
            waiting = activity if status == "open" and rng.random() < 0.8 else None
            resolved = activity if status == "resolved" else None
            snoozed = now + timedelta(hours=rng.randint(1, 72)) if status == "snoozed" else None
            category = rng.choice(CATEGORIES) if rng.random() < 0.7 else ""
            subject = pieces[rng.randrange(len(pieces))][:80]
            copy.write_row((
                i, i, rng.choice(people["inboxes"]), rng.randint(1, CONTACTS), subject, status, snoozed, rng.choice(priorities),
                assignee, team, waiting, created + timedelta(minutes=rng.randint(1, 240)) if rng.random() < 0.9 else None,
                resolved, "agent" if resolved else "", activity, created, category, round(rng.random(), 2) if category else None,
                rng.random() < 0.05, rng.random() < 0.03,
            ))
            for label in rng.sample(people["labels"], rng.choice([0, 0, 1, 1, 1, 2, 3])):
                labelled.append((i, label))
            message_counts.append((i, created, BIG_THREAD if i == 1 else rng.randint(2, 18)))
    with raw.cursor().copy("COPY conversations_conversation_labels (conversation_id, label_id) FROM STDIN") as copy:
        for row in labelled:
            copy.write_row(row)
    raw.execute("SELECT setval('conversations_conversation_id_seq', %s)", [CONVERSATIONS])
    raw.execute("SELECT setval('conversations_conversation_number_seq', %s)", [CONVERSATIONS])
    print(f"  contacts, conversations, labels: {time.monotonic() - step:.1f} s", flush=True)

    step = time.monotonic()
    total = 0
    with raw.cursor().copy(
        "COPY conversations_message (conversation_id, direction, kind, sender_type, sender_id, content, attachments, created_at) FROM STDIN"
    ) as copy:
        for conversation, created, count in message_counts:
            for n in range(count):
                incoming = n % 2 == 0
                content = pieces[rng.randrange(len(pieces))] + " " + pieces[rng.randrange(len(pieces))]
                copy.write_row((conversation, "incoming" if incoming else "outgoing", "text", "contact" if incoming else "agent",
                                None, content, "[]", created + timedelta(minutes=n * 3)))
            total += count
            if total >= TARGET_MESSAGES:
                break
    print(f"  {total:,} messages: {time.monotonic() - step:.1f} s", flush=True)

    step = time.monotonic()  # the conversations' search documents, as migration 0007 fills them
    backfill = importlib.import_module("conversations.migrations.0007_conversation_search_document").backfill
    backfill(None, SimpleNamespace(connection=raw))
    print(f"  search documents: {time.monotonic() - step:.1f} s", flush=True)

    with raw.cursor().copy("COPY conversations_conversationevent (conversation_id, actor_type, actor_name, action, field, old_value, new_value, created_at, reason) FROM STDIN") as copy:
        # `reason` is NOT NULL with no database default (conversations/0008): COPY must list it.
        for n in range(40):
            copy.write_row((1, "agent", "Agent 01", "status_changed", "status", "open", "pending", now - timedelta(hours=40 - n), ""))

    step = time.monotonic()
    for name, definition in indexes:
        raw.execute(definition)
    # VACUUM as well: it sets the visibility map, which autovacuum sets after a restore (and
    # for every table that stops changing), and without which no index-only scan skips the heap.
    for table in tables:
        raw.execute(f"VACUUM (ANALYZE) {table}")
    raw.execute("ANALYZE")
    print(f"  {len(indexes)} indexes rebuilt, vacuumed and analyzed: {time.monotonic() - step:.1f} s", flush=True)


# --------------------------------------------------------------------------- the measurement


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def pages(ids: dict) -> list[tuple[str, str]]:
    queue = "/admin/conversations/conversation/"
    return [
        ("queue (default)", queue),
        ("queue page 50", f"{queue}?p=50"),
        ("filter status=open", f"{queue}?status__exact=open"),
        ("filter priority=urgent", f"{queue}?priority__exact=4"),
        ("filter inbox", f"{queue}?inbox__id__exact={ids['inbox']}"),
        ("filter team", f"{queue}?team__id__exact={ids['team']}"),
        ("filter assignee=me", f"{queue}?assignee=me"),
        ("filter assignee=none", f"{queue}?assignee=none"),
        ("filter label", f"{queue}?labels__id__exact={ids['label']}"),
        ("filter SLA breached", f"{queue}?sla=breached"),
        ("filter AI category", f"{queue}?ai_category__exact=billing"),
        ("open + urgent + team", f"{queue}?status__exact=open&priority__exact=4&team__id__exact={ids['team']}"),
        (f"search common '{COMMON_WORD}'", f"{queue}?q={COMMON_WORD}"),
        (f"search rare '{RARE_WORD}'", f"{queue}?q={RARE_WORD}"),
        ("search contact e-mail", f"{queue}?q={ids['email']}"),
        ("search #number", f"{queue}?q=%23{ids['number']}"),
        ("conversation, 500 msgs", f"{queue}{ids['big']}/change/"),
        ("contact page", f"/admin/conversations/contact/{ids['contact']}/change/"),
    ]


def sample_ids() -> dict:
    from django_tenants.utils import schema_context

    from conversations.models import Contact, Conversation, Inbox, Label, Team

    with schema_context(SLUG):
        billing = Team.objects.get(name="Billing")
        big = Conversation.objects.get(number=1)
        # A conversation the agent can see, so every search has a hit for both roles.
        sample = Conversation.objects.filter(team=billing).order_by("-number").select_related("contact").first()
        return {"inbox": Inbox.objects.order_by("pk").first().pk, "team": billing.pk, "label": Label.objects.get(name="refund").pk,
                "email": sample.contact.email, "number": sample.number, "big": big.pk, "contact": big.contact_id}


def measure(rounds: int) -> list[tuple]:
    from django.conf import settings
    from django.db import connection, reset_queries
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    ids = sample_ids()
    results = []
    # DEBUG off but no collectstatic here: plain static URLs instead of the manifest's.
    static = override_settings(STORAGES={**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}})
    static.enable()
    for role, email in [("agent", f"agent01@{SLUG}.example"), ("manager", f"manager@{SLUG}.example")]:
        client = Client(HTTP_HOST=HOST)
        # Through the login form: force_login() would store the session in the public schema.
        if client.post("/admin/login/", {"username": email, "password": PASSWORD}, secure=True).status_code != 302:
            raise SystemExit(f"could not sign in as {email}")
        for name, url in pages(ids):
            reset_queries()  # each request starts a new log (request_started), so start it here
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url, secure=True)
            if response.status_code != 200:
                raise SystemExit(f"{role} {name}: HTTP {response.status_code} for {url}")
            sets = sum(1 for q in queries.captured_queries if q["sql"].startswith("SET search_path"))
            statements = len(queries) - sets  # now: the log starts again at the next request
            sql_ms = sum(float(q["time"]) for q in queries.captured_queries) * 1000
            timings, cpu, sql_timed = [], [], []
            deadline = time.monotonic() + 20  # a page that is far too slow is not measured for minutes
            for _ in range(rounds):
                with CaptureQueriesContext(connection) as timed:
                    started, started_cpu = time.perf_counter(), time.process_time()
                    client.get(url, secure=True)
                    timings.append(time.perf_counter() - started)
                    cpu.append(time.process_time() - started_cpu)
                sql_timed.append(sum(float(q["time"]) for q in timed.captured_queries) * 1000)
                if time.monotonic() > deadline and len(timings) >= 3:
                    break
            row = (role, name, percentile(timings, 50) * 1000, percentile(timings, 95) * 1000, statistics.median(cpu) * 1000, sql_ms,
                   statistics.median(sql_timed), statements, sets, len(timings))
            results.append(row)
            print(f"{role:<8}{name:<28}" + "".join(f"{value:>9.1f}" for value in row[2:7]) + "".join(f"{value:>8}" for value in row[7:]), flush=True)
    return results


def explain(only: str, statements: int) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of each page's heaviest statements, as each role's request
    runs them: the page is requested once to warm up and once more with its queries captured,
    and the `statements` slowest of those (the page's main query and its capped count, for a
    queue page) are explained, in the tenant's schema. `only`: pages whose name contains it."""
    import re

    from django.conf import settings
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext
    from django_tenants.utils import schema_context

    ids = sample_ids()
    static = override_settings(STORAGES={**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}})
    static.enable()
    summary = []
    for role, email in [("agent", f"agent01@{SLUG}.example"), ("manager", f"manager@{SLUG}.example")]:
        client = Client(HTTP_HOST=HOST)
        if client.post("/admin/login/", {"username": email, "password": PASSWORD}, secure=True).status_code != 302:
            raise SystemExit(f"could not sign in as {email}")
        for name, url in pages(ids):
            if only not in name:
                continue
            client.get(url, secure=True)
            with CaptureQueriesContext(connection) as queries:
                client.get(url, secure=True)
            heaviest = sorted((q for q in queries.captured_queries if not q["sql"].startswith("SET ")),
                              key=lambda q: -float(q["time"]))[:statements]
            for query in heaviest:
                with schema_context(SLUG), connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON) " + query["sql"])
                    plan = "\n".join(row[0] for row in cursor.fetchall())
                print(f"\n=== {role}: {name} ({url}), {float(query['time']) * 1000:.1f} ms in the request ===\n{query['sql']}\n{plan}")
                executed = re.search(r"Execution Time: ([\d.]+)", plan)
                hit = re.search(r"Buffers: shared hit=(\d+)", plan)
                read = re.search(r"Buffers: shared (?:hit=\d+ )?read=(\d+)", plan)
                summary.append((role, name, query["sql"][:60].replace("\n", " "), float(executed.group(1)) if executed else 0.0,
                                int(hit.group(1)) if hit else 0, int(read.group(1)) if read else 0))
    print(f"\n{'role':<8}{'page':<28}{'exec ms':>9}{'hit':>9}{'read':>7}  statement")
    for role, name, statement, executed, hit, read in summary:
        print(f"{role:<8}{name:<28}{executed:>9.2f}{hit:>9}{read:>7}  {statement}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--explain", nargs="?", const="", default=None, metavar="PAGE",
                        help="EXPLAIN (ANALYZE, BUFFERS) each page's heaviest statements (only pages whose name contains PAGE)")
    parser.add_argument("--statements", type=int, default=2, help="with --explain: how many statements per page (slowest first)")
    args = parser.parse_args()

    configure_django(bench_database_url(BENCH_DB), host=HOST, cache_prefix="hearth-deskscale")
    print(f"building the tenant ({CONVERSATIONS:,} conversations, ~{TARGET_MESSAGES:,} messages) if needed ...", flush=True)
    build(rebuild=args.rebuild)
    if args.explain is not None:
        explain(args.explain, args.statements)
        return 0
    print(f"\nin-process Django test Client, DEBUG off, {args.rounds} timed requests per page after one warm-up; "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}\n")
    print("p50/p95: wall time per request; cpu: this process's CPU time per request (median), which a busy machine\n"
          "inflates far less than wall time; sql ms: the queries' time in the warm-up request; sql med: the queries'\n"
          "time per timed request (median); queries: statements per\n"
          "request besides django-tenants' SET search_path (SETs)\n")
    print(f"{'role':<8}{'page':<28}{'p50 ms':>9}{'p95 ms':>9}{'cpu ms':>9}{'sql ms':>9}{'sql med':>9}{'queries':>8}{'SETs':>8}{'n':>8}", flush=True)
    started = time.monotonic()
    results = measure(args.rounds)
    print(f"\nmeasured in {time.monotonic() - started:.0f} s; load {os.getloadavg()[0]:.2f}; "
          f"slowest p95: {max(r[3] for r in results):.0f} ms; mean p50 {statistics.mean(r[2] for r in results):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
