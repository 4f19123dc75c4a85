"""Hearth behind a real PgBouncer: two tenants' customers writing and reading at once never see
each other's rows, in transaction pooling (DB_POOL_MODE=transaction) and in session pooling.

The hazard (django-tenants issue #732): django-tenants selects a tenant with `SET search_path`,
and in transaction pooling the next transaction may run on a server connection whose path
another client set. The web server here is gunicorn with 8 threads, each with its own
persistent connection through PgBouncer, multiplexed over 2 server connections; alpha's and
beta's widget customers post and read messages concurrently. With the path carried by each
statement (config/tenant_postgresql/base.py) no message lands in, or is read from, the other
tenant's schema. (Run with the transaction test's web server in `session` mode and the same
traffic shows the other tenant's messages and failed requests within a few rounds.)
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django_tenants.utils import tenant_context

from tests.conftest import _answers, _free_port, _stack_process
from tests.conversations.factories import InboxFactory

pytestmark = pytest.mark.usefixtures("committed_db")

CUSTOMERS_PER_TENANT = 4
ROUNDS = 6


def _pgbouncer_binary() -> str:
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        pytest.fail("Debian's pgbouncer is not installed; run `make test` (it installs it) or `apt-get install pgbouncer`")
    return binary


@contextlib.contextmanager
def pgbouncer(pool_mode: str):
    """PgBouncer on a loopback port in front of the test database (the embedded PostgreSQL's
    Unix socket), `pool_mode` as given. Transaction pooling shares 2 server connections among
    all clients; session pooling gives each client one for as long as it stays connected, so
    it needs as many as the web server has threads."""
    db = connection.settings_dict
    port = _free_port()
    work = Path(tempfile.mkdtemp(prefix="hearth-pgbouncer-"))
    (work / "pgbouncer.ini").write_text(
        f"""[databases]
{db["NAME"]} = host={db["HOST"]} port={db["PORT"] or 5432} dbname={db["NAME"]} user={db["USER"]}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = {pool_mode}
default_pool_size = {2 if pool_mode == "transaction" else 12}
query_wait_timeout = 30
max_client_conn = 200
; the test suite's connections ask for synchronous_commit=off in `options`
ignore_startup_parameters = extra_float_digits,options
"""
    )
    command = [_pgbouncer_binary()]
    if os.getuid() == 0:
        # PgBouncer refuses to run as root; it runs as the owner of PostgreSQL's socket.
        owner = pwd.getpwuid(Path(db["HOST"]).stat().st_uid)
        os.chown(work, owner.pw_uid, owner.pw_gid)
        work.chmod(0o755)
        command += ["-u", owner.pw_name]
    url = f"postgresql://{db['USER']}@127.0.0.1:{port}/{db['NAME']}"

    def answers() -> bool:
        # One connection before the web server's: PgBouncer 1.18 can greet clients that log in
        # while its first server connection is still being made without the server's version.
        try:
            with psycopg.connect(url, connect_timeout=2, autocommit=True) as warm:
                warm.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    try:
        # Its log goes to standard error, which _stack_process keeps in work/pgbouncer.log.
        with _stack_process("pgbouncer", [*command, str(work / "pgbouncer.ini")], work, answers):
            yield url
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def web_server(database_url: str, db_pool_mode: str, *, connections: dict | None = None, name: str = "gunicorn behind PgBouncer"):
    """gunicorn, one worker with 8 threads; by default each thread keeps its own connection
    (DB_CONN_MAX_AGE), `connections` says otherwise (e.g. a process pool)."""
    port = _free_port()
    env = {
        "DATABASE_URL": database_url,
        "DB_POOL_MODE": db_pool_mode,
        **(connections if connections is not None else {"DB_CONN_MAX_AGE": "60"}),
        "WIDGET_SESSION_RATE": "100000/min",
        "WIDGET_ADDRESS_RATE": "100000/min",
        "WIDGET_SESSION_CREATE_RATE": "100000/min",
    }
    command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--workers", "1", "--threads", "8",
               "--worker-class", "gthread", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}"
    log_dir = Path(tempfile.mkdtemp(prefix="hearth-pgbouncer-web-"))
    try:
        with _stack_process(name, command, log_dir, lambda: _answers(f"{url}/admin/login/"), env=env):
            yield url
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)


def _concurrent_customers(url: str, inboxes: dict[str, object]) -> dict[str, list[str]]:
    """Each tenant's customers post and read their conversation at once; returns, per tenant,
    every problem seen: another tenant's message or inbox, or a failed request."""
    customers = [(slug, n) for slug in inboxes for n in range(CUSTOMERS_PER_TENANT)]
    start = Barrier(len(customers), timeout=120)  # a customer failing before it would leave the rest waiting

    def customer(who):
        slug, n = who
        other = next(s for s in inboxes if s != slug)
        problems = []
        with httpx.Client(base_url=f"{url}/t/{slug}/api/widget/v1/", timeout=30) as client:
            try:
                token = client.post("sessions", json={"widget_token": inboxes[slug].widget_token}).json()["token"]
                client.headers["Authorization"] = f"Bearer {token}"
                number = client.post("conversations", json={"content": f"{slug} customer {n} opens"}).json()["number"]
            except (KeyError, ValueError, httpx.HTTPError) as error:  # a 500 page, a refusal
                start.wait()
                return slug, [f"opening the conversation: {error!r}"]
            start.wait()
            for round_ in range(ROUNDS):
                posted = client.post(f"conversations/{number}/messages", json={"content": f"{slug} customer {n} round {round_}"})
                read = client.get(f"conversations/{number}/messages")
                config = client.get("config")
                for response in (posted, read, config):
                    if response.status_code not in (200, 201):
                        problems.append(f"{response.request.method} {response.request.url.path}: {response.status_code}")
                if read.status_code == 200:
                    problems += [f"read {m['content']!r}" for m in read.json()["results"] if m["content"].startswith(other)]
                if config.status_code == 200 and config.json()["inbox"] != inboxes[slug].name:
                    problems.append(f"config of inbox {config.json()['inbox']!r}")
        return slug, problems

    seen = {slug: [] for slug in inboxes}
    with ThreadPoolExecutor(max_workers=len(customers)) as pool:
        for slug, problems in pool.map(customer, customers):
            seen[slug] += problems
    return seen


