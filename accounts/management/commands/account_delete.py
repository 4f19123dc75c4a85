"""manage.py account_delete SLUG --confirm SLUG: an account removed for good (exported first)."""

from datetime import datetime, timezone
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.commands import account_get
from accounts.management.commands._portability import progress_bar, size_text
from accounts.portability import account_delete
from config.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Delete an account: export it (unless --no-export), then drop its schema, domains, memberships, invitations, "
        "API tokens and the account row. Users are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The account's slug")
        parser.add_argument("--confirm", help="The slug again: nothing is deleted without it")
        parser.add_argument("--no-export", action="store_true", help="Delete without exporting first")
        parser.add_argument("--out", type=Path, help="Where the export goes (default ./<slug>-<UTC time>.zip)")

    def handle(self, *args, **options):
        account = account_get(options["slug"])
        if options["no_export"] and options["out"]:
            raise CommandError("--out names an export, --no-export skips it: give one of them")
        export_to = None
        if not options["no_export"]:
            export_to = options["out"] or Path(f"{account.schema_name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.zip")
        try:
            summary = account_delete(account=account, confirm=options["confirm"], export_to=export_to, progress=progress_bar("exporting"))
        except ApplicationError as error:
            raise CommandError(error.message) from error
        if summary.export is not None:
            self.stdout.write(f"exported {summary.slug!r} to {summary.export.path} ({size_text(summary.export.size_bytes)})")
        deleted = ", ".join(f"{count} {label.replace('_', ' ')}" for label, count in summary.deleted.items())
        self.stdout.write(f"deleted account {summary.slug!r}: its schema, {deleted}, {summary.cache_keys} cache keys; users kept")
