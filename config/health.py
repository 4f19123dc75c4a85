"""`GET /healthz`: is the database up, is Redis up, is at least one worker alive?

Workers prove they are alive with a heartbeat key in Redis (written by the
`WorkerHeartbeat` bootstep in config/celery.py), so a health probe costs one Redis round
trip instead of a broadcast ping that waits for replies.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from config.redis import redis_client

HEARTBEAT_KEY_PREFIX = "hearth:worker-heartbeat:"


def worker_heartbeat_write(hostname: str) -> None:
    redis_client().set(f"{HEARTBEAT_KEY_PREFIX}{hostname}", int(time.time()), ex=settings.WORKER_HEARTBEAT_TTL)


def worker_heartbeat_clear(hostname: str) -> None:
    redis_client().delete(f"{HEARTBEAT_KEY_PREFIX}{hostname}")


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"status": "up"}
    except Exception as exc:  # any failure to answer is "down"; say why
        return {"status": "down", "error": exc.__class__.__name__}


def check_redis() -> dict:
    try:
        redis_client().ping()
        return {"status": "up"}
    except Exception as exc:
        return {"status": "down", "error": exc.__class__.__name__}


def check_worker() -> dict:
    try:
        workers = sorted(key.removeprefix(HEARTBEAT_KEY_PREFIX) for key in redis_client().scan_iter(f"{HEARTBEAT_KEY_PREFIX}*"))
    except Exception as exc:
        return {"status": "down", "error": f"heartbeat unreadable ({exc.__class__.__name__})"}
    if not workers:
        return {"status": "down", "error": f"no worker heartbeat in the last {settings.WORKER_HEARTBEAT_TTL}s"}
    return {"status": "up", "workers": workers}


@require_GET
def healthz(request):
    checks = {"database": check_database(), "redis": check_redis(), "worker": check_worker()}
    down = [name for name, result in checks.items() if result["status"] != "up"]
    body = {"status": "down" if down else "up", "down": down, "checks": checks}
    return JsonResponse(body, status=503 if down else 200)
