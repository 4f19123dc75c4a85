"""Analytics rollups (later) and the record of the tenant's background jobs (tenant schema)."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
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


class Dimension(models.TextChoices):
    ALL = "all", "All conversations"
    INBOX = "inbox", "Inbox"
    TEAM = "team", "Team"
    AGENT = "agent", "Agent"
    CATEGORY = "category", "AI category"
    PRIORITY = "priority", "Priority"


# The key of a group with no value: the unassigned, the conversations of no team, no category.
NO_KEY = "none"


def _durations():
    return ArrayField(models.FloatField(), default=list, blank=True)


def _histogram():
    return models.JSONField(default=dict, blank=True)


class DailyRollup(models.Model):
    """One day's figures (in the account's time zone) for one group of conversations: the
    whole desk (`all`), or one inbox, team, agent, AI category or priority (`key` is its id or
    name; NO_KEY for none). Written only by analytics.rollups, which replaces a day whole.

    Each duration is kept twice: the day's median and p90 (percentile_cont, for the daily
    charts), the day's values themselves (seconds), and their histogram (analytics.histograms),
    so a week's or a month's percentiles come from the daily rows (a median of medians is not a
    median): summed histograms, within 2% of the exact percentile of the values.

    Which day a fact belongs to: volume, SLA by the day the conversation was opened; a reply,
    a first response, a resolution, a rating by the day it happened. Groups are the
    conversation's current inbox, team, category and priority; for agents, the assignee for
    volume and CSAT, the author for replies and first responses, the resolver for resolutions.
    """

    day = models.DateField()
    dimension = models.CharField(max_length=10, choices=Dimension.choices)
    key = models.CharField(max_length=100, blank=True)
    # Volume
    conversations_opened = models.PositiveIntegerField(default=0)
    conversations_reopened = models.PositiveIntegerField(default=0)
    conversations_resolved = models.PositiveIntegerField(default=0)
    conversations_handled = models.PositiveIntegerField(default=0)  # with a reply that day
    messages_in = models.PositiveIntegerField(default=0)
    messages_out = models.PositiveIntegerField(default=0)
    # Speed (seconds): calendar time and the inbox's business hours
    first_response_seconds = _durations()
    first_response_median = models.FloatField(null=True)
    first_response_p90 = models.FloatField(null=True)
    first_response_business_seconds = _durations()
    first_response_business_median = models.FloatField(null=True)
    first_response_business_p90 = models.FloatField(null=True)
    reply_seconds = _durations()
    reply_median = models.FloatField(null=True)
    reply_p90 = models.FloatField(null=True)
    reply_business_seconds = _durations()
    reply_business_median = models.FloatField(null=True)
    reply_business_p90 = models.FloatField(null=True)
    resolution_seconds = _durations()
    resolution_median = models.FloatField(null=True)
    resolution_p90 = models.FloatField(null=True)
    resolution_business_seconds = _durations()
    resolution_business_median = models.FloatField(null=True)
    resolution_business_p90 = models.FloatField(null=True)
    # The same durations as histograms (analytics.histograms), summed for a period's percentiles
    first_response_histogram = _histogram()
    first_response_business_histogram = _histogram()
    reply_histogram = _histogram()
    reply_business_histogram = _histogram()
    resolution_histogram = _histogram()
    resolution_business_histogram = _histogram()
    # SLA, of the conversations opened that day that had a due time
    sla_first_response_due = models.PositiveIntegerField(default=0)
    sla_first_response_breached = models.PositiveIntegerField(default=0)
    sla_resolution_due = models.PositiveIntegerField(default=0)
    sla_resolution_breached = models.PositiveIntegerField(default=0)
    # Quality
    csat_responses = models.PositiveIntegerField(default=0)
    csat_sum = models.PositiveIntegerField(default=0)
    csat_1 = models.PositiveIntegerField(default=0)
    csat_2 = models.PositiveIntegerField(default=0)
    csat_3 = models.PositiveIntegerField(default=0)
    csat_4 = models.PositiveIntegerField(default=0)
    csat_5 = models.PositiveIntegerField(default=0)
    ai_feedback_up = models.PositiveIntegerField(default=0)
    ai_feedback_down = models.PositiveIntegerField(default=0)
    # AI on the desk
    ai_classifications = models.PositiveIntegerField(default=0)
    ai_corrections = models.PositiveIntegerField(default=0)
    ai_drafts = models.PositiveIntegerField(default=0)
    ai_drafts_accepted = models.PositiveIntegerField(default=0)
    ai_drafts_edited = models.PositiveIntegerField(default=0)
    ai_drafts_rejected = models.PositiveIntegerField(default=0)
    ai_auto_replies = models.PositiveIntegerField(default=0)
    ai_handoffs = models.PositiveIntegerField(default=0)
    ai_deflected = models.PositiveIntegerField(default=0)  # resolved with AI replies and no human one
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day", "dimension", "key"]
        constraints = [models.UniqueConstraint(fields=["day", "dimension", "key"], name="analytics_daily_unique")]
        indexes = [models.Index(fields=["dimension", "day"], name="analytics_daily_dimension")]

    def __str__(self) -> str:
        return f"{self.day} {self.dimension} {self.key}".strip()


class AIUsageDaily(models.Model):
    """One day's AI provider calls (the ai.AICall ledger) per provider, model and operation."""

    day = models.DateField()
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100)
    operation = models.CharField(max_length=20)
    calls = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)  # error, timeout, budget exceeded
    cache_hits = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    latency_ms = _durations()  # the day's latencies, for exact p95 over any period
    latency_p95_ms = models.FloatField(null=True)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day", "provider", "model", "operation"]
        constraints = [
            models.UniqueConstraint(fields=["day", "provider", "model", "operation"], name="analytics_ai_usage_unique"),
        ]
        verbose_name = "AI usage per day"
        verbose_name_plural = "AI usage per day"

    def __str__(self) -> str:
        return f"{self.day} {self.provider}/{self.model} {self.operation}"


class AvailabilityChange(models.Model):
    """An agent's availability changed (online, busy, offline): written by
    accounts.services.membership_availability_set in the account's schema, the facts an
    agent's time online is counted from (analytics.presence). Never edited afterwards."""

    # Keys to the public user table are declared db_constraint=False: each database constraint
    # from a tenant schema puts two triggers on accounts_user, and at 1,000 tenants their number
    # made every sign-up slower (docs/performance.md, "Tenants at scale"). The ORM still applies
    # on_delete within a schema; accounts.services.user_delete applies it in every schema.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    availability = models.CharField(max_length=20)
    previous = models.CharField(max_length=20, blank=True)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["changed_at", "id"]
        indexes = [models.Index(fields=["user", "changed_at"], name="analytics_availability_user")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.previous or '?'} -> {self.availability} at {self.changed_at:%Y-%m-%d %H:%M}"


class PresenceDaily(models.Model):
    """One agent's time online and busy on one day (the account's time zone), from the
    availability changes; an interval over midnight counts on both days. Written only by
    analytics.presence, which the daily rollup calls for the same days in its transaction."""

    day = models.DateField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    online_seconds = models.FloatField(default=0)
    busy_seconds = models.FloatField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day", "user"]
        constraints = [models.UniqueConstraint(fields=["day", "user"], name="analytics_presence_unique")]
        verbose_name = "agent presence per day"
        verbose_name_plural = "agent presence per day"

    def __str__(self) -> str:
        return f"{self.day} {self.user_id}"
