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
"""

from __future__ import annotations

from django.core.cache import cache

from config.redis import redis_client

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
_scripts: dict[int, object] = {}


def windows_count(windows: dict[str, int]) -> dict[str, tuple[int, float]]:
    """Count one request in each window {cache key: window seconds}; returns, per key, the
    count so far in its window and the seconds left until the window ends."""
    if not windows:
        return {}
    client = redis_client()
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_COUNT_SCRIPT)
    # Not DRF's own key: during a rolling deploy, old processes keep a pickled history under
    # that one, and an INCR on it (or their unpickling of our counter) would fail.
    keys = [cache.make_key(f"window:{key}") for key in windows]
    result = script(keys=keys, args=[int(seconds * 1000) for seconds in windows.values()])
    return {key: (int(result[2 * i]), int(result[2 * i + 1]) / 1000) for i, key in enumerate(windows)}
