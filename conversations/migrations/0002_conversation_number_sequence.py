"""The per-tenant conversation number (#123) comes from a sequence in the tenant's schema."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("conversations", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS conversations_conversation_number_seq START 1 OWNED BY conversations_conversation.number",
            "DROP SEQUENCE IF EXISTS conversations_conversation_number_seq",
        ),
    ]
