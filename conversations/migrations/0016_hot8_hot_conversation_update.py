"""A customer's message on a waiting conversation as a HOT update of the conversation's row
(docs/performance.md, branch hot8): last_activity_at leaves conv_queue_order for
queue_activity_at (computed by PostgreSQL: last_activity_at while nobody waits, NULL while the
customer waits, so such a message changes no indexed column), the message's words go to the
new SearchWords table instead of the GIN-indexed search document, and the table keeps a
quarter of each page free (fillfactor 75) for the new row versions. The fillfactor is set
before the generated column is added: adding it rewrites the table, with that free space.
"""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TABLE = "conversations_conversation"


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0015_post8db_search_document_uncompressed'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='SearchWords',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('words', django.contrib.postgres.search.SearchVectorField()),
            ],
        ),
        migrations.RemoveIndex(
            model_name='conversation',
            name='conv_queue_order',
        ),
        migrations.RunSQL(
            f'ALTER TABLE "{TABLE}" SET (fillfactor = 75)', reverse_sql=f'ALTER TABLE "{TABLE}" RESET (fillfactor)',
        ),
        migrations.AddField(
            model_name='conversation',
            name='queue_activity_at',
            field=models.GeneratedField(db_persist=True, expression=models.Case(models.When(then=models.F('last_activity_at'), waiting_since__isnull=True), output_field=models.DateTimeField()), output_field=models.DateTimeField(null=True)),
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=models.Index(models.OrderBy(models.F('waiting_since'), nulls_last=True), models.OrderBy(models.F('priority'), descending=True), models.OrderBy(models.F('queue_activity_at'), descending=True), models.OrderBy(models.F('id'), descending=True), name='conv_queue_order'),
        ),
        migrations.AddField(
            model_name='searchwords',
            name='conversation',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='conversations.conversation'),
        ),
        migrations.AddIndex(
            model_name='searchwords',
            index=models.Index(fields=['conversation', 'id'], name='searchwords_conversation'),
        ),
        migrations.AddIndex(
            model_name='searchwords',
            index=django.contrib.postgres.indexes.GinIndex(fields=['words'], name='searchwords_words'),
        ),
    ]
