"""manage.py create_api_token: a key for the agents' API, acting as one member of one account."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account, User
from accounts.services import api_token_create
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Create an agents' API token for a member of an account; the key is printed once."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="Account slug")
        parser.add_argument("--email", required=True, help="The member the token acts as")
        parser.add_argument("--name", default="API token", help="What the token is for")

    def handle(self, *args, account, email, name, **options):
        account_row = Account.objects.filter(schema_name=account).exclude(schema_name="public").first()
        if account_row is None:
            raise CommandError(f"no account {account!r}")
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"no user {email!r}")
        try:
            token, key = api_token_create(user=user, account=account_row, name=name)
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"API token {token.name!r} for {user.email} in {account_row.schema_name} (shown once):\n{key}")
