"""What PostgreSQL writes for one customer message, by the size of its conversation's search
document: the widget POST's one statement (`message_add_incoming_by_number`) in a loop on one
connection, round robin over 32 conversations.

    .venv/bin/python bench/conversation_update.py [--messages 2000] [--words 1500]

Two rounds: the conversations' documents as the messages leave them (small), then grown to
`--words` distinct words each (a long thread's document, ~20 kB at 1,500). Per message: the
backend's CPU (from /proc; noisy on a shared machine), the WAL records and bytes the server
wrote (stable), and how many of the conversation's row updates were HOT updates
(pg_stat_user_tables). Then, where the branch has it, the fold of the waiting words into the
documents (services/search_words.py) with its WAL per message folded.

Uses the widget bench's database and tenant (`hearth_bench`, made by bench/widget_api.py's
`prepare`), its own 32 conversations in the bench inbox.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.widget_api import SLUG, _ServerShare, bench_env, prepare  # noqa: E402

CONVERSATIONS = 32
SENTENCE = "Hello, my order has not arrived yet, could you check where it is?"


def _hot_counters(cursor) -> tuple[int, int]:
    cursor.execute("SELECT pg_stat_force_next_flush()")
    cursor.execute("SELECT 1")
    time.sleep(1.1)
    cursor.execute(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE schemaname = %s AND relname = 'conversations_conversation'",
        [SLUG],
    )
    return cursor.fetchone()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--words", type=int, default=1500, help="distinct words of a grown document")
    args = parser.parse_args()

    env = bench_env()
    prepare(env)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection
    from django_tenants.utils import schema_context

    from conversations import services
    from conversations.models import Contact, Conversation, Inbox

    with schema_context(SLUG):
        inbox = Inbox.objects.get(name="Bench chat")
        conversations = list(Conversation.objects.filter(inbox=inbox, contact__email__endswith="@update.bench").order_by("pk"))
        for n in range(len(conversations), CONVERSATIONS):
            contact = Contact.objects.create(name=f"Update {n}", email=f"update{n}@update.bench")
            conversations.append(services.conversation_open(inbox=inbox, contact=contact, content=SENTENCE))
        fold = getattr(services, "search_words_fold", None)
        if fold is not None:
            fold()
        grown = " ".join(f"w{i}x" for i in range(args.words))
        for label, grow in (("small documents", False), (f"grown documents ({args.words:,} words)", True)):
            with connection.cursor() as cursor:
                cursor.execute(  # (a run before this one left its documents grown)
                    "UPDATE conversations_conversation SET search_document = to_tsvector('english', %s) WHERE id = ANY(%s)",
                    [grown if grow else SENTENCE, [c.pk for c in conversations]],
                )
                cursor.execute(
                    "SELECT avg(pg_column_size(search_document)) FROM conversations_conversation WHERE id = ANY(%s)",
                    [[c.pk for c in conversations]],
                )
                size = float(cursor.fetchone()[0])
                updates0, hot0 = _hot_counters(cursor)
            share = _ServerShare(connection)
            for i in range(args.messages):
                conversation = conversations[i % CONVERSATIONS]
                services.message_add_incoming_by_number(
                    number=conversation.number, contact_id=conversation.contact_id, inbox_id=inbox.pk, content=SENTENCE,
                )
            figures = share.per_request(args.messages)
            with connection.cursor() as cursor:
                updates1, hot1 = _hot_counters(cursor)
            updates = updates1 - updates0
            print(f"{label}, {size / 1000:.1f} kB on average before the run, {args.messages:,} messages: {figures} per message; "
                  f"conversation updates {updates:,}, HOT {hot1 - hot0:,} ({(hot1 - hot0) / max(updates, 1):.0%})", flush=True)
            if fold is not None:
                share = _ServerShare(connection)
                started = time.perf_counter()
                folded = fold()
                elapsed = time.perf_counter() - started
                print(f"  fold: {folded:,} messages' words in {elapsed * 1000:.0f} ms; {share.per_request(max(folded, 1))} per message folded",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
