"""What every operator command that names one account shares: `account_get(slug)`.

Anything unusable is one readable line and a non-zero exit (CommandError): a slug that cannot
be one, no such account, or the public schema (which is the platform, not an account).
"""

from __future__ import annotations

from django.core.management.base import CommandError

from accounts.models import Account
from accounts.validators import SLUG_PATTERN


def account_get(slug: str) -> Account:
    """The account named by `slug`, or one line saying why not."""
    from django_tenants.utils import get_public_schema_name

    if slug == get_public_schema_name():
        raise CommandError(f"{slug!r} is the platform's own schema, not an account")
    if not SLUG_PATTERN.match(slug or ""):
        raise CommandError(f"{slug!r} is not an account slug (2-40 lower-case letters and digits, starting with a letter)")
    account = Account.objects.filter(schema_name=slug).first()
    if account is None:
        raise CommandError(f"no account {slug!r} (the account's slug, as in its schema name)")
    return account
