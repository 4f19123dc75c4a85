"""manage.py account_suspend SLUG [--reason TEXT]: refuse the account's desk, APIs and tasks;
nothing is deleted (accounts/lifecycle.py)."""

from django.core.management.base import BaseCommand, CommandError

from accounts.commands import account_get
from accounts.lifecycle import account_suspend, command_source
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Suspend an account: its desk, widget API, agents' API and background jobs stop; nothing is deleted."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Account slug")
        parser.add_argument("--reason", default="", help="Why (kept in the account's history; not shown to its users)")

    def handle(self, *args, slug, reason, **options):
        try:
            change = account_suspend(account_get(slug), reason=reason, by=None, source=command_source("account_suspend"))
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(change.message)
