"""Reads on platform records."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet

from accounts.models import Membership, User


def account_members(*, account) -> QuerySet[User]:
    return User.objects.filter(memberships__account=account, is_active=True).order_by("full_name", "email")


def membership_list(*, account) -> QuerySet[Membership]:
    return Membership.objects.filter(account=account).select_related("user").order_by("user__email")


def memberships_by_user_id(*, account, user_ids) -> dict[int, Membership]:
    return {m.user_id: m for m in Membership.objects.filter(account=account, user_id__in=list(user_ids))}


def invitation_by_token(*, account, token: str):
    """The invitation of this account whose link carries `token`, or None (another account's
    token is unknown here, like a made-up one)."""
    from accounts.models import Invitation
    from accounts.services import invitation_token_hash

    if not re.fullmatch(r"[A-Za-z0-9_-]{20,100}", token or ""):
        return None
    return Invitation.objects.select_related("account").filter(account=account, token_hash=invitation_token_hash(token)).first()


@dataclass(frozen=True)
class JobRun:
    """The last run of one background job in one tenant (analytics.JobStatus)."""

    job: str
    last_started_at: datetime
    last_finished_at: datetime | None
    failed: bool  # the last run ended with an error

    @property
    def running(self) -> bool:
        # Started after it last finished (or never finished): running now, or its worker died.
        return self.last_finished_at is None or self.last_started_at > self.last_finished_at


@dataclass(frozen=True)
class AccountActivity:
    """What the platform admin shows of a tenant's own schema. "This month" is the account's
    calendar month in its own time zone, as for its AI budget (ai/budget.py)."""

    conversations_this_month: int
    ai_cost_this_month: Decimal
    jobs: list[JobRun]


def _month_start(time_zone: str, at: datetime) -> datetime:
    try:
        zone = zoneinfo.ZoneInfo(time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return at.astimezone(zone).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def account_activity(*, accounts) -> dict[str, AccountActivity]:
    """Figures of each account's schema, by schema name, in one query whatever the number of
    accounts: one SELECT per schema joined by UNION ALL, each reading its schema's indexes
    (conversations and AI calls by created_at; one row per job). Meant for a page of accounts
    (the admin's changelist shows 100): the query grows with the page, not with the platform.
    The platform's own account and an account whose schema is missing are left out."""
    from django.db import connection
    from django.utils import timezone

    from ai.models import AICall
    from analytics.models import JobStatus
    from conversations.models import Conversation

    accounts = [account for account in accounts if not account.is_public]
    if not accounts:
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", [[a.schema_name for a in accounts]])
        existing = {row[0] for row in cursor.fetchall()}
        accounts = [account for account in accounts if account.schema_name in existing]
        if not accounts:
            return {}
        quote, now = connection.ops.quote_name, timezone.now()
        selects, params = [], []
        for account in accounts:
            schema = quote(account.schema_name)
            selects.append(
                f"SELECT %s, "
                f"(SELECT count(*) FROM {schema}.{quote(Conversation._meta.db_table)} WHERE created_at >= %s), "
                f"(SELECT coalesce(sum(cost), 0) FROM {schema}.{quote(AICall._meta.db_table)} WHERE created_at >= %s), "
                f"(SELECT coalesce(json_agg(json_build_object('job', job, 'started', last_started_at, "
                f"'finished', last_finished_at, 'failed', last_error <> '') ORDER BY job), '[]') "
                f"FROM {schema}.{quote(JobStatus._meta.db_table)})"
            )
            month_start = _month_start(account.timezone, now)
            params += [account.schema_name, month_start, month_start]
        cursor.execute(" UNION ALL ".join(selects), params)
        rows = cursor.fetchall()
    return {
        schema: AccountActivity(
            conversations_this_month=conversations,
            ai_cost_this_month=Decimal(cost),
            jobs=[
                JobRun(
                    job=job["job"], last_started_at=datetime.fromisoformat(job["started"]),
                    last_finished_at=datetime.fromisoformat(job["finished"]) if job["finished"] else None, failed=job["failed"],
                )
                for job in jobs
            ],
        )
        for schema, conversations, cost, jobs in rows
    }
