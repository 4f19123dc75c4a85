"""One Redis client per URL for the parts that talk to Redis directly (health, heartbeats).

Django's cache (tenant-prefixed keys) is the way for tenant data; this client is for
process-level facts that belong to no tenant.
"""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.lru_cache(maxsize=8)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1, decode_responses=True)


def redis_client() -> redis.Redis:
    # Read REDIS_URL at call time, so override_settings in a test points us elsewhere.
    return _client_for(settings.REDIS_URL)


@functools.lru_cache(maxsize=8)
def _binary_client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def redis_binary_client() -> redis.Redis:
    """The same, answering bytes: for values that are not text (a pickled object)."""
    return _binary_client_for(settings.REDIS_URL)
