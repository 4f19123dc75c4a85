"""Indexes for the queue's filters at a big tenant's size (docs/performance.md, "Desk at scale",
branch deskdb8): conv_scope (team, status, assignee, with the columns the filters test) takes
conv_team_status's place, so an agent's capped count is an index-only scan; the queue's order
for SLA-breached and for unassigned conversations as partial indexes; conv_queue_order
includes team and assignee (an agent's later pages find their ids by an index-only walk). No column a customer's
message writes is in any of them (that UPDATE stays HOT)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    # The new indexes are built first and the replaced ones dropped last: CREATE INDEX takes a
    # SHARE lock (writes wait, the desk still reads) while DROP INDEX takes an ACCESS EXCLUSIVE
    # one that lasts until the migration commits, so dropping first made reads wait for every
    # build too. conv_queue_order is replaced under its own name, so its drop and rebuild come
    # last. At 100k conversations the builds take about a second (docs/performance.md).
    dependencies = [
        ('conversations', '0016_hot8_hot_conversation_update'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='conversation',
            index=models.Index(fields=['team', 'status', 'assignee'], include=('priority', 'inbox', 'first_response_breached', 'resolution_breached', 'ai_category', 'id'), name='conv_scope'),
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=models.Index(models.OrderBy(models.F('waiting_since'), nulls_last=True), models.OrderBy(models.F('priority'), descending=True), models.OrderBy(models.F('queue_activity_at'), descending=True), models.OrderBy(models.F('id'), descending=True), condition=models.Q(('first_response_breached', True), ('resolution_breached', True), _connector='OR'), include=('team', 'assignee'), name='conv_sla_breached_order'),
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=models.Index(models.OrderBy(models.F('waiting_since'), nulls_last=True), models.OrderBy(models.F('priority'), descending=True), models.OrderBy(models.F('queue_activity_at'), descending=True), models.OrderBy(models.F('id'), descending=True), condition=models.Q(('assignee__isnull', True)), include=('team',), name='conv_unassigned_order'),
        ),
        migrations.RemoveIndex(
            model_name='conversation',
            name='conv_team_status',
        ),
        migrations.RemoveIndex(
            model_name='conversation',
            name='conv_queue_order',
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=models.Index(models.OrderBy(models.F('waiting_since'), nulls_last=True), models.OrderBy(models.F('priority'), descending=True), models.OrderBy(models.F('queue_activity_at'), descending=True), models.OrderBy(models.F('id'), descending=True), include=('team', 'assignee'), name='conv_queue_order'),
        ),
    ]
