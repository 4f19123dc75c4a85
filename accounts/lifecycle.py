"""Suspending and resuming an account: the one place for the rule.

A suspended account keeps everything (schema, rows, domains, memberships, tokens); what
changes is who is served:
- the desk and every other page of its hosts answer 403 "This account is suspended", to
  people signing in and to sessions already open (accounts.middleware.AccountSuspendedMiddleware);
- its widget API and agents' API answer 403 with the error code `account_suspended`;
- its Celery tasks are skipped when a worker picks them up (config.celery.SuspendAwareTask),
  periodic ones included, so no per-task code is needed; except the nightly retention job,
  which still erases what is past the account's retention periods (a suspension pauses
  service, not the account's promise to its customers).
Resuming sets the state back; nothing else was touched, so everything works again. Work a
task would have done while the account was suspended is not replayed, except what the
periodic sweeps find still pending (a customer message's follow-up, a stale report day).

Both changes write an `AccountEvent` (who, when, why, from where) in the same transaction and,
after commit, tell every web process to forget its cached copy of the account (the tenant
cache in accounts.middleware), so the very next request sees the new state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.middleware import tenant_cache_invalidate
from accounts.models import Account, AccountEvent, User
from config import inputs
from config.errors import ApplicationError

REASON_MAX_LENGTH = Account._meta.get_field("suspended_reason").max_length


@dataclass(frozen=True)
class StateChange:
    """What `account_suspend` / `account_resume` did: `changed` is False when the account
    already was in that state (nothing written); `message` says either for people."""

    account: Account
    changed: bool
    message: str


def _locked(account: Account) -> Account:
    if account.is_public:
        raise ApplicationError("the platform's own account (public schema) cannot be suspended or resumed", code="public_account")
    return Account.objects.select_for_update().get(pk=account.pk)


@transaction.atomic
def account_suspend(account: Account, *, reason: str = "", by: User | None, source: str) -> StateChange:
    """Suspend `account` (see module doc). `by` is the operator (None from a shell command);
    `source` says where the change was made ("platform admin", "manage.py account_suspend ...")."""
    reason = reason.strip()
    if len(reason) > REASON_MAX_LENGTH:
        raise ApplicationError(f"the reason may be at most {REASON_MAX_LENGTH} characters", code="invalid", fields={"reason": ["too long"]})
    if not inputs.is_storable(reason):
        raise ApplicationError("the reason must not contain NUL characters", code="invalid", fields={"reason": ["not storable"]})
    locked = _locked(account)
    if locked.is_suspended:
        since = locked.suspended_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if locked.suspended_at else "earlier"
        why = f" ({locked.suspended_reason})" if locked.suspended_reason else ""
        return StateChange(locked, False, f"account {locked.schema_name!r} was already suspended since {since}{why}; nothing changed")
    locked.state, locked.suspended_at, locked.suspended_reason = Account.State.SUSPENDED, timezone.now(), reason
    _state_store(locked)
    AccountEvent.objects.create(account=locked, action=AccountEvent.Action.SUSPENDED, reason=reason, by=by, source=source[:200])
    transaction.on_commit(tenant_cache_invalidate)
    _copy_state(locked, into=account)
    return StateChange(locked, True, f"suspended account {locked.schema_name!r}" + (f": {reason}" if reason else ""))


@transaction.atomic
def account_resume(account: Account, *, by: User | None, source: str) -> StateChange:
    """Serve `account` again, exactly as before it was suspended."""
    locked = _locked(account)
    if not locked.is_suspended:
        return StateChange(locked, False, f"account {locked.schema_name!r} is already active; nothing changed")
    locked.state, locked.suspended_at, locked.suspended_reason = Account.State.ACTIVE, None, ""
    _state_store(locked)
    AccountEvent.objects.create(account=locked, action=AccountEvent.Action.RESUMED, by=by, source=source[:200])
    transaction.on_commit(tenant_cache_invalidate)
    _copy_state(locked, into=account)
    return StateChange(locked, True, f"resumed account {locked.schema_name!r}")


def _state_store(account: Account) -> None:
    # An UPDATE of these three columns rather than TenantMixin.save(), which refuses to run
    # while the connection serves another tenant (an admin request, a test's client).
    Account.objects.filter(pk=account.pk).update(
        state=account.state, suspended_at=account.suspended_at, suspended_reason=account.suspended_reason
    )


def _copy_state(source: Account, *, into: Account) -> None:
    # The caller's instance shows the new state too (an admin action re-renders from it).
    into.state, into.suspended_at, into.suspended_reason = source.state, source.suspended_at, source.suspended_reason


def schema_is_suspended(schema_name: str) -> bool:
    """Read now from the database, never from a cache: a worker asks before each task."""
    return Account.objects.filter(schema_name=schema_name, state=Account.State.SUSPENDED).exists()


def command_source(command: str) -> str:
    """How an AccountEvent names a change made from a shell: the command and the system user."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        user = "unknown"
    return f"manage.py {command} (system user {user})"
