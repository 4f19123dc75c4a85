"""The queue's full-text search on the conversation (docs/performance.md, "Desk at scale").

- Conversation.search_document: the words of the subject and of the messages and notes
  (activity lines left out), GIN-indexed (conv_search_document); services/intake.py keeps it
  up to date. `backfill` fills it for the conversations that exist.
- message_content_fts is dropped: the search no longer reads messages, nothing else used it.

The backfill reads every message once (about a minute for a million messages) and rewrites
every conversation row; run it when the desk is quiet. Reversible: back to 0006 the index
returns and the column goes.
"""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations

# As services/intake.py: a document of at most this many characters of text stays well under
# PostgreSQL's 1 MB tsvector limit.
BACKFILL_TEXT_CAP = 300_000


def backfill(apps, schema_editor, conversation_ids=None):
    """Every conversation's document from its subject and messages, in one statement."""
    only = "AND c.id = ANY(%s)" if conversation_ids is not None else ""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE conversations_conversation c
                SET search_document = to_tsvector('english', left(c.subject || ' ' || coalesce(m.content, ''), {BACKFILL_TEXT_CAP}))
                FROM (
                    SELECT conversation_id, string_agg(content, ' ' ORDER BY created_at, id) AS content
                    FROM conversations_message WHERE kind <> 'activity' GROUP BY conversation_id
                ) m
                WHERE m.conversation_id = c.id {only}""",
            [list(conversation_ids)] if conversation_ids is not None else [],
        )
        # Conversations without messages: the subject alone.
        cursor.execute(
            f"""UPDATE conversations_conversation c SET search_document = to_tsvector('english', c.subject)
                WHERE search_document IS NULL {only}""",
            [list(conversation_ids)] if conversation_ids is not None else [],
        )


class Migration(migrations.Migration):
    dependencies = [("conversations", "0006_desk_scale")]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="search_document",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="conversation",
            index=django.contrib.postgres.indexes.GinIndex(fields=["search_document"], name="conv_search_document"),
        ),
        migrations.RemoveIndex(model_name="message", name="message_content_fts"),
    ]
