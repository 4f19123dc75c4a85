"""manage.py user_delete EMAIL --confirm EMAIL: delete a login for good, and clear it from
every account's schema as each key to it says (accounts.services.user_delete)."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services import user_delete
from config.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Delete a login for good: its memberships and API tokens go, conversations it was assigned "
        "are unassigned and articles it wrote lose their author in every account. Deactivating it "
        "(the platform admin's is_active) is the reversible alternative."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="The login's email address")
        parser.add_argument("--confirm", default=None, help="The same email address again")

    def handle(self, *args, email, confirm, **options):
        user = User.objects.filter(email__iexact=(email or "").strip()).first()
        if user is None:
            raise CommandError(f"no login {email!r}")
        if (confirm or "").strip().lower() != user.email.lower():
            raise CommandError(f"refusing to delete {user.email}: repeat its address with --confirm {user.email}")
        try:
            deleted = user_delete(user=user)
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(
            f"deleted {deleted.email}: {deleted.schemas_swept} account schemas swept, "
            f"{deleted.rows_deleted} rows deleted, {deleted.rows_cleared} references cleared"
        )
