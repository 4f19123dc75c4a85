"""Analytics tasks. Thin: each loads what it needs and calls a service."""

from celery import shared_task

from analytics.services import job_run


@shared_task
def tenant_heartbeat() -> None:
    """Per-tenant periodic job (beat runs it once for every tenant): proves that tasks reach
    this tenant's schema, and shows when they last did in the admin's "Background jobs"."""
    with job_run(job="heartbeat"):
        pass


@shared_task
def rollups_run() -> list[str]:
    """Per-tenant (beat): roll up the days that ended and the stale ones (analytics.services)."""
    from analytics import services

    return [day.isoformat() for day in services.rollups_run()]


@shared_task
def day_rollup(day: str) -> int:
    """Recompute one day of the current tenant (operators, tests)."""
    from datetime import date

    from analytics.rollups import day_rollup as rollup

    return rollup(day=date.fromisoformat(day))
