"""What the account_export / account_import / account_delete commands share."""

from __future__ import annotations

import sys

from django.core.management.base import CommandError
from tqdm import tqdm

from accounts.models import Account
from accounts.validators import SLUG_PATTERN


def account_get(slug: str) -> Account:
    """The account named by `slug`, or one line saying why not."""
    if not SLUG_PATTERN.match(slug or ""):
        raise CommandError(f"{slug!r} is not an account slug (2-40 lower-case letters and digits, starting with a letter)")
    account = Account.objects.filter(schema_name=slug).first()
    if account is None:
        raise CommandError(f"no account {slug!r}")
    return account


def progress_bar(what: str):
    """A tqdm bar on stderr (hidden when stderr is not a terminal), made once the total is known."""
    return lambda total: tqdm(total=total, desc=what, unit="row", file=sys.stderr, disable=None, mininterval=1, leave=False)


def size_text(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"
