"""manage.py contact_erase --account SLUG --contact ID [--by EMAIL]

Erases one contact of the account: their personal data and the contents of all their
conversations become "[erased]", the AI's copies of their words go; the conversations and
messages stay as rows, so reports do not change (conversations/services/erasure.py). `--by`
names the person who asked (a login); the audit trail records them, or "Hearth operator".
A second run says the contact was already erased and changes nothing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from config import inputs
from conversations import services
from accounts.commands import account_get


class Command(BaseCommand):
    help = "Erase one contact's personal data and message contents (kept as rows for reports)."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="The account's slug")
        parser.add_argument("--contact", required=True, help="The contact's id (as in the desk's address of the contact)")
        parser.add_argument("--by", help="E-mail of the login asking for the erasure, for the audit trail")

    def handle(self, *args, account, contact, by=None, **options):
        from accounts.models import User
        from conversations.models import Contact

        contact_id = inputs.int_or_none(contact, min_value=1)
        if contact_id is None:
            raise CommandError(f"--contact {contact!r} is not a contact id (a whole number)")
        tenant = account_get(account)
        user = None
        if by is not None:
            user = User.objects.filter(email__iexact=by.strip()).first()
            if user is None:
                raise CommandError(f"--by {by!r}: no login with this e-mail address")
        with tenant_context(tenant):
            row = Contact.objects.filter(pk=contact_id).first()
            if row is None:
                raise CommandError(f"no contact {contact_id} in account {tenant.schema_name!r}")
            erasure = services.contact_erase(contact=row, by=user)
        self.stdout.write(erasure.summary())
