"""manage.py create_account: a new tenant (schema, domain, owner membership) in one step."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from accounts.services import account_create
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Create an account: its schema, its domain and its owner's membership, all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Company name shown in the desk")
        parser.add_argument("--slug", required=True, help="Schema name and default host label: a-z, 0-9")
        parser.add_argument("--owner-email", required=True, help="Owner's login; an existing user is reused")
        parser.add_argument("--password", help="Owner's password if the user is new (generated and printed if omitted)")
        parser.add_argument("--domain", help="Host name serving the account (default <slug>.TENANT_DOMAIN_SUFFIX)")
        parser.add_argument("--plan", default=Account.Plan.TRIAL, choices=Account.Plan.values)
        parser.add_argument("--timezone", default="UTC")

    def handle(self, *args, **options):
        try:
            created = account_create(
                name=options["name"],
                slug=options["slug"],
                owner_email=options["owner_email"],
                owner_password=options["password"],
                domain=options["domain"],
                plan=options["plan"],
                timezone=options["timezone"],
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        account = created.account
        self.stdout.write(
            f"created account {account.schema_name!r} ({account.name}) at {created.domain.domain}, "
            f"owner {created.owner.email}" + ("" if created.owner_is_new else " (existing user)")
        )
        if created.generated_password:
            self.stdout.write(f"owner password (shown once): {created.generated_password}")
