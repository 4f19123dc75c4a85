"""Request counters for the API throttles: one Redis round trip per request for all of them.

DRF's SimpleRateThrottle keeps each client's request history as a pickled list in the cache,
read and written back by every throttle of every request: two round trips per throttle, and
through Django's cache a new Redis client object per operation, plus a list that grows to the
rate (600 timestamps for the per-address limit). Here every throttle of a request is one
counter, and all of them are counted by one Lua script in one round trip.

A counter is a fixed window that starts at a client's first request: N requests are allowed
until the window ends, then the count starts again. Refused requests count too, but never
extend the window, so a client that keeps knocking is let in when its window ends. Keys are
Django cache keys (tenant schema and KEY_PREFIX in front), so each tenant counts on its own.

The widget API counts its request in the same round trip as it reads the session cache
(`windows_count_with`), and checks the tenant cache's generation in it too (accounts.middleware,
the deferred check): one round trip to Redis per widget request before the view runs.
"""

from __future__ import annotations

import hashlib

import redis

from accounts.middleware import TenantCacheStale, tenant_cache_generation_arrived, tenant_cache_generation_command
from config.redis import redis_binary_client, round_trip, tenant_cache_keys

# For each key: add one; start the window (milliseconds in ARGV) unless one is running.
# Returns the count and the window's milliseconds left, key by key.
_COUNT_SCRIPT = """
local result = {}
for i, key in ipairs(KEYS) do
    local count = redis.call('INCR', key)
    local left = redis.call('PTTL', key)
    if left < 0 then
        left = tonumber(ARGV[i])
        redis.call('PEXPIRE', key, left)
    end
    result[#result + 1] = count
    result[#result + 1] = left
end
return result
"""
_SCRIPT_SHA = hashlib.sha1(_COUNT_SCRIPT.encode()).hexdigest()


def windows_count(windows: dict[str, int]) -> dict[str, tuple[int, float]]:
    """Count one request in each window {cache key: window seconds}; returns, per key, the
    count so far in its window and the seconds left until the window ends."""
    return windows_count_with(windows)[0]


def windows_count_with(windows: dict[str, int], command: tuple | None = None) -> tuple[dict[str, tuple[int, float]], object]:
    """windows_count(windows), with one more `command` (a read: e.g. the widget session cache's
    MGET) sent before it in the same round trip. Returns (the counts, the command's reply: an
    error reply as its ResponseError). A Redis that cannot count raises, as windows_count does."""
    # A widget request routed on this process's remembered accounts checks their generation
    # here, in the same round trip (accounts.middleware: the deferred check), as the last command.
    generation = tenant_cache_generation_command()
    commands = ([command] if command is not None else []) + ([_count_command(windows)] if windows else [])
    try:
        replies = round_trip(redis_binary_client(), commands + [generation] if generation else commands) if commands or generation else []
    except redis.RedisError as error:
        if generation:
            tenant_cache_generation_arrived(error)  # raises TenantCacheStale: route from the database
        raise
    generation_reply = replies.pop() if generation else None
    reply = replies[0] if command is not None else None
    counts = _counts_of(windows, replies[-1]) if windows else {}
    if generation:
        try:
            tenant_cache_generation_arrived(generation_reply)  # raises TenantCacheStale before anything is done
        except TenantCacheStale as stale:
            # The request is served again from its routing; these windows are counted already.
            stale.counts = counts
            raise
    return counts, reply


def _counts_of(windows: dict[str, int], counted) -> dict[str, tuple[int, float]]:
    if isinstance(counted, redis.exceptions.NoScriptError):
        # A restarted or flushed Redis: the script did not run, so nothing was counted yet.
        redis_binary_client().script_load(_COUNT_SCRIPT)
        counted = round_trip(redis_binary_client(), [_count_command(windows)])[0]
    if isinstance(counted, Exception):
        raise counted
    return {key: (int(counted[2 * i]), int(counted[2 * i + 1]) / 1000) for i, key in enumerate(windows)}


def _count_command(windows: dict[str, int]) -> tuple:
    # Not DRF's own key: during a rolling deploy, old processes keep a pickled history under
    # that one, and an INCR on it (or their unpickling of our counter) would fail.
    keys = tenant_cache_keys(*(f"window:{key}" for key in windows))
    return ("EVALSHA", _SCRIPT_SHA, len(keys), *keys, *(int(seconds * 1000) for seconds in windows.values()))
