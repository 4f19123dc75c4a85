"""manage.py kb_reindex --account SLUG | --all [--model NAME]: rebuild knowledge-base passages.

Resumable: an article whose chunks are current (indexed at its version, every passage
embedded by the model the account embeds with now) is skipped, so an interrupted run picks up
where it stopped, and a run after a model change re-embeds everything once. Embeds here, in
batches of one article's passages, not in Celery.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name, tenant_context

from kb.embedding import passage_model
from accounts.commands import account_get
from kb.management.commands._common import articles_index
from kb.selectors import articles_to_index


class Command(BaseCommand):
    help = "Rebuild the knowledge-base passages (chunks and embeddings) that are not current."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--account", help="The account's slug")
        which.add_argument("--all", action="store_true", help="Every account")
        parser.add_argument(
            "--model", default="",
            help="The embedding model the passages must carry: refuses to run if the account embeds with another "
                 "(set it in the account's AI settings first)",
        )

    def handle(self, *args, **options):
        from accounts.models import Account

        if options["account"]:
            accounts = [account_get(options["account"])]
        else:
            accounts = list(Account.objects.exclude(schema_name=get_public_schema_name()).order_by("schema_name"))
        failed = 0
        for account in accounts:
            with tenant_context(account):
                model = passage_model()
                if options["model"] and options["model"] != model:
                    message = f"{account.schema_name} embeds its knowledge base with {model}, not {options['model']}: change its AI settings first"
                    if len(accounts) == 1:
                        raise CommandError(message)
                    self.stderr.write(f"skipped {message}")
                    continue
                pending = articles_to_index(model=model)
                total = pending.count()
                indexed, embedded, problems = articles_index(list(pending), total=total, stderr=self.stderr, label=account.schema_name)
            for problem in problems:
                self.stderr.write(f"{account.schema_name}: {problem}")
            failed += len(problems)
            self.stdout.write(f"{account.schema_name}: {indexed} of {total} articles reindexed with {model}, {embedded} passages embedded")
        if failed:
            raise CommandError(f"{failed} article(s) could not be indexed (see above); run again to retry them")
