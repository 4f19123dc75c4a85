"""Tasks run in the schema of the tenant that queued them, on a real worker process."""

import pytest
from django.db import transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django_tenants.utils import schema_context

from accounts.middleware import TenantRoutingMiddleware
from analytics.models import JobStatus
from analytics.tasks import tenant_heartbeat
from config.celery import app as celery_app
from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("committed_db", "celery_worker")


def _runs_in(schema: str) -> int:
    with schema_context(schema):
        status = JobStatus.objects.filter(job="heartbeat").first()
        return status.run_count if status else 0


def _queue_on_commit_view(request):
    """What a view does when its write needs background work: queue it after commit."""
    with transaction.atomic():
        transaction.on_commit(tenant_heartbeat.delay)
    return HttpResponse("queued")


@pytest.mark.parametrize(("host", "path", "schema", "other"), [
    ("alpha.localhost", "/anything/", "alpha", "beta"),
    ("localhost", "/t/beta/anything/", "beta", "alpha"),
])
def test_task_queued_on_commit_in_a_tenant_request_runs_in_that_tenants_schema(host, path, schema, other):
    request = RequestFactory().get(path, HTTP_HOST=host)
    response = TenantRoutingMiddleware(_queue_on_commit_view)(request)
    assert response.content == b"queued"

    wait_for(lambda: _runs_in(schema) == 1, what=f"the heartbeat to run in {schema}")
    assert _runs_in(other) == 0


def test_task_queued_inside_a_tenant_context_runs_there():
    with schema_context("beta"):
        tenant_heartbeat.delay()
    wait_for(lambda: _runs_in("beta") == 1, what="the heartbeat to run in beta")
    assert _runs_in("alpha") == 0


def test_one_beat_entry_runs_for_every_tenant(tmp_path):
    from tenant_schemas_celery.scheduler import TenantAwarePersistentScheduler

    scheduler = TenantAwarePersistentScheduler(app=celery_app, schedule_filename=str(tmp_path / "beat"), lazy=True)
    scheduler.setup_schedule()
    entry = scheduler.schedule["tenant-heartbeat@__all_tenants_only__"]
    with celery_app.producer_or_acquire() as producer:
        scheduler.apply_entry(entry, producer=producer)

    wait_for(lambda: _runs_in("alpha") == 1 and _runs_in("beta") == 1, what="the heartbeat in alpha and beta")
