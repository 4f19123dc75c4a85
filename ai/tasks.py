"""The AI pipeline's background work, thin: each task runs one service in the schema of the
tenant it was sent for (beat sends per-tenant jobs to every tenant schema)."""

from celery import shared_task

from analytics.services import job_run


@shared_task
def cache_expire() -> int:
    """Delete this tenant's expired AI response-cache rows (ai.cache)."""
    from ai.cache import cache_expire as expire

    with job_run(job="ai_cache_expire"):
        return expire()
