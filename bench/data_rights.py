"""Data rights at a big tenant's size: retention over ~200,000 messages, erasing contacts.

    .venv/bin/python bench/data_rights.py [--conversations 20000] [--rebuild]

Builds a tenant once in its own database, `hearth_rights_bench` (embedded PostgreSQL or
DATABASE_URL's server), with COPY from a fixed seed: conversations spread evenly over 730
days, ten messages each with their search documents, one AI call each with an error text;
each run works on a copy of the message, conversation and AI tables made inside a transaction
that is rolled back, so every run starts from the same rows.

Prints, in one run:
(a) `messages_retention_apply` at 365 days (about half of the messages): time and rows per
    second, against a baseline measured in the same run: ONE plain UPDATE of the same rows'
    contents (no batches, no search documents, no locks taken in key order), and the ratio;
    then a second run with nothing left to do (what a quiet night costs);
(b) `ai_payloads_retention_apply` at 365 days: time and rows per second;
(c) `contact_erase` of contacts with 1, 10 and 50 conversations (10 messages each): time each.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bulk_tenant import bench_account_drop, bench_database_url, configure_django, tenant_conversations  # noqa: E402

BENCH_DB = "hearth_rights_bench"
SLUG = "rights"
HOST = f"{SLUG}.localhost"
DAYS = 730
MESSAGES_PER_CONVERSATION = 10
WORDS = "order parcel refund invoice delivery password account broken late missing charge card address".split()
# Contacts at the end of the id range own this many conversations each, for (c).
ERASE_SIZES = (1, 10, 50)


def build(*, conversations: int, rebuild: bool) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from accounts.services import account_create

    call_command("migrate_schemas", "--noinput", verbosity=0)
    if tenant_conversations(SLUG) == conversations and not rebuild:
        print("tenant already built: reusing it (--rebuild to make it again)", flush=True)
        return
    started = time.monotonic()
    bench_account_drop(SLUG)
    account_create(name="Rights Corp", slug=SLUG, owner_email=f"owner@{SLUG}.example", owner_password="bench-password-1")
    rng = random.Random(7)
    first = timezone.now() - timedelta(days=DAYS)
    span = DAYS * 86400
    connection.ensure_connection()
    raw = connection.connection
    raw.execute(f'SET search_path TO "{SLUG}", public')
    raw.execute("INSERT INTO conversations_inbox (name, channel, widget_token, hmac_secret, allowed_origins, greeting, widget_color, timezone, "
                "business_hours, auto_assign, ai_auto_reply, ai_confidence_threshold, ai_never_auto_categories, created_at) "
                "VALUES ('Chat', 'web_widget', 'bench-token', 'bench-secret', '{}', '', '#1f6feb', 'UTC', '{}', false, false, 0.8, '{}', now())")
    inbox = raw.execute("SELECT id FROM conversations_inbox").fetchone()[0]
    special = sum(ERASE_SIZES)
    contacts = max(1000, conversations // 5)
    with raw.cursor().copy("COPY conversations_contact (id, name, email, phone, custom_attributes, business_fields, blocked, created_at) FROM STDIN") as copy:
        for i in range(1, contacts + len(ERASE_SIZES) + 1):
            copy.write_row((i, f"Customer {i}", f"customer{i}@example.org", "+44 20 7946 0000", '{"plan": "gold"}', "{}", False, first))
    owners = []  # (contact id) of each conversation: the last `special` go to the erase contacts
    for n, size in enumerate(ERASE_SIZES, start=1):
        owners += [contacts + n] * size
    with raw.cursor().copy("COPY conversations_conversation (id, number, inbox_id, contact_id, subject, status, priority, last_activity_at, created_at, "
                           "ai_category, first_response_breached, resolution_breached, resolved_by) FROM STDIN") as conv_copy:
        for i in range(1, conversations + 1):
            created = first + timedelta(seconds=span * (i - 1) / conversations)
            contact = owners[i - 1 - (conversations - special)] if i > conversations - special else rng.randint(1, contacts)
            conv_copy.write_row((i, i, inbox, contact, f"About my {rng.choice(WORDS)} {i}", "resolved", 0, created, created, "", False, False, "agent"))
    with raw.cursor().copy("COPY conversations_message (conversation_id, direction, kind, sender_type, content, attachments, created_at) FROM STDIN") as copy:
        for i in range(1, conversations + 1):
            created = first + timedelta(seconds=span * (i - 1) / conversations)
            for n in range(MESSAGES_PER_CONVERSATION):
                incoming = n % 2 == 0
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40)))
                copy.write_row((i, "incoming" if incoming else "outgoing", "text", "contact" if incoming else "agent", text, "[]",
                                created + timedelta(minutes=7 * n)))
    with raw.cursor().copy("COPY ai_aicall (operation, provider, model, input_tokens, output_tokens, tokens_estimated, cost, cost_saved, latency_ms, "
                           "cache_hit, status, error, conversation_id, created_at) FROM STDIN") as copy:
        for i in range(1, conversations + 1):
            created = first + timedelta(seconds=span * (i - 1) / conversations)
            copy.write_row(("generate", "openai", "m", 300, 80, False, 0.001, 0, 900.0, False, "error", f"400: prompt echo {i}", i, created))
    raw.execute("SELECT setval(pg_get_serial_sequence('conversations_contact', 'id'), (SELECT max(id) FROM conversations_contact))")
    raw.execute("SELECT setval(pg_get_serial_sequence('conversations_conversation', 'id'), %s)", [conversations])
    raw.execute("""UPDATE conversations_conversation c SET search_document = to_tsvector('english', c.subject || ' ' || m.content)
                   FROM (SELECT conversation_id, string_agg(content, ' ' ORDER BY created_at, id) AS content
                         FROM conversations_message GROUP BY conversation_id) m WHERE m.conversation_id = c.id""")
    raw.execute("ANALYZE")
    print(f"built in {time.monotonic() - started:.0f} s", flush=True)


class Rollback(Exception):
    pass


def measured(work) -> tuple[float, object]:
    """(seconds, result) of `work()` in the tenant, inside a transaction then rolled back."""
    from django.db import transaction
    from django_tenants.utils import schema_context

    outcome = {}
    try:
        with schema_context(SLUG), transaction.atomic():
            started = time.perf_counter()
            outcome["result"] = work()
            outcome["seconds"] = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    return outcome["seconds"], outcome["result"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    configure_django(bench_database_url(BENCH_DB), host=HOST, cache_prefix="hearth-rights-bench")
    print(f"building the tenant ({args.conversations:,} conversations, {MESSAGES_PER_CONVERSATION} messages each, over {DAYS} days) if needed ...", flush=True)
    build(conversations=args.conversations, rebuild=args.rebuild)
    from django.db import connection
    from django.utils import timezone

    from conversations import services
    from conversations.models import Contact

    print(f"{os.cpu_count()} cores, Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}\n", flush=True)
    cutoff = timezone.now() - timedelta(days=365)

    def plain_update():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE conversations_message SET content = '[erased]', attachments = '[]' WHERE created_at < %s", [cutoff])
            return cursor.rowcount

    def retention_twice():
        first_started = time.perf_counter()
        done = services.messages_retention_apply(days=365)
        first = time.perf_counter() - first_started
        again_started = time.perf_counter()
        left = services.messages_retention_apply(days=365)
        return done, first, left, time.perf_counter() - again_started

    base_seconds, base_rows = measured(plain_update)
    _, (rows, seconds, left, quiet) = measured(retention_twice)
    print("(a) messages older than 365 days")
    print(f"    baseline, one plain UPDATE:      {base_rows:>8,} rows in {base_seconds:6.2f} s ({base_rows / base_seconds:>9,.0f} rows/s)")
    print(f"    messages_retention_apply:        {rows:>8,} rows in {seconds:6.2f} s ({rows / seconds:>9,.0f} rows/s), "
          f"{seconds / base_seconds:.1f}x the baseline (batches of 1,000, search documents rebuilt)")
    print(f"    again, nothing left:             {left:>8,} rows in {quiet:6.2f} s")
    seconds, rows = measured(lambda: services.ai_payloads_retention_apply(days=365))
    print("(b) AI payloads older than 365 days")
    print(f"    ai_payloads_retention_apply:     {rows:>8,} rows in {seconds:6.2f} s ({rows / seconds:>9,.0f} rows/s)")
    print("(c) contact_erase")
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT max(id) FROM "{SLUG}".conversations_contact')
        last = cursor.fetchone()[0]
    for n, size in enumerate(ERASE_SIZES):
        contact_id = last - len(ERASE_SIZES) + 1 + n

        def erase(contact_id=contact_id):
            return services.contact_erase(contact=Contact(pk=contact_id))

        seconds, erasure = measured(erase)
        print(f"    {erasure.conversations:>3} conversation(s), {erasure.messages:>4} messages: {seconds * 1000:7.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
