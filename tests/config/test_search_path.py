"""`SET search_path` once per request, not before every query (TENANT_LIMIT_SET_CALLS), and
never a query in the wrong tenant's schema because of it.

PostgreSQL undoes a `SET` when the transaction (or savepoint) that issued it rolls back. With
the search path remembered per connection, a request whose first query ran inside a
transaction that then rolled back would otherwise go on querying the previous request's
tenant. The backend forgets what it set on every rollback; these tests hold it to that.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from conversations.models import Inbox


class Boom(Exception):
    pass


def _inbox_names() -> list[str]:
    return sorted(Inbox.objects.values_list("name", flat=True))


def _searching_the_wrong_schema_after_a_rollback(alpha, beta, *, savepoint: bool) -> list[str]:
    connection.set_tenant(beta)
    assert _inbox_names() == ["Beta's inbox"]  # the session's search path is now beta's
    with pytest.raises(Boom), transaction.atomic(savepoint=savepoint):
        # Switched inside the block, so the SET comes after BEGIN or SAVEPOINT...
        connection.set_tenant(alpha)
        assert _inbox_names() == ["Alpha's inbox"]
        raise Boom  # ...and is undone here
    return _inbox_names()


def _make_inboxes(alpha, beta):
    for tenant, name in [(alpha, "Alpha's inbox"), (beta, "Beta's inbox")]:
        connection.set_tenant(tenant)
        Inbox.objects.create(name=name)


def test_one_search_path_statement_for_several_queries(db, alpha):
    with CaptureQueriesContext(connection) as queries:
        connection.set_tenant(alpha)
        for _ in range(3):
            Inbox.objects.exists()
    assert [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SET search_path")] == [
        'SET search_path = "alpha","public"'
    ]


def test_a_rolled_back_savepoint_does_not_leave_queries_in_another_tenant(db, alpha, beta):
    # Inside the test's own transaction, atomic() rolls back to a savepoint.
    _make_inboxes(alpha, beta)
    assert _searching_the_wrong_schema_after_a_rollback(alpha, beta, savepoint=True) == ["Alpha's inbox"]


def test_a_rolled_back_transaction_does_not_leave_queries_in_another_tenant(committed_db, alpha, beta):
    # Outside any transaction: the SET before the first query is permanent (autocommit); the
    # one inside atomic() is rolled back with the transaction.
    _make_inboxes(alpha, beta)
    assert not connection.in_atomic_block
    assert _searching_the_wrong_schema_after_a_rollback(alpha, beta, savepoint=False) == ["Alpha's inbox"]
