"""The desk's background work. Thin: each task takes ids, runs one service or follow-up in
the schema of the tenant that queued it, and owns its retry policy.

Per-tenant periodic jobs (beat sends each to every tenant schema): waking snoozed
conversations, flagging SLA breaches, re-queueing missed message follow-ups, folding
customers' waiting words into the search documents.
"""

from datetime import date

from celery import shared_task
from django.db import OperationalError

from analytics.services import job_run
from conversations import followups, services

# A database blip (failover, restart) is worth a few retries; anything else is a bug to see.
RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


@shared_task(**RETRY)
def message_followup(message_id: int) -> bool:
    return followups.message_followup_run(message_id=message_id)


@shared_task(**RETRY)
def conversation_followup(conversation_id: int, days: list[str]) -> None:
    followups.conversation_followup_run(conversation_id=conversation_id, days=[date.fromisoformat(day) for day in days])


@shared_task
def wake_snoozed_conversations() -> int:
    with job_run(job="wake_snoozed_conversations"):
        return services.conversations_wake_snoozed()


@shared_task
def mark_sla_breaches() -> int:
    with job_run(job="mark_sla_breaches"):
        return services.sla_breaches_mark()


@shared_task(**RETRY)
def fold_search_words() -> int:
    """Every five minutes, per tenant (beat): customers' words from SearchWords into their
    conversations' search documents (services/search_words.py). Batches commit one by one,
    so a retry resumes with what is left."""
    with job_run(job="fold_search_words"):
        return services.search_words_fold()


@shared_task
def requeue_message_followups() -> int:
    with job_run(job="requeue_message_followups"):
        return followups.message_followups_requeue()


# Runs in a suspended account too: its retention periods are a promise to its customers that
# a suspension (unpaid invoice, abuse review) does not pause (README, Operators).
@shared_task(runs_while_suspended=True, **RETRY)
def retention_apply() -> str:
    """Nightly, per tenant (beat): the account's retention periods (services/retention.py).
    Batches commit one by one, so a retry after a blip resumes where the run stopped."""
    from django.db import connection

    from accounts.models import Account

    account = Account.objects.get(pk=connection.tenant.pk)  # the periods as they are now
    with job_run(job="retention_apply"):
        return services.retention_apply(account=account).summary()
