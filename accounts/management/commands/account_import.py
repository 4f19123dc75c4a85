"""manage.py account_import FILE.zip --slug NEW: an export restored into a new account."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.management.commands._portability import progress_bar
from accounts.portability import account_import
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Restore an account export into a NEW account (never into an existing one), all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("archive", type=Path, help="A zip made by account_export")
        parser.add_argument("--slug", required=True, help="The new account's slug (must be free)")
        parser.add_argument("--name", help="The new account's name (default: the exported one)")
        parser.add_argument(
            "--domain", action="append", dest="domains",
            help="A host name for the new account (repeatable; the first is primary; default <slug>.TENANT_DOMAIN_SUFFIX)",
        )

    def handle(self, *args, **options):
        try:
            summary = account_import(
                archive_path=options["archive"], slug=options["slug"], name=options["name"], domains=options["domains"],
                progress=progress_bar("importing"),
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(
            f"imported {options['archive']} as {summary.account.schema_name!r} ({summary.account.name}) at {', '.join(summary.domains)}: "
            f"{sum(summary.counts.values())} rows; users: {summary.users_matched} matched by e-mail, {summary.users_created} created "
            "without a password; API tokens restored revoked"
        )