def _stored_messages_of_the_other_tenant(tenants) -> dict[str, int]:
    from conversations.models import Message

    counts = {}
    for tenant in tenants:
        other = next(t for t in tenants if t != tenant)
        with tenant_context(tenant):
            counts[tenant.schema_name] = Message.objects.filter(content__startswith=other.schema_name).count()
    return counts


@pytest.fixture
def inboxes(alpha, beta):
    made = {}
    for tenant in (alpha, beta):
        with tenant_context(tenant):
            made[tenant.schema_name] = InboxFactory(auto_assign=False, name=f"{tenant.name} chat")
    return made


@pytest.mark.parametrize(
    ("pool_mode", "db_pool_mode"),
    [("transaction", "transaction"), ("session", "session")],
    ids=["transaction-pooling", "session-pooling"],
)
def test_two_tenants_customers_at_once_through_pgbouncer_never_see_each_others_rows(alpha, beta, inboxes, pool_mode, db_pool_mode):
    with pgbouncer(pool_mode) as database_url, web_server(database_url, db_pool_mode) as url:
        problems = _concurrent_customers(url, inboxes)

    assert problems == {"alpha": [], "beta": []}
    assert _stored_messages_of_the_other_tenant([alpha, beta]) == {"alpha": 0, "beta": 0}
    from conversations.models import Message

    for tenant in (alpha, beta):
        with tenant_context(tenant):  # every message each tenant's customers sent is in its own schema
            assert Message.objects.filter(content__startswith=f"{tenant.schema_name} customer").count() == CUSTOMERS_PER_TENANT * (ROUNDS + 1)


def test_statement_pooling_is_refused_at_start_in_one_line(tmp_path):
    from tests.config.test_settings import production_env, run

    result = run(["manage.py", "check"], production_env(tmp_path / "data", DB_POOL_MODE="statement"))

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "hearth: cannot start: DB_POOL_MODE must be session or transaction, not 'statement' "
        "(PgBouncer's statement mode cannot run Hearth's transactions)."
    ]
