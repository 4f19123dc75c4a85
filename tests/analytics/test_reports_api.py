"""The reports API through HTTP: figures from the rollups plus today's live ones, for managers
and above of this account only; bad periods are a 400 in the API's error shape."""

from datetime import timedelta

import pytest
from django_tenants.utils import tenant_context

from accounts.models import Membership
from accounts.services import api_token_create
from analytics.rollups import account_today, day_bounds, day_rollup
from conversations import services
from conversations.events import Actor
from conversations.models import Conversation
from tests.accounts.factories import MembershipFactory
from tests.conversations.factories import ContactFactory, InboxFactory

Role = Membership.Role


def _key(account, role):
    user = MembershipFactory(account=account, role=role).user
    return user, api_token_create(user=user, account=account, name="bi")[1]


@pytest.fixture
def desk(tenant_in_zone, alpha):
    tenant_in_zone("Europe/Paris")
    today = account_today()
    yesterday = today - timedelta(days=1)
    agent, _ = _key(alpha, Role.AGENT)
    first, second = InboxFactory(auto_assign=False), InboxFactory(auto_assign=False)
    start = day_bounds(yesterday)[0]
    resolved = services.conversation_open(inbox=first, contact=ContactFactory(), content="Refund?", at=start + timedelta(hours=10))
    services.message_add_reply(conversation=resolved, content="Done", author=agent, at=start + timedelta(hours=10, minutes=30))
    services.conversation_status_set(conversation=resolved, status=Conversation.Status.RESOLVED, by=Actor.agent(agent), at=start + timedelta(hours=11))
    services.conversation_open(inbox=second, contact=ContactFactory(), content="Hello", at=start + timedelta(hours=12))
    day_rollup(day=yesterday)
    # The next morning (today): a late rating and a new conversation, both only in the raw tables.
    services.csat_record(conversation=resolved, rating=4, comment="=HYPERLINK(\"http://evil\")")
    services.conversation_open(inbox=first, contact=ContactFactory(), content="Another")
    return {"yesterday": yesterday, "today": today, "first": first, "second": second, "agent": agent}


def test_summary_adds_todays_live_figures_to_the_rollups(desk, alpha, alpha_client):
    _, key = _key(alpha, Role.MANAGER)
    response = alpha_client.get(
        "/api/v1/reports/summary", {"since": desk["yesterday"].isoformat(), "until": desk["today"].isoformat()},
        HTTP_AUTHORIZATION=f"Token {key}",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["conversations_opened"], body["conversations_resolved"]) == (3, 1)
    assert body["first_response_seconds"] == {"median": 1800.0, "p90": 1800.0}
    assert body["resolution_seconds"] == {"median": 3600.0, "p90": 3600.0}
    assert body["csat"]["responses"] == 1 and body["csat"]["average"] == 4.0  # the late rating, live
    assert body["sla"]["first_response_due"] == 0 and body["sla"]["first_response_met_share"] is None
    assert {"classifications", "drafts", "auto_replies", "handoffs", "deflected", "calls", "cost", "cache_hit_rate", "error_rate", "latency_p95_ms"} <= set(body["ai"])

    one_inbox = alpha_client.get(
        "/api/v1/reports/summary", {"since": desk["yesterday"].isoformat(), "until": desk["today"].isoformat(), "inbox": desk["second"].pk},
        HTTP_AUTHORIZATION=f"Token {key}",
    ).json()
    assert one_inbox["conversations_opened"] == 1 and one_inbox["conversations_resolved"] == 0

    daily = alpha_client.get(
        "/api/v1/reports/daily", {"since": desk["yesterday"].isoformat(), "until": desk["today"].isoformat(), "group_by": "inbox"},
        HTTP_AUTHORIZATION=f"Token {key}",
    )
    assert daily.status_code == 200, daily.content
    rows = {(row["day"], row["name"]): row["conversations_opened"] for row in daily.json()}
    assert rows == {
        (desk["yesterday"].isoformat(), desk["first"].name): 1, (desk["yesterday"].isoformat(), desk["second"].name): 1,
        (desk["today"].isoformat(), desk["first"].name): 1,
    }


def test_bad_periods_are_a_400_in_the_api_error_shape(desk, alpha, alpha_client):
    _, key = _key(alpha, Role.OWNER)
    for params, field in [
        ({"since": "2026-02-30", "until": "2026-03-01"}, "since"),
        ({"since": "2026-03-01"}, "until"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "until"),
        ({"since": "2025-01-01", "until": "2026-01-02"}, "until"),  # 367 days
        ({"since": "2026-01-01", "until": "2026-01-02", "group_by": "mood"}, "group_by"),
        ({"since": "2026-01-01", "until": "2026-01-02", "inbox": "1", "team": "2"}, "non_field_errors"),
    ]:
        response = alpha_client.get("/api/v1/reports/daily", params, HTTP_AUTHORIZATION=f"Token {key}")
        assert response.status_code == 400, (params, response.content)
        error = response.json()["error"]
        assert error["code"] == "invalid" and field in error["fields"], (params, error)


def test_agents_and_other_accounts_managers_are_refused(desk, alpha, beta, alpha_client, beta_client):
    _, agent_key = _key(alpha, Role.AGENT)
    params = {"since": desk["yesterday"].isoformat(), "until": desk["today"].isoformat()}
    refused = alpha_client.get("/api/v1/reports/summary", params, HTTP_AUTHORIZATION=f"Token {agent_key}")
    assert refused.status_code == 403 and refused.json()["error"]["message"] == "reports are for owners, admins and managers"
    with tenant_context(beta):
        _, beta_key = _key(beta, Role.MANAGER)
        # Beta's own figures know nothing of alpha's conversations.
        own = beta_client.get("/api/v1/reports/summary", params, HTTP_AUTHORIZATION=f"Token {beta_key}")
        assert own.status_code == 200 and own.json()["conversations_opened"] == 0
    assert alpha_client.get("/api/v1/reports/summary", params, HTTP_AUTHORIZATION=f"Token {beta_key}").status_code == 401


def test_reports_are_in_the_openapi_schema(alpha_client, db):
    schema = alpha_client.get("/api/schema/", {"format": "json"}).json()
    assert {"/api/v1/reports/summary", "/api/v1/reports/daily"} <= set(schema["paths"])
    parameters = {p["name"] for p in schema["paths"]["/api/v1/reports/daily"]["get"]["parameters"]}
    assert {"since", "until", "group_by", "inbox", "team", "agent", "category"} <= parameters
