"""The labels' table (Django's auto-created many-to-many table of Conversation.labels) gets
`(label_id, conversation_id)`: the queue's label filter (`selectors.conversations_labelled`,
`conversation_id IN (SELECT conversation_id ... WHERE label_id = ...)`) reads a label's
conversations from the index alone, in conversation order. Before, a bitmap heap scan of the
table (~730 pages for a label on 7,600 of 100,000 conversations) fed the count's hash join;
now an index-only scan (~35 pages) does, and for a manager the count merge-joins it with the
conversations' primary key (docs/performance.md, "Desk at scale", branch desk9).

Raw SQL on the auto table: making the table an explicit through model only to declare one
index would touch the model every write path uses; the table, its name and its other indexes
stay Django's.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("conversations", "0018_stmt8_message_page_index"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS conv_labels_label_conversation ON conversations_conversation_labels (label_id, conversation_id)",
            reverse_sql="DROP INDEX IF EXISTS conv_labels_label_conversation",
        ),
    ]
