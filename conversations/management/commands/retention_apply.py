"""manage.py retention_apply [--account SLUG]

Applies the retention periods now (what the nightly job does): in one account, or in every
account that has a period set. Message contents and AI payloads older than the account's
periods are erased in batches of rows, one transaction each, so an interrupted run keeps
what it finished and a second run only does what is left (conversations/services/retention.py).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db.models import Q
from django_tenants.utils import get_public_schema_name, tenant_context

from conversations import services
from accounts.commands import account_get


class Command(BaseCommand):
    help = "Apply the accounts' retention periods now (one account with --account, else every account with a period)."

    def add_arguments(self, parser):
        parser.add_argument("--account", help="The account's slug (default: every account with a retention period)")

    def handle(self, *args, account=None, **options):
        from accounts.models import Account

        if account is not None:
            accounts = [account_get(account)]
        else:
            accounts = (
                Account.objects.exclude(schema_name=get_public_schema_name())
                .filter(Q(retention_message_days__isnull=False) | Q(retention_ai_payload_days__isnull=False))
                .order_by("schema_name")
            )
        for row in accounts:
            with tenant_context(row):
                run = services.retention_apply(account=row)
            self.stdout.write(f"{row.schema_name}: {run.summary()}")
