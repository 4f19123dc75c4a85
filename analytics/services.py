"""Writes for analytics: the background-job record (rollups come later)."""

from __future__ import annotations

import contextlib

from django.db.models import F
from django.utils import timezone

from analytics.models import JobStatus, ReportingDirtyDay


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
