"""Analytics tasks. Thin: each loads what it needs and calls a service."""

from celery import shared_task

from analytics.services import job_run


@shared_task
def tenant_heartbeat() -> None:
    """Per-tenant periodic job (beat runs it once for every tenant): proves that tasks reach
    this tenant's schema, and shows when they last did in the admin's "Background jobs"."""
    with job_run(job="heartbeat"):
        pass
