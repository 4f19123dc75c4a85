"""What the desk's operator commands share: the account argument (`--account SLUG`).
Anything unusable is one readable line and a non-zero exit (CommandError)."""

from __future__ import annotations

from django.core.management.base import CommandError


def account_get(slug: str):
    from django_tenants.utils import get_public_schema_name

    from accounts.models import Account

    account = Account.objects.filter(schema_name=slug).exclude(schema_name=get_public_schema_name()).first()
    if account is None:
        raise CommandError(f"no account {slug!r} (the account's slug, as in its schema name)")
    return account
