"""Shared fixtures: two test tenants made once per session, clients on their hosts, a real
Celery worker, and data reset between tests without re-migrating any schema.

Two ways a test gets the database:
- `db` (pytest-django): the test runs inside a transaction rolled back at its end, tenant
  schemas included. The default; fast.
- `committed_db`: real commits, for what another process must see (a Celery worker) or what
  creates schemas (create_account). Afterwards every row the test wrote is truncated and any
  schema it created is dropped; the session's tenants and their migrations stay.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.core.handlers.wsgi import get_path_info
from django.test import Client
from django.test.client import ClientHandler
from django_tenants.utils import get_public_schema_name

REPO_DIR = Path(__file__).resolve().parent.parent
ALPHA, BETA = "alpha", "beta"
# The tenant template (accounts/tenant_template.py) stays too: rebuilding it costs seconds.
KEEP_SCHEMAS = {get_public_schema_name(), ALPHA, BETA, settings.TENANT_BASE_SCHEMA}
# Tables whose rows come from migrations, not from tests.
MIGRATION_TABLES = {"django_migrations", "django_content_type", "auth_permission"}


def _tenant_create(slug: str, name: str):
    from accounts.models import Account, Domain

    account = Account(schema_name=slug, name=name)
    account.save(verbosity=0)
    Domain.objects.create(domain=f"{slug}.localhost", tenant=account, is_primary=True)
    return account


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker, django_db_modify_db_settings):
    """The test database plus the platform row and tenants alpha and beta, once per session.

    Made here rather than by pytest-django's fixture: that one creates only the databases that
    `django_db`-marked tests ask for, and `committed_db` tests carry no such mark, so a session
    of only those would otherwise run against the development database.
    `django_db_modify_db_settings` names each pytest-xdist worker's database apart
    (`test_hearth_gw0`, ...; tests/bootstrap.py keeps their Redis apart).
    """
    from django.test.utils import setup_databases, teardown_databases

    from accounts.services import public_account_ensure

    with django_db_blocker.unblock():
        old_config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
        _assert_test_database()
        public_account_ensure(domains=["localhost", "testserver"])
        _tenant_create(ALPHA, "Alpha Corp")
        _tenant_create(BETA, "Beta Inc")
    yield
    with django_db_blocker.unblock():
        # A worker or web process that just exited may leave its backend a moment behind it.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        teardown_databases(old_config, verbosity=0)


def _assert_test_database() -> None:
    name = connection.settings_dict["NAME"]
    if not name.startswith("test_"):
        pytest.exit(f"refusing to touch database {name!r}: tests only run on a test_ database", returncode=3)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness buys nothing in tests and costs ~0.2 s per login.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with no cached values and no throttle counts (the suite's keys only)."""
    yield
    from config.redis import redis_client

    client = redis_client()
    keys = list(client.scan_iter(f"*:{settings.CACHES['default']['KEY_PREFIX']}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _public_schema_after_each_test():
    from accounts.middleware import tenant_cache_clear

    tenant_cache_clear()  # accounts and domains a test makes or drops are seen at once
    yield
    # A request or tenant_context may leave the connection on a tenant schema.
    if connection.connection is not None or hasattr(connection, "schema_name"):
        connection.set_schema_to_public()


@pytest.fixture
def alpha(django_db_setup):
    from accounts.models import Account

    return Account.objects.get(schema_name=ALPHA)


@pytest.fixture
def beta(django_db_setup):
    from accounts.models import Account

    return Account.objects.get(schema_name=BETA)


class HearthClient(Client):
    """Django's test client, routing each request as config/wsgi.py does: a widget API path
    through the widget API's handler (config/widget_handler.py), anything else through
    Django's usual one. The clients below are these, so every widget API test goes the way
    production does."""

    def __init__(self, enforce_csrf_checks=False, **kwargs):
        super().__init__(enforce_csrf_checks=enforce_csrf_checks, **kwargs)
        self.handler = _RoutingClientHandler(self.handler, enforce_csrf_checks)


class _RoutingClientHandler:
    def __init__(self, desk_handler, enforce_csrf_checks):
        from config.widget_handler import WidgetApiMiddlewareMixin

        class WidgetApiClientHandler(WidgetApiMiddlewareMixin, ClientHandler):
            pass

        self.desk_handler = desk_handler
        self.widget_api_handler = WidgetApiClientHandler(enforce_csrf_checks)

    def __call__(self, environ):
        from conversations.api.cors import is_widget_api_path

        widget_api = is_widget_api_path(get_path_info(environ))
        return (self.widget_api_handler if widget_api else self.desk_handler)(environ)


@pytest.fixture
def alpha_client():
    return HearthClient(HTTP_HOST=f"{ALPHA}.localhost")


@pytest.fixture
def beta_client():
    return HearthClient(HTTP_HOST=f"{BETA}.localhost")


@pytest.fixture
def public_client():
    return HearthClient(HTTP_HOST="localhost")


def _reset_committed_data() -> None:
    _assert_test_database()
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg_%%' AND nspname <> 'information_schema'"
        )
        schemas = {row[0] for row in cursor.fetchall()}
        for schema in sorted(schemas - KEEP_SCHEMAS):
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
        cursor.execute(
            # The template holds no test's rows: truncating its tables would only cost time.
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(%s)", [sorted(KEEP_SCHEMAS - {settings.TENANT_BASE_SCHEMA})]
        )
        tables = [
            f'"{schema}"."{table}"'
            for schema, table in cursor.fetchall()
            if table not in MIGRATION_TABLES and not (schema == "public" and table in {"accounts_account", "accounts_domain"})
        ]
        if tables:
            _truncate(cursor, tables)
        # The kept accounts' own settings go back to what bootstrap made (a test that moves
        # alpha to another plan, suspends it or sets retention must not leak into the next).
        cursor.execute(
            "UPDATE accounts_account SET plan = 'trial', state = 'active', suspended_at = NULL, suspended_reason = '',"
            " retention_message_days = NULL, retention_ai_payload_days = NULL WHERE schema_name = ANY(%s)",
            [sorted(KEEP_SCHEMAS)],
        )
        cursor.execute("DELETE FROM accounts_domain WHERE tenant_id IN (SELECT id FROM accounts_account WHERE NOT (schema_name = ANY(%s)))", [sorted(KEEP_SCHEMAS)])
        cursor.execute("DELETE FROM accounts_account WHERE NOT (schema_name = ANY(%s))", [sorted(KEEP_SCHEMAS)])


def _truncate(cursor, tables: list[str], attempts: int = 5) -> None:
    """The session's Celery worker may still be running a task the test queued (an AI
    classification takes a while): its row locks and the TRUNCATE's table locks can deadlock.
    PostgreSQL then aborts one side; when it is this one, it tries again."""
    from psycopg.errors import DeadlockDetected

    for attempt in range(attempts):
        try:
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            return
        except OperationalError as error:
            if not isinstance(error.__cause__, DeadlockDetected) or attempt == attempts - 1:
                raise
            time.sleep(0.5)


@pytest.fixture
def committed_db(request, django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        yield
        if "celery_worker" in request.fixturenames:
            # What the test queued and did not wait for (a routing's reporting follow-up after
            # the classification it waited for) would otherwise run after the truncation below
            # and leave its rows in the next test's tenant.
            celery_worker_drain(request.getfixturevalue("celery_worker"))
        else:
            # Tasks a test without the worker queued (a web server's follow-ups) would be run by
            # the session's worker whenever a later test starts it, in that test's tenants.
            _queued_tasks_drop()
        _reset_committed_data()


def _queued_tasks_drop() -> None:
    from config.redis import redis_client

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    # The broker is REDIS_URL's database; kombu keeps priorities 1-9 in lists named after the queue.
    redis_client().delete(queue, *(f"{queue}\x06\x16{priority}" for priority in range(1, 10)))


# ----------------------------------------------------------------------------- Celery worker


def database_url_of_test_db() -> str:
    db = connection.settings_dict
    host = quote(db["HOST"] or "", safe="")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{quote(db['USER'])}{password}@{host}{port}/{db['NAME']}"


@contextlib.contextmanager
def _stack_process(what: str, command: list[str], log_dir: Path, is_ready, env: dict[str, str] | None = None):
    """Run a process of the stack (worker, web) against the test database and the suite's
    queue until the block ends; fail with the tail of its log if it does not come up.
    `env` overrides (another DATABASE_URL, a pooling mode, ...) go over these."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_test_db(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "DB_CONN_MAX_AGE": "0",
        **(env or {}),
    }
    log_path = log_dir / f"{what}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not is_ready():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the {what} did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, tmp_path_factory):
    """A real `celery worker` process on the test database and the suite's own queue."""
    from config.health import HEARTBEAT_KEY_PREFIX
    from config.redis import redis_client

    hostname = f"tests-{uuid.uuid4().hex[:8]}@localhost"
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-l", "INFO",
               "-n", hostname, "--without-gossip", "--without-mingle"]
    with _stack_process("Celery worker", command, tmp_path_factory.mktemp("worker"),
                        lambda: redis_client().exists(f"{HEARTBEAT_KEY_PREFIX}{hostname}")) as process:
        process.hostname = hostname
        yield process


def celery_worker_drain(worker, *, timeout: float = 60.0) -> None:
    """Wait until the suite's queue is empty and the worker runs and holds no task (what a
    task queues while it runs is waited for too). The worker's pool is `solo`: while a task
    runs it answers no control message, so no answer means busy."""
    from config.celery import app
    from config.redis import redis_client

    broker = redis_client()  # the broker is REDIS_URL's database
    inspector = app.control.inspect(destination=[worker.hostname], timeout=1.0)
    deadline = time.monotonic() + timeout
    idle_twice = 0
    while idle_twice < 2:
        if time.monotonic() > deadline:
            pytest.fail(f"the Celery worker still had work {timeout}s after the test")
        queued = broker.llen(settings.CELERY_TASK_DEFAULT_QUEUE)
        active, reserved = (inspector.active() or {}).get(worker.hostname), (inspector.reserved() or {}).get(worker.hostname)
        idle = queued == 0 and active == [] and reserved == []
        idle_twice = idle_twice + 1 if idle else 0
        if not idle:
            time.sleep(0.2)


def _free_port() -> int:
    """A loopback port free now, for a server process a test is about to start. Chosen by the
    test, not by the kernel (`bind(0)`), below Linux's ephemeral range (32768-60999, where the
    kernel also picks outgoing connections' ports), and under pytest-xdist only among the ports
    whose remainder by the number of workers is the worker's own number: otherwise both workers
    could pick the same port before either server binds it, and one worker's readiness check
    and requests would be answered by the other worker's server."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    number = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    for _ in range(1_000):
        port = random.randrange(20_000 + number, 32_000, workers)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # in use, or still in TIME_WAIT
                continue
        return port
    raise RuntimeError(f"no free loopback port for xdist worker {number} of {workers}")


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, tmp_path_factory):
    """Hearth served by a real HTTP server process on the test database; tenants by host:
    `live_server_url.replace("//", "//alpha.")` is alpha (Chromium resolves *.localhost itself)."""
    port = _free_port()
    url = f"http://localhost:{port}"
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"]
    with _stack_process("web server", command, tmp_path_factory.mktemp("web"), lambda: _answers(f"{url}/admin/login/")):
        yield url


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright (no browser download: `make test`
    installs the `chromium` package)."""
    from playwright.sync_api import sync_playwright

    executable = "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("Debian's chromium is not installed; run `make test` (it installs it) or `apt-get install chromium`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


def wait_for(predicate, *, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"):
    """Poll until `predicate()` is truthy (work done by another process), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def admin_login(client: Client, email: str, password: str, *, prefix: str = "") -> None:
    """Sign in through the admin's login form of the client's tenant, as a person would.

    (`Client.login()` would store the session in whatever schema the test connection is on,
    not in the tenant the client's host names.)
    """
    response = client.post(f"{prefix}/admin/login/", {"username": email, "password": password})
    assert response.status_code == 302, f"login refused for {email}: {response.content[:2000]!r}"
