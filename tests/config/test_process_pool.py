"""Django's psycopg pool in the web process (DB_PROCESS_POOL_SIZE): two tenants' customers at
once, over fewer pooled connections than threads, never see each other's rows.

With a pool a physical connection goes from one thread's request to another's, for another
tenant, still carrying the search path the last one set. Hearth's backend skips its
`SET search_path` only when the server's own report on *this* connection proves the path
(config/tenant_postgresql/base.py) and forgets what it knew when the connection goes back to
the pool; these tests hand 2 pooled connections among 8 threads serving alpha and beta,
directly and behind PgBouncer in transaction pooling, and look for rows of the wrong tenant
in every answer and in both schemas.
"""

from __future__ import annotations

import contextlib

import pytest

from tests.config.test_pgbouncer import (  # noqa: F401  (inboxes is a fixture)
    CUSTOMERS_PER_TENANT,
    ROUNDS,
    _concurrent_customers,
    _stored_messages_of_the_other_tenant,
    inboxes,
    pgbouncer,
    web_server,
)
from tests.conftest import database_url_of_test_db

pytestmark = pytest.mark.usefixtures("committed_db")


def pooled_web_server(database_url: str, db_pool_mode: str):
    """gunicorn, one worker with 8 threads sharing a pool of at most 2 connections."""
    return web_server(database_url, db_pool_mode, connections={"DB_PROCESS_POOL_SIZE": "2"}, name="gunicorn with a connection pool")


@contextlib.contextmanager
def _database(route: str):
    if route == "direct":
        yield database_url_of_test_db()
    else:
        with pgbouncer("transaction") as url:
            yield url


@pytest.mark.parametrize(("route", "db_pool_mode"), [("direct", "session"), ("pgbouncer", "transaction")],
                         ids=["direct", "behind-pgbouncer-transaction-pooling"])
def test_pooled_connections_handed_between_two_tenants_requests_never_serve_the_other_tenants_rows(alpha, beta, inboxes, route, db_pool_mode):
    with _database(route) as database_url, pooled_web_server(database_url, db_pool_mode) as url:
        problems = _concurrent_customers(url, inboxes)

    assert problems == {"alpha": [], "beta": []}
    assert _stored_messages_of_the_other_tenant([alpha, beta]) == {"alpha": 0, "beta": 0}
    from django_tenants.utils import tenant_context

    from conversations.models import Message

    for tenant in (alpha, beta):
        with tenant_context(tenant):
            assert Message.objects.filter(content__startswith=f"{tenant.schema_name} customer").count() == CUSTOMERS_PER_TENANT * (ROUNDS + 1)


def test_a_negative_pool_size_is_refused_at_start_in_one_line(tmp_path):
    from tests.config.test_settings import production_env, run

    result = run(["manage.py", "check"], production_env(tmp_path / "data", DB_PROCESS_POOL_SIZE="-1"))

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["hearth: cannot start: DB_PROCESS_POOL_SIZE must be 0 (no pool) or more, not -1."]
