"""The demo tenant's rollups: its past 30 days (the seeded conversations spread over them)
rolled up at seeding, so the analytics pages show a month of charts from `make run` on."""

from datetime import timedelta

from analytics.rollups import account_today, day_runs, days_rollup
from analytics.services import day_is_rolled_up


def demo_rollups_backfill(*, days: int = 31) -> int:
    """Roll up the current tenant's last `days` ended days not rolled up yet; returns how many."""
    today = account_today()
    todo = [today - timedelta(days=back) for back in range(days, 0, -1)]
    todo = [day for day in todo if not day_is_rolled_up(day=day)]
    for since, until in day_runs(todo):
        days_rollup(since=since, until=until)
    return len(todo)
