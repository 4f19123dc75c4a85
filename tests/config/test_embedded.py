"""The embedded servers keep their data across restarts, two checkouts do not collide, and
only the test suite trades commit durability for speed."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import redis
from django.db import connection

from config.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.conftest import wait_for

REPO_DIR = Path(__file__).resolve().parents[2]


def test_two_redis_data_dirs_get_two_servers_that_keep_their_data(tmp_path):
    first, second = EmbeddedRedis(tmp_path / "one"), EmbeddedRedis(tmp_path / "two")
    try:
        first_url, second_url = first.ensure_running(), second.ensure_running()
        assert first_url != second_url
        redis.Redis.from_url(first_url).set("owner", "one")
        assert redis.Redis.from_url(second_url).get("owner") is None

        first.stop()
        assert not first.is_running()
        assert first.ensure_running() == first_url  # same port again when it is free
        assert redis.Redis.from_url(first_url).get("owner") == b"one"
    finally:
        first.stop()
        second.stop()


def test_postgres_in_its_own_data_dir_keeps_data_across_restarts(tmp_path):
    server = EmbeddedPostgres(tmp_path)
    try:
        location = server.ensure_running()
        assert location.socket_dir.startswith(str(tmp_path)) or "python_PostgresServer" in location.socket_dir
        with psycopg.connect(location.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (note text)")
            conn.execute("INSERT INTO kept VALUES ('still here')")
            assert conn.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'").fetchone()
        assert server.stop() is True
        assert not server.is_running()

        location = server.ensure_running()
        with psycopg.connect(location.url) as conn:
            assert conn.execute("SELECT note FROM kept").fetchall() == [("still here",)]
    finally:
        server.stop()


SHOW_SYNCHRONOUS_COMMIT = (
    "import django; django.setup(); from django.db import connection; cursor = connection.cursor(); "
    "cursor.execute('SHOW synchronous_commit'); print(cursor.fetchone()[0])"
)


@pytest.mark.django_db
def test_make_run_commits_are_durable_and_only_the_suite_skips_the_wal_flush():
    # A `make run` process: the development switch, without the suite's fast-database variable.
    env = {name: value for name, value in os.environ.items() if name != "HEARTH_TEST_DATABASE_FAST"}
    env.update(HEARTH_DEV="1", DJANGO_SETTINGS_MODULE="config.settings")

    result = subprocess.run([sys.executable, "-c", SHOW_SYNCHRONOUS_COMMIT], cwd=REPO_DIR, env=env,
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "on"
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "off"


def _synchronous_commit(location) -> str:
    with psycopg.connect(location.url) as conn:
        return conn.execute("SHOW synchronous_commit").fetchone()[0]


def test_a_data_dir_left_with_synchronous_commit_off_is_made_durable_at_start(tmp_path):
    server = EmbeddedPostgres(tmp_path)
    try:
        location = server.ensure_running()
        assert _synchronous_commit(location) == "on"
        # What earlier checkouts wrote into postgresql.auto.conf at their first start.
        with psycopg.connect(location.url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET synchronous_commit = off")
            conn.execute("SELECT pg_reload_conf()")
        wait_for(lambda: _synchronous_commit(location) == "off", timeout=10, what="the old setting to apply")

        location = server.ensure_running()  # what the next process of the stack does

        wait_for(lambda: _synchronous_commit(location) == "on", timeout=10, what="durable commits")
        assert "synchronous_commit" not in (tmp_path / "postgres" / "postgresql.auto.conf").read_text()
    finally:
        server.stop()
