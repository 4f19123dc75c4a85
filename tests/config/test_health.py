"""`GET /healthz` on the public host: database, Redis and a worker heartbeat."""

import pytest
from django.test import override_settings

from config.embedded import EmbeddedRedis


@pytest.mark.django_db
def test_healthz_is_200_when_database_redis_and_worker_are_up(celery_worker, public_client):
    response = public_client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "up" and body["down"] == []
    assert {name: check["status"] for name, check in body["checks"].items()} == {"database": "up", "redis": "up", "worker": "up"}
    assert any(name.startswith("tests-") for name in body["checks"]["worker"]["workers"])


@pytest.mark.django_db
def test_healthz_is_503_naming_redis_when_redis_is_stopped(public_client, tmp_path):
    redis = EmbeddedRedis(tmp_path)
    url = redis.ensure_running()
    redis.stop()

    with override_settings(REDIS_URL=url):
        response = public_client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert "redis" in body["down"]
    assert body["checks"]["database"]["status"] == "up"


@pytest.mark.django_db
def test_healthz_is_503_naming_the_worker_when_no_heartbeat(public_client, tmp_path):
    redis = EmbeddedRedis(tmp_path)  # a live Redis no worker writes to
    try:
        with override_settings(REDIS_URL=redis.ensure_running()):
            response = public_client.get("/healthz")
    finally:
        redis.stop()
    assert response.status_code == 503
    assert response.json()["down"] == ["worker"]


@pytest.mark.django_db
def test_healthz_is_not_served_on_a_tenant_host(alpha_client):
    assert alpha_client.get("/healthz").status_code == 404
