"""config.redis.round_trip on a connection each thread keeps: never one socket for two threads,
never the parent's socket in a forked worker, and a connection the server ended is replaced
by the next call without an error reaching the caller."""

from __future__ import annotations

import os
import threading

import redis
from django.conf import settings

from config.redis import redis_client, round_trip


def _connection_id() -> int:
    # CLIENT ID answers the id of the connection the command came in on.
    return round_trip(redis_client(), [("CLIENT", "ID")])[0]


def test_each_thread_keeps_its_own_connection():
    ids: dict[str, list[int]] = {"one": [], "two": []}
    both_connected = threading.Barrier(2)  # both threads hold their connection at once

    def work(name: str) -> None:
        ids[name].append(_connection_id())
        both_connected.wait(timeout=10)
        ids[name].append(_connection_id())

    threads = [threading.Thread(target=work, args=(name,)) for name in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(set(ids["one"])) == 1 and len(set(ids["two"])) == 1  # kept: the same one each time
    assert ids["one"][0] != ids["two"][0]  # never shared


def test_a_forked_child_connects_on_its_own_and_leaves_the_parents_connection_working():
    parent = _connection_id()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child: a gunicorn worker or a Celery prefork child after the fork
        try:
            os.write(write_end, str(_connection_id()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child_id = int(pipe.read() or 0)
    os.waitpid(child, 0)
    assert child_id and child_id != parent
    assert _connection_id() == parent  # the child neither wrote on nor shut down our socket


def test_a_connection_the_server_ended_is_replaced_by_the_next_call():
    kept = _connection_id()
    assert redis.Redis.from_url(settings.REDIS_URL).client_kill_filter(_id=kept) == 1  # a restart, an idle timeout
    replies = round_trip(redis_client(), [("SET", "hearth:test:round-trip", "1"), ("GET", "hearth:test:round-trip")])
    assert replies == ["OK", "1"]  # answered, on a new connection
    assert _connection_id() != kept


def test_replies_come_back_in_order_with_error_replies_in_their_place():
    """round_trip packs with hiredis directly and reads from redis-py's parser: the bytes sent
    are redis-py's own, every reply is read (an error reply as its ResponseError), and the
    connection stays in step for the next call."""
    from config.redis import _kept_connection, _packed, redis_binary_client

    client = redis_binary_client()
    commands = [("SET", "round-trip:ü", "välue 😀"), ("INCR", "round-trip:ü"), ("SET", b"round-trip:n", 41), ("INCRBYFLOAT", "round-trip:n", 1.5),
                ("MGET", "round-trip:ü", "round-trip:n", "round-trip:none"), ("CLIENT", "ID"), ("DEL", "round-trip:ü", b"round-trip:n")]
    connection = _kept_connection(client)
    assert b"".join(_packed(connection, commands)) == b"".join(connection.pack_commands(commands))
    replies = round_trip(client, commands)
    assert replies[0] == b"OK" and isinstance(replies[1], redis.ResponseError) and "not an integer" in str(replies[1])
    assert replies[2:5] == [b"OK", b"42.5", ["välue 😀".encode(), b"42.5", None]]
    assert isinstance(replies[5], int) and replies[6] == 2
    assert round_trip(client, [("PING",)]) == [b"PONG"]  # the next call reads its own reply
