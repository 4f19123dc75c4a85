"""The nightly retention job: one beat entry, run by a real Celery worker in every tenant's
schema with that tenant's own periods."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts.models import Account
from analytics.models import JobStatus
from config.celery import app as celery_app
from conversations import services
from conversations.models import Message
from tests.conftest import wait_for
from tests.conversations.factories import ContactFactory, InboxFactory

pytestmark = pytest.mark.usefixtures("committed_db", "celery_worker")


@pytest.fixture
def alpha_keeps_30_days(alpha):
    services.account_retention_set(account=alpha, message_days=30, ai_payload_days=30)
    yield
    # The session's accounts outlive the test's rows: put the periods back.
    Account.objects.filter(pk=alpha.pk).update(retention_message_days=None, retention_ai_payload_days=None)


def _old_conversation(text: str) -> None:
    services.conversation_open(
        inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content=text, at=timezone.now() - timedelta(days=31),
    )


def _retention_runs(schema: str) -> int:
    with schema_context(schema):
        status = JobStatus.objects.filter(job="retention_apply").first()
        return status.run_count if status else 0


def test_the_nightly_job_applies_each_tenants_own_periods_in_its_schema(alpha_keeps_30_days, tmp_path):
    from tenant_schemas_celery.scheduler import TenantAwarePersistentScheduler

    assert "retention-apply" in settings.CELERY_BEAT_SCHEDULE
    for schema in ("alpha", "beta"):
        with schema_context(schema):
            _old_conversation(f"{schema}'s words from last month")

    scheduler = TenantAwarePersistentScheduler(app=celery_app, schedule_filename=str(tmp_path / "beat"), lazy=True)
    scheduler.setup_schedule()
    with celery_app.producer_or_acquire() as producer:
        scheduler.apply_entry(scheduler.schedule["retention-apply@__all_tenants_only__"], producer=producer)

    wait_for(lambda: _retention_runs("alpha") == 1 and _retention_runs("beta") == 1, what="the retention job in alpha and beta")
    with schema_context("alpha"):
        assert list(Message.objects.values_list("content", flat=True)) == ["[erased]"]
        assert JobStatus.objects.get(job="retention_apply").last_error == ""
    with schema_context("beta"):  # no period set: everything kept
        assert list(Message.objects.values_list("content", flat=True)) == ["beta's words from last month"]


def test_a_suspended_account_s_retention_still_runs_while_its_other_jobs_are_skipped(alpha_keeps_30_days, tmp_path):
    """A suspension pauses service, not the account's promise to its customers to keep their
    words no longer than its periods (README, Operators)."""
    import io

    from django.core.management import call_command

    from analytics.tasks import tenant_heartbeat
    from conversations.tasks import retention_apply

    with schema_context("alpha"):
        _old_conversation("alpha's words from last month")
    call_command("account_suspend", "alpha", reason="Unpaid invoice", stdout=io.StringIO())
    with schema_context("alpha"):
        tenant_heartbeat.delay()  # queued first: skipped, as every other job of a suspended account
        retention_apply.delay()
    wait_for(lambda: _retention_runs("alpha") == 1, what="the retention job in suspended alpha")
    with schema_context("alpha"):
        assert list(Message.objects.values_list("content", flat=True)) == ["[erased]"]
        assert not JobStatus.objects.filter(job="heartbeat").exists()
