"""The AI pipeline's background work. Thin, as every task here: ids in, one service call.

Classifying and routing a customer message is not a task of its own: it is a step of the
message's follow-up (conversations.followups.message_followup_run -> ai.pipeline.message_classify),
so it shares that task's after-commit queueing, its tenant, its retries and the sweep that
re-queues a follow-up that never ran. Tasks added below: periodic AI jobs (cache expiry,
nightly retraining), each appended at the end of this file by its owner.
"""

from __future__ import annotations

from celery import shared_task

from analytics.services import job_run


@shared_task
def classifiers_retrain() -> int | None:
    """Nightly, per tenant: retrain when examples or corrections arrived since the newest
    version. Threads stay at HEARTH_AI_THREADS (1 in workers) for the embedder and for
    scikit-learn's BLAS (`classifier_train` limits them), so a retrain never takes every core
    from the workers classifying incoming messages."""
    from ai.training import classifier_retrain_if_needed

    with job_run(job="classifiers_retrain"):
        return classifier_retrain_if_needed()


@shared_task
def cache_expire() -> int:
    """Delete this tenant's expired AI response-cache rows (ai.cache)."""
    from ai.cache import cache_expire as expire

    with job_run(job="ai_cache_expire"):
        return expire()


@shared_task
def draft_regenerate(draft_id: int) -> bool:
    """Write a draft an agent asked to regenerate (ai.services.draft_regenerate made it empty)."""
    from ai.drafts import draft_regenerate_run
    from ai.models import Draft

    draft = Draft.objects.select_related("message__conversation__contact").filter(pk=draft_id).first()
    if draft is None:
        return False
    draft_regenerate_run(draft=draft)
    return True
