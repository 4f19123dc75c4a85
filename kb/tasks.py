"""The knowledge base's background work: thin tasks, each in the schema of the tenant that
queued it (tenant-schemas-celery, config/celery.py)."""

from celery import shared_task
from django.db import OperationalError

from analytics.services import job_run
from kb import services
from kb.models import Article

# A database blip is worth a few retries; an embedding failure is not retried here (the
# article stays "not indexed" and `kb_reindex` or its next save rebuilds it).
RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


@shared_task(**RETRY)
def article_chunks_rebuild(article_id: int) -> int:
    article = Article.objects.filter(pk=article_id).first()
    if article is None:  # deleted before the task ran
        return 0
    return services.article_chunks_sync(article=article)


@shared_task
def requeue_pending_articles() -> int:
    with job_run(job="kb_requeue_pending_articles"):
        return services.articles_pending_requeue()
