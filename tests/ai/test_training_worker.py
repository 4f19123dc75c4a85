"""The nightly retrain through a real Celery worker: the task runs in the schema of the tenant
it was sent for, trains that tenant only, and a second run with nothing new does nothing."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context, tenant_context

from ai.examples import examples_import
from analytics.models import JobStatus
from ai.models import ClassifierVersion
from ai.tasks import classifiers_retrain
from tests.ai.test_local_models import EXAMPLES
from tests.conftest import wait_for


@pytest.mark.usefixtures("committed_db", "celery_worker")
def test_the_worker_retrains_the_tenant_it_runs_for_and_only_it(alpha, beta):
    with tenant_context(beta):
        examples_import([(text, label) for label in ("shipping", "bug") for text in EXAMPLES[label]])
    with tenant_context(alpha):
        examples_import([(text, label) for label in ("billing", "login") for text in EXAMPLES[label]])
        classifiers_retrain.delay()

    with schema_context("alpha"):
        trained = wait_for(lambda: ClassifierVersion.objects.first(), timeout=120, what="alpha's classifier")
        assert trained.version == 1
        assert trained.categories == ["billing", "login"] and trained.example_count == 16
    with schema_context("beta"):
        assert not ClassifierVersion.objects.exists()  # beta's own run was never sent

    with tenant_context(alpha):
        classifiers_retrain.delay()  # nothing new since v1
    with schema_context("alpha"):
        wait_for(lambda: _runs("classifiers_retrain") == 2, timeout=60, what="the second run")
        assert ClassifierVersion.objects.count() == 1


def _runs(job: str) -> int:
    return JobStatus.objects.filter(job=job).values_list("run_count", flat=True).first() or 0
