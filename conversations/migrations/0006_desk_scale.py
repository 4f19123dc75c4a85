"""The desk at a big tenant's size (docs/performance.md, "Desk at scale").

- conv_queue_order: the queue's ORDER BY, so a page of the queue is an index walk.
- message_content_fts: full-text search of message text (selectors.conversation_search);
  it replaces the trigram index on UPPER(content), which only `icontains` used.

On a tenant with a million messages the two builds take a minute or two and hold a write lock
on their tables meanwhile; run it when the desk is quiet.
"""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("conversations", "0005_followups_and_clocks")]

    operations = [
        migrations.RemoveIndex(model_name="message", name="message_content_trgm"),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                models.OrderBy(models.F("waiting_since"), nulls_last=True),
                models.OrderBy(models.F("priority"), descending=True),
                models.OrderBy(models.F("last_activity_at"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                name="conv_queue_order",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.search.SearchVector("content", config="english"), name="message_content_fts"
            ),
        ),
    ]
