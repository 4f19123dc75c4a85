"""The Celery app: tenant-aware, so a task runs in the schema of the tenant that queued it.

`tenant_schemas_celery.CeleryApp` stamps every message sent while a tenant schema is active
with that schema's name (`_schema_name` header), and switches the worker's connection to
that schema before the task runs; `transaction.on_commit(task.delay)` keeps the header
because the schema is still active when the commit hook fires.

Per-tenant periodic jobs: beat runs `TenantAwarePersistentScheduler`; a CELERY_BEAT_SCHEDULE
entry without `tenant_schemas` is sent once for every tenant schema (never public).

A suspended account's tasks are skipped (`SuspendAwareTask`, the base of every task): the
worker asks the database, after switching to the task's schema and before running its body,
whether the account is suspended. Queued, retried and periodic tasks alike; no task needs code
of its own for it (accounts/lifecycle.py). The one exception is declared on the task
(`runs_while_suspended=True`): an obligation the account owes its customers, not service to
it (the retention job: a suspension pauses service, not the promise to erase old data).

Each worker also writes a heartbeat to Redis (see `config.health`), which /healthz reads.
"""

from __future__ import annotations

import logging
import os
import socket

from celery import bootsteps
from tenant_schemas_celery.app import CeleryApp as TenantAwareCeleryApp
from tenant_schemas_celery.task import TenantTask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

logger = logging.getLogger(__name__)


class SuspendAwareTask(TenantTask):
    """Runs the task's body only when its tenant is not suspended.

    `__call__` runs after tenant-schemas-celery's task_prerun handler has switched the
    connection to the task's schema, so `connection.schema_name` is the task's tenant."""

    abstract = True
    # True for a task that must run in a suspended account too (`@shared_task(runs_while_suspended=True)`).
    runs_while_suspended = False

    def __call__(self, *args, **kwargs):
        from django.db import connection
        from django_tenants.utils import get_public_schema_name

        from accounts.lifecycle import schema_is_suspended

        schema = connection.schema_name
        if not self.runs_while_suspended and schema != get_public_schema_name() and schema_is_suspended(schema):
            logger.info("skipped %s[%s]: account %r is suspended", self.name, self.request.id, schema)
            return None
        return super().__call__(*args, **kwargs)


class HearthCeleryApp(TenantAwareCeleryApp):
    task_cls = SuspendAwareTask


app = HearthCeleryApp("hearth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Writes `hearth:worker-heartbeat:<hostname>` with a TTL on the consumer's timer."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.hostname = getattr(worker, "hostname", None) or socket.gethostname()
        self.timer_entry = None

    def start(self, worker):
        from django.conf import settings

        from config.health import worker_heartbeat_write

        def beat():
            try:
                worker_heartbeat_write(self.hostname)
            except Exception:  # Redis down: /healthz reports it; the worker keeps running.
                pass

        beat()
        self.timer_entry = worker.timer.call_repeatedly(settings.WORKER_HEARTBEAT_INTERVAL, beat)

    def stop(self, worker):
        from config.health import worker_heartbeat_clear

        if self.timer_entry is not None:
            self.timer_entry.cancel()
        try:
            worker_heartbeat_clear(self.hostname)
        except Exception:
            pass


app.steps["worker"].add(WorkerHeartbeat)
