"""Writes for analytics: the background-job record, and which days the rollups recompute when
(the computation of a day itself is analytics/rollups.py)."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta

from django.db.models import F
from django.utils import timezone

from analytics.models import DailyRollup, Dimension, JobStatus, ReportingDirtyDay


@contextlib.contextmanager
def job_run(*, job: str):
    """Record one run of `job` in the current tenant's schema: start, finish, and any error."""
    started_at = timezone.now()
    status, created = JobStatus.objects.get_or_create(job=job, defaults={"last_started_at": started_at})
    if not created:
        JobStatus.objects.filter(pk=status.pk).update(last_started_at=started_at)
    try:
        yield
    except Exception as error:
        JobStatus.objects.filter(pk=status.pk).update(
            last_finished_at=timezone.now(), last_error=f"{error.__class__.__name__}: {error}", run_count=F("run_count") + 1
        )
        raise
    JobStatus.objects.filter(pk=status.pk).update(last_finished_at=timezone.now(), last_error="", run_count=F("run_count") + 1)


def reporting_days_mark_dirty(*, days) -> None:
    """Remember that these days' reporting must be recomputed; marking a day twice is one mark."""
    moment = timezone.now()
    ReportingDirtyDay.objects.bulk_create(
        [ReportingDirtyDay(day=day, marked_at=moment) for day in sorted(set(days))], ignore_conflicts=True
    )


# Days before yesterday recomputed with it, so that late facts (a rating given the next
# morning, a breach flagged overnight) are counted even if no change marked their day.
RECOMPUTE_PREVIOUS_DAYS = 3


def _rolled_up_after_its_end(day: date) -> bool:
    from analytics.rollups import day_bounds

    return DailyRollup.objects.filter(day=day, dimension=Dimension.ALL, computed_at__gte=day_bounds(day)[1]).exists()


def day_is_rolled_up(*, day: date) -> bool:
    """Rolled up after the day ended, and not marked stale since."""
    return _rolled_up_after_its_end(day) and not ReportingDirtyDay.objects.filter(day=day).exists()


def rollups_due() -> list[date]:
    """The days the current tenant's rollup should recompute now: once its local day has
    ended, yesterday and the 3 days before it; at any time, the ended days marked stale."""
    from analytics.rollups import account_today

    today = account_today()
    yesterday = today - timedelta(days=1)
    days = set(ReportingDirtyDay.objects.filter(day__lt=today).values_list("day", flat=True))
    if not _rolled_up_after_its_end(yesterday):
        days.update(yesterday - timedelta(days=offset) for offset in range(RECOMPUTE_PREVIOUS_DAYS + 1))
    return sorted(days)


def rollups_run() -> list[date]:
    """The current tenant's scheduled rollup (beat runs it per tenant), recorded as the
    "analytics_rollup" background job with its error, if any."""
    from analytics.rollups import day_runs, days_rollup

    with job_run(job=ROLLUP_JOB):
        days = rollups_due()
        for since, until in day_runs(days):
            days_rollup(since=since, until=until)
    return days


ROLLUP_JOB = "analytics_rollup"
