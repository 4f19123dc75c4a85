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


def round_trip(client: redis.Redis, commands: list[tuple], *, retries: int = 1) -> list:
    """Send `commands` in one round trip (as a pipeline without MULTI does) and return their
    replies in order; an error reply comes back as its ResponseError instead of being raised,
    so every reply is read and the connection stays in step. For the widget's hot path:
    redis-py's command and pipeline machinery cost about as much CPU as the round trip itself.
    No response callbacks run: the replies are RESP's (bytes, ints, lists, None).

    The pool hands out a connection it has checked (one the server closed is replaced); one
    that fails during the round trip is dropped and the call is made again on a new one
    (`retries` times, at once, as redis-py's own retry does), then the ConnectionError or
    TimeoutError is raised. Commands may thus run twice: for counts and pushes, not payments."""
    for attempt in range(retries + 1):
        pool = client.connection_pool
        connection = pool.get_connection()
        try:
            connection.send_packed_command(connection.pack_commands(commands))
            replies = []
            for _ in commands:
                try:
                    replies.append(connection.read_response())
                except redis.ResponseError as error:
                    replies.append(error)
            return replies
        except (redis.ConnectionError, redis.TimeoutError):
            connection.disconnect()
            if attempt == retries:
                raise
        except BaseException:
            connection.disconnect()  # a reply may be left unread: never hand this connection out again
            raise
        finally:
            pool.release(connection)
    raise AssertionError("unreachable")
