"""manage.py account_resume SLUG: serve a suspended account again, as it was (accounts/lifecycle.py)."""

from django.core.management.base import BaseCommand, CommandError

from accounts.commands import account_get
from accounts.lifecycle import account_resume, command_source
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Resume a suspended account: its desk, APIs and background jobs work again."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Account slug")

    def handle(self, *args, slug, **options):
        try:
            change = account_resume(account_get(slug), by=None, source=command_source("account_resume"))
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(change.message)
