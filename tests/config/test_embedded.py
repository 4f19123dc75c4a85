"""The embedded servers keep their data across restarts, and two checkouts do not collide."""

import psycopg
import redis

from config.embedded import EmbeddedPostgres, EmbeddedRedis


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
