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


# ----------------------------------------------------------------------------- across requests
# The backend (config/tenant_postgresql/base.py) skips the SET when the server reports that it
# has the path already. Each `set_tenant` below is what the next request on the same kept
# connection does first.


def _search_path_statements(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SET search_path")]


def _next_request_reads(tenant) -> tuple[list[str], list[str]]:
    """(the inbox names the next request of `tenant` reads, the SETs it sent for them)."""
    with CaptureQueriesContext(connection) as queries:
        connection.set_tenant(tenant)
        names = _inbox_names()
    return names, _search_path_statements(queries)


def test_the_next_request_of_the_same_tenant_sends_no_set(db, alpha, beta):
    _make_inboxes(alpha, beta)
    assert _next_request_reads(alpha) == (["Alpha's inbox"], ['SET search_path = "alpha","public"'])
    assert _next_request_reads(alpha) == (["Alpha's inbox"], [])


def test_requests_of_two_tenants_on_one_connection_each_read_their_own_rows(db, alpha, beta):
    _make_inboxes(alpha, beta)
    for tenant, name in [(alpha, "Alpha's inbox"), (beta, "Beta's inbox"), (beta, "Beta's inbox"), (alpha, "Alpha's inbox")]:
        assert _next_request_reads(tenant)[0] == [name]


@pytest.mark.parametrize("raw", [
    'SET search_path TO "beta", "public"',
    "SELECT set_config('search_path', 'beta, public', false)",
    "RESET search_path",
])
def test_a_path_changed_by_anything_else_is_set_again(db, alpha, beta, raw):
    _make_inboxes(alpha, beta)
    _next_request_reads(alpha)
    with connection.cursor() as cursor:  # e.g. a raw SET in a command, a bench or a library
        cursor.execute(raw)
    assert _next_request_reads(alpha) == (["Alpha's inbox"], ['SET search_path = "alpha","public"'])


def test_a_set_undone_by_a_rollback_is_not_trusted_by_the_next_request(committed_db, alpha, beta):
    _make_inboxes(alpha, beta)
    _next_request_reads(beta)  # outside a transaction: the server keeps beta's path
    with pytest.raises(Boom), transaction.atomic():
        assert _next_request_reads(alpha)[0] == ["Alpha's inbox"]  # SET inside the transaction...
        raise Boom  # ...undone by the ROLLBACK: the server is on beta's path again
    assert _next_request_reads(alpha) == (["Alpha's inbox"], ['SET search_path = "alpha","public"'])


def test_a_new_connection_gets_its_set(committed_db, alpha, beta):
    _make_inboxes(alpha, beta)
    _next_request_reads(alpha)
    connection.close()  # as CONN_MAX_AGE or a dead connection ends it
    assert _next_request_reads(alpha) == (["Alpha's inbox"], ['SET search_path = "alpha","public"'])


def test_the_widget_api_answers_each_tenant_from_its_own_schema_on_one_connection(db, alpha, beta, alpha_client, beta_client):
    from django_tenants.utils import tenant_context

    tokens = {}
    for tenant, name in [(alpha, "Alpha's inbox"), (beta, "Beta's inbox")]:
        with tenant_context(tenant):
            tokens[tenant.schema_name] = Inbox.objects.create(name=name).widget_token

    def inbox_name(client, token):
        response = client.get(f"/api/widget/v1/config?widget_token={token}")
        return response.json()["inbox"] if response.status_code == 200 else response.status_code

    for _ in range(2):  # the second round runs on paths the server already has
        assert inbox_name(alpha_client, tokens["alpha"]) == "Alpha's inbox"
        assert inbox_name(beta_client, tokens["beta"]) == "Beta's inbox"
        assert inbox_name(beta_client, tokens["alpha"]) == 401  # alpha's token is unknown in beta
        assert inbox_name(alpha_client, tokens["beta"]) == 401
