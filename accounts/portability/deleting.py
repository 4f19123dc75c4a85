"""`account_delete`: an account removed for good, after an export unless told otherwise.

The steps run one after the other, each committed on its own, in an order that leaves
something an operator can finish by running the command again: the schema (with every
tenant row), then the public rows that point at the account (domains, memberships,
invitations, API tokens), the Account row last, so the account can still be named until
the end. Users are never deleted: a login may belong to other accounts, and deleting a user
would lock every table that references users in every tenant schema.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django_tenants.utils import get_public_schema_name, schema_exists
from psycopg.errors import DeadlockDetected

from accounts.middleware import tenant_cache_clear
from accounts.models import Account, AccountEvent, ApiToken, Domain, Invitation, Membership
from accounts.portability.exporting import ExportSummary, ProgressFactory, _no_progress, account_export
from config.errors import ApplicationError
from config.redis import redis_client


@dataclass
class DeleteSummary:
    slug: str
    export: ExportSummary | None
    deleted: dict[str, int] = field(default_factory=dict)
    cache_keys: int = 0


def account_delete(
    *, account: Account, confirm: str | None, export_to: Path | None, progress: ProgressFactory = _no_progress
) -> DeleteSummary:
    slug = account.schema_name
    if slug == get_public_schema_name():
        raise ApplicationError("the platform account (public) cannot be deleted", code="public_account")
    if confirm != slug:
        raise ApplicationError(
            f"refusing to delete {slug!r}: repeat its slug with --confirm {slug}" + (f" (got {confirm!r})" if confirm else ""),
            code="confirmation_mismatch",
        )
    summary = DeleteSummary(slug=slug, export=None)
    if export_to is not None:
        if not schema_exists(slug):
            raise ApplicationError(
                f"account {slug!r} has no schema any more (an earlier deletion stopped half-way): "
                "nothing to export; run again with --no-export to finish",
                code="no_schema",
            )
        summary.export = account_export(account=account, out=export_to, progress=progress)

    connection.set_schema_to_public()
    _schema_drop(slug)
    for label, queryset in [
        ("domains", Domain.objects.filter(tenant=account)),
        ("memberships", Membership.objects.filter(account=account)),
        ("invitations", Invitation.objects.filter(account=account)),
        ("api_tokens", ApiToken.objects.filter(account=account)),
        ("account_events", AccountEvent.objects.filter(account=account)),
    ]:
        summary.deleted[label] = queryset.delete()[0]
    Account.objects.filter(pk=account.pk).delete()
    tenant_cache_clear()  # this process's host -> account memory; other processes forget within 30 s
    summary.cache_keys = tenant_cache_keys_delete(slug)
    return summary


# A task still at work in the account (the AI follow-up of its last message, a rollup) can
# hold a lock that DROP SCHEMA waits for while the task waits for a table the drop has
# already locked: PostgreSQL then ends one of the two with a deadlock error. When the drop is
# the one ended, nothing was dropped (one transaction), the task's lock is free a moment
# later, and the drop is simply tried again.
SCHEMA_DROP_ATTEMPTS = 5


def _schema_drop(slug: str) -> None:
    for attempt in range(1, SCHEMA_DROP_ATTEMPTS + 1):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"DROP SCHEMA IF EXISTS {connection.ops.quote_name(slug)} CASCADE")
            return
        except OperationalError as error:
            if not isinstance(error.__cause__, DeadlockDetected):
                raise
            if attempt == SCHEMA_DROP_ATTEMPTS:
                raise ApplicationError(
                    f"account {slug!r} was not deleted: its schema stayed locked by work in progress "
                    f"({SCHEMA_DROP_ATTEMPTS} tries); stop its workers' tasks and run the command again",
                    code="schema_busy",
                ) from error
            time.sleep(0.5 * attempt)


def tenant_cache_keys_delete(schema_name: str) -> int:
    """Drop the tenant's keys from Django's cache: django-tenants' key function starts every
    key with `<schema>:<KEY_PREFIX>:` (config/settings.py, CACHES)."""
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    pattern = _glob_escape(f"{schema_name}:{prefix}:") + "*"
    client = redis_client()
    deleted = 0
    batch: list[str] = []
    for key in client.scan_iter(pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.delete(*batch)
            batch = []
    if batch:
        deleted += client.delete(*batch)
    return deleted


def _glob_escape(text: str) -> str:
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)
