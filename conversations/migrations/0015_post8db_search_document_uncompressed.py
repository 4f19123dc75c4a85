"""Conversation.search_document stored uncompressed (STORAGE EXTERNAL): every message rewrites
the document, so compressing it on each write and decompressing it for the next cost the
server CPU in proportion to the document, and the cap check (conversations/services/intake.py)
can read an uncompressed document's size from its header instead of converting it to text.
Metadata only: documents already stored stay compressed until their next message rewrites them."""

from django.db import migrations

TABLE = "conversations_conversation"


class Migration(migrations.Migration):
    dependencies = [("conversations", "0014_post8db_fk_indexes_covered")]

    operations = [
        migrations.RunSQL(
            f'ALTER TABLE "{TABLE}" ALTER COLUMN "search_document" SET STORAGE EXTERNAL',
            reverse_sql=f'ALTER TABLE "{TABLE}" ALTER COLUMN "search_document" SET STORAGE EXTENDED',
        ),
    ]
