"""The demo tenant's rollups: its past 30 days (the seeded conversations spread over them)
rolled up at seeding, so the analytics pages show a month of charts from `make run` on."""

from datetime import timedelta

from analytics.rollups import account_today, day_runs, days_rollup
from analytics.services import day_is_rolled_up, reporting_days_mark_dirty


def demo_rollups_backfill(*, days: int = 31) -> int:
    """Roll up the current tenant's last `days` ended days not rolled up yet; returns how many."""
    today = account_today()
    todo = [today - timedelta(days=back) for back in range(days, 0, -1)]
    todo = [day for day in todo if not day_is_rolled_up(day=day)]
    for since, until in day_runs(todo):
        days_rollup(since=since, until=until)
    return len(todo)


def demo_presence_seed(*, days: int = 31) -> int:
    """A month of the current tenant's agents going online, busy and offline (weekdays, 9 to
    about 17:30 local time, with lunch), through the service, so the agents page shows hours
    online; each agent ends as available as before. Skipped once any change is recorded."""
    import random
    from datetime import datetime, time

    from django.db import connection
    from django.utils import timezone

    from accounts.models import Membership
    from accounts.services import membership_availability_set
    from analytics.models import AvailabilityChange
    from analytics.rollups import account_zone

    if AvailabilityChange.objects.exists():
        return 0
    zone, today, now = account_zone(), account_today(), timezone.now()
    generator = random.Random(7)
    members = Membership.objects.filter(account_id=connection.tenant.pk, role=Membership.Role.AGENT).order_by("pk")
    for membership in members:
        current = membership.availability
        first = today - timedelta(days=days)
        shifts = [(datetime.combine(first, time(0), tzinfo=zone), Membership.Availability.OFFLINE)]
        for back in range(days, 0, -1):
            day = today - timedelta(days=back)
            if day.weekday() >= 5:
                continue
            start = datetime.combine(day, time(9), tzinfo=zone) + timedelta(minutes=generator.randint(-20, 25))
            lunch = datetime.combine(day, time(12, 30), tzinfo=zone) + timedelta(minutes=generator.randint(0, 30))
            shifts += [
                (start, Membership.Availability.ONLINE), (lunch, Membership.Availability.BUSY),
                (lunch + timedelta(minutes=45), Membership.Availability.ONLINE),
                (datetime.combine(day, time(17, 30), tzinfo=zone) + timedelta(minutes=generator.randint(-30, 60)), Membership.Availability.OFFLINE),
            ]
        shifts.append((min(now, datetime.combine(today, time(9), tzinfo=zone)), current))
        for at, availability in shifts:
            membership_availability_set(membership=membership, availability=availability, at=at)
    # Days rolled up before the shifts existed are recomputed by the next backfill or beat run.
    reporting_days_mark_dirty(days=[today - timedelta(days=back) for back in range(days, 0, -1)])
    return members.count()
