"""The Celery app: tenant-aware, so a task runs in the schema of the tenant that queued it.

`tenant_schemas_celery.CeleryApp` stamps every message sent while a tenant schema is active
with that schema's name (`_schema_name` header), and switches the worker's connection to
that schema before the task runs; `transaction.on_commit(task.delay)` keeps the header
because the schema is still active when the commit hook fires.

Per-tenant periodic jobs: beat runs `TenantAwarePersistentScheduler`; a CELERY_BEAT_SCHEDULE
entry without `tenant_schemas` is sent once for every tenant schema (never public).

Each worker also writes a heartbeat to Redis (see `config.health`), which /healthz reads.
"""

from __future__ import annotations

import os
import socket

from celery import bootsteps
from tenant_schemas_celery.app import CeleryApp as TenantAwareCeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = TenantAwareCeleryApp("hearth")
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
