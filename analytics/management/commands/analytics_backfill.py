"""manage.py analytics_backfill --account SLUG | --all --since YYYY-MM-DD [--until YYYY-MM-DD] [--redo]

Rolls up every day of the period for one account or all of them, up to a month of days per
transaction (one pass over the raw tables each), so an interrupted backfill keeps the months it
finished and never half a day; run again, it skips the
days already rolled up (after they ended, and not marked stale since) unless --redo. Running it
twice gives the same rows. `--until` defaults to each account's yesterday.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name, tenant_context
from tqdm import tqdm

from analytics.rollups import account_today, day_runs, days_rollup
from analytics.services import day_is_rolled_up

MAX_DAYS = 3660  # ten years: a longer range is a typo


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{name} {value!r} is not a date like 2026-01-31") from None


class Command(BaseCommand):
    help = "Roll up the analytics of past days for one account (--account) or all (--all). Resumable and idempotent."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--account", help="The account's slug")
        which.add_argument("--all", action="store_true", help="Every account")
        parser.add_argument("--since", required=True, help="First day, YYYY-MM-DD (in the account's time zone)")
        parser.add_argument("--until", help="Last day, YYYY-MM-DD (default: the account's yesterday)")
        parser.add_argument("--redo", action="store_true", help="Recompute days already rolled up too")

    def handle(self, *args, account=None, all=False, since, until=None, redo=False, **options):
        from accounts.models import Account

        first = _date(since, "--since")
        last = _date(until, "--until") if until else None
        if last is not None and last < first:
            raise CommandError(f"--until {last} is before --since {first}")
        accounts = Account.objects.exclude(schema_name=get_public_schema_name()).order_by("schema_name")
        if account is not None:
            accounts = accounts.filter(schema_name=account)
            if not accounts.exists():
                raise CommandError(f"no account {account!r} (the account's slug, as in its schema name)")
        total = 0
        for row in accounts:
            with tenant_context(row):
                end = min(last or date.max, account_today() - timedelta(days=1))
                days = [first + timedelta(days=n) for n in range(max(0, (end - first).days + 1))]
                if len(days) > MAX_DAYS:
                    raise CommandError(f"{len(days)} days is more than {MAX_DAYS}; choose a shorter period")
                todo = days if redo else [day for day in days if not day_is_rolled_up(day=day)]
                with tqdm(total=len(todo), desc=row.schema_name, unit="day", file=sys.stderr, disable=not todo, mininterval=1) as bar:
                    for first, last in day_runs(todo):
                        days_rollup(since=first, until=last)  # one transaction per run of days
                        bar.update((last - first).days + 1)
                total += len(todo)
                self.stdout.write(f"{row.schema_name}: {len(todo)} day(s) rolled up, {len(days) - len(todo)} already done")
        self.stdout.write(f"done: {total} day(s)")
