"""Per-tenant periodic jobs of the desk (beat sends each to every tenant schema)."""

from celery import shared_task

from analytics.services import job_run
from conversations import services


@shared_task
def wake_snoozed_conversations() -> int:
    with job_run(job="wake_snoozed_conversations"):
        return services.conversations_wake_snoozed()


@shared_task
def mark_sla_breaches() -> int:
    with job_run(job="mark_sla_breaches"):
        return services.sla_breaches_mark()
