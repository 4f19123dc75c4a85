"""manage.py account_export SLUG --out FILE.zip: everything of one account in one zip."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.commands import account_get
from accounts.management.commands._portability import progress_bar, size_text
from accounts.portability import account_export
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Export an account (its schema's rows, domains, members, invitations, API token records) to a zip of JSON Lines."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The account's slug")
        parser.add_argument("--out", required=True, type=Path, help="The zip to write (must not exist yet)")

    def handle(self, *args, **options):
        account = account_get(options["slug"])
        try:
            summary = account_export(account=account, out=options["out"], progress=progress_bar("exporting"))
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(
            f"exported {account.schema_name!r} to {summary.path} ({size_text(summary.size_bytes)}): "
            f"{sum(summary.counts.values())} rows of {len(summary.counts)} models"
        )
