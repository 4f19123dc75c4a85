"""One Redis client per URL for the parts that talk to Redis directly (health, heartbeats).

Django's cache (tenant-prefixed keys) is the way for tenant data; this client is for
process-level facts that belong to no tenant.
"""

from __future__ import annotations

import functools
import os
import socket
import threading

import redis
import redis.connection
from hiredis import pack_command
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, connections
from django_tenants.cache import make_key as tenant_make_key

# redis-py's hiredis packer and parser (redis-py 5.1+); with another version round_trip uses
# redis-py's public pack_commands and read_response.
HiredisRespSerializer = getattr(redis.connection, "HiredisRespSerializer", None)
_HiredisParser = getattr(redis.connection, "_HiredisParser", None)


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


def tenant_cache_keys(*names: str) -> list[str]:
    """`cache.make_key(name)` for each name: the Django cache keys of the current tenant, for
    commands sent by `round_trip`. With django-tenants' key function (settings.CACHES) the
    tenant's schema is read once for all of them: through `cache.make_key` every key read
    `django.db.connection.schema_name` and the cache through their per-thread proxies, a dozen
    calls apiece, four keys per widget request."""
    key_format = _key_format or _key_format_read()
    if key_format[0] is None:
        cache = caches[DEFAULT_CACHE_ALIAS]
        return [cache.make_key(name) for name in names]
    # django_tenants.cache.make_key's format: "schema:prefix:version:key".
    head = f"{connections[DEFAULT_DB_ALIAS].schema_name}:{key_format[0]}:{key_format[1]}:"
    return [head + name for name in names]


# (KEY_PREFIX, VERSION) of the default cache when its keys are django-tenants', else (None, None):
# settings, read once per process (and again when a test changes CACHES).
_key_format: tuple | None = None


def _key_format_read() -> tuple:
    global _key_format
    cache = caches[DEFAULT_CACHE_ALIAS]
    _key_format = (cache.key_prefix, cache.version) if cache.key_func is tenant_make_key else (None, None)
    return _key_format


def _key_format_reset(*, setting, **_) -> None:
    global _key_format
    if setting == "CACHES":
        _key_format = None


setting_changed.connect(_key_format_reset, dispatch_uid="config.redis.key_format_reset")


def round_trip(client: redis.Redis, commands: list[tuple], *, retries: int = 1) -> list:
    """Send `commands` in one round trip (as a pipeline without MULTI does) and return their
    replies in order; an error reply comes back as its ResponseError instead of being raised,
    so every reply is read and the connection stays in step. For the widget's hot path:
    redis-py's command and pipeline machinery cost about as much CPU as the round trip itself.
    No response callbacks run: the replies are RESP's (bytes, ints, lists, None).

    The commands go out on a connection this thread keeps for `client` (`_kept_connection`),
    not one checked out of the client's pool: the checkout and return (a lock, redis-py's
    observability counters, a `can_read()` system call) cost 6% of a widget request. A
    connection the server closed (a restart, an idle timeout) fails on the first read; a
    connection that fails during the round trip is closed and the call is made again on a new
    one (`retries` times, at once, as redis-py's own retry does), then the ConnectionError or
    TimeoutError is raised. Commands may thus run twice: for counts and pushes, not payments."""
    for attempt in range(retries + 1):
        connection = _kept_connection(client)
        try:
            # check_health=False: no PING on an interval; a dead connection shows on the read.
            connection.send_packed_command(_packed(connection, commands), check_health=False)
            parser = connection._parser
            replies = []
            if type(parser) is _HiredisParser:
                # What connection.read_response does around the parser, minus its bookkeeping
                # (the host's name for a message, the health-check clock this never uses):
                # the parser still reads, decodes and handles RESP3 pushes; an error reply
                # comes back as its ResponseError.
                try:
                    for _ in commands:
                        replies.append(parser.read_response())
                except socket.timeout as error:
                    raise redis.TimeoutError(f"Timeout reading from Redis: {error}") from error
                except OSError as error:
                    raise redis.ConnectionError(f"Error while reading from Redis: {error.args}") from error
                return replies
            for _ in commands:
                try:
                    replies.append(connection.read_response())
                except redis.ResponseError as error:
                    replies.append(error)
            return replies
        except (redis.ConnectionError, redis.TimeoutError):
            connection.disconnect()  # the next use connects anew
            if attempt == retries:
                raise
        except BaseException:
            connection.disconnect()  # a reply may be left unread: never send on this socket again
            raise
    raise AssertionError("unreachable")


def _packed(connection, commands: list[tuple]):
    """The commands in RESP, as `connection.pack_commands` packs them. With hiredis, redis-py's
    packer is `hiredis.pack_command` per command behind ~12 Python calls (a generator over the
    arguments, splitting a command name such as "CLIENT ID", cutting the output into chunks);
    here it is called directly when no name needs splitting: the same bytes."""
    if type(connection._command_packer) is not HiredisRespSerializer:
        return connection.pack_commands(commands)
    packed = []
    for command in commands:
        name = command[0]
        if type(name) is not str or " " in name:
            return connection.pack_commands(commands)
        packed.append(pack_command(command))
    return [b"".join(packed)]  # send_packed_command sends each item of a list


class _KeptConnections(threading.local):
    """Per thread: {id of a client's pool: (the pool, this thread's connection to its server)}.
    A thread-local, so a connection is never used by two threads at once; remembered with the
    process id, so a forked child (a gunicorn worker, a Celery prefork child) never writes on
    its parent's socket: it drops what it inherited and connects on its own."""

    def __init__(self):
        self.pid = os.getpid()
        self.connections: dict[int, tuple[redis.ConnectionPool, redis.connection.AbstractConnection]] = {}


_kept = _KeptConnections()


def _kept_connection(client: redis.Redis):
    kept = _kept
    if kept.pid != os.getpid():
        # The parent's sockets: forget them without a word to the server (its disconnect()
        # checks the pid and only closes this process's copy of the descriptor).
        kept.pid, kept.connections = os.getpid(), {}
    pool = client.connection_pool
    held = kept.connections.get(id(pool))
    if held is not None and held[0] is pool:  # the pool itself, not another at a reused id
        return held[1]
    # Made as the pool would make one (URL, timeouts, decoding, credentials), but this
    # thread's alone: the pool never hands it to anyone else nor counts it.
    connection = pool.connection_class(**pool.connection_kwargs)
    kept.connections[id(pool)] = (pool, connection)
    return connection
