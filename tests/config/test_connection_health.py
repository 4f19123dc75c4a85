"""A kept database connection that the server ended is replaced before the request uses it
(CONN_HEALTH_CHECKS, checked without a round trip while it is quiet: config/postgresql)."""

from __future__ import annotations

import time

import pytest
from django.db import connection, connections


@pytest.fixture
def kept():
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def _new_request(wrapper):
    wrapper.health_check_done = False  # what request_started does for a kept connection
    wrapper.close_if_health_check_failed()


def test_a_quiet_healthy_connection_is_kept(db, kept):
    raw = kept.connection
    _new_request(kept)
    assert kept.connection is raw
    with kept.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_a_connection_the_server_ended_is_replaced_before_the_request_uses_it(db, kept):
    pid = kept.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)  # the goodbye crosses the socket
    _new_request(kept)
    with kept.cursor() as cursor:  # no OperationalError: a new connection
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid
