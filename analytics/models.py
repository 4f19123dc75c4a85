"""Analytics rollups (later) and the record of the tenant's background jobs (tenant schema)."""

from django.db import models


class JobStatus(models.Model):
    """When a background job last ran for this tenant, and how it ended.

    One row per job, updated in place: managers and operators see at a glance that the
    per-tenant jobs (heartbeat now, rollups and SLA checks later) are running for them.
    """

    job = models.CharField(max_length=100, unique=True)
    last_started_at = models.DateTimeField()
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    run_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["job"]
        verbose_name = "background job"
        verbose_name_plural = "background jobs"

    def __str__(self) -> str:
        return self.job


class ReportingDirtyDay(models.Model):
    """A day (in the account's time zone) whose reporting must be recomputed, because a
    conversation changed in a way reports count (conversations/followups.py marks it; the
    rollups of issue 11 recompute and delete it)."""

    day = models.DateField(unique=True)
    marked_at = models.DateTimeField()

    class Meta:
        ordering = ["day"]

    def __str__(self) -> str:
        return self.day.isoformat()
