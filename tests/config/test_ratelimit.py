"""The API throttles, counted in one Redis round trip per request (config/ratelimit.py): the
limit holds, the window ends, and each tenant counts on its own."""

from __future__ import annotations

import time

import pytest
import redis
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import Account
from config.redis import redis_binary_client, round_trip
from conversations import session_cache
from conversations.models import WidgetSession

from tests.conversations.factories import InboxFactory

RATES = {"widget_session": "100/min", "widget_address": "2/s", "widget_session_create": "100/min", "api_user": "100/min"}


@pytest.fixture
def widget_tokens(db, alpha, beta):
    tokens = {}
    for tenant in (alpha, beta):
        with tenant_context(tenant):
            tokens[tenant.schema_name] = InboxFactory().widget_token
    return tokens


def _kept_connection_id() -> int:
    return round_trip(redis_binary_client(), [("CLIENT", "ID")])[0]


def _config(client, widget_token):
    return client.get("/api/widget/v1/config", {"widget_token": widget_token}, REMOTE_ADDR="198.51.100.7")


@override_settings(API_THROTTLE_RATES=RATES)
def test_the_address_limit_refuses_until_its_window_ends(alpha_client, widget_tokens):
    statuses = [_config(alpha_client, widget_tokens["alpha"]).status_code for _ in range(3)]
    refused = _config(alpha_client, widget_tokens["alpha"])
    assert statuses == [200, 200, 429]
    assert refused.status_code == 429 and refused["Retry-After"] == "1"
    time.sleep(1.1)
    assert _config(alpha_client, widget_tokens["alpha"]).status_code == 200


@pytest.mark.parametrize("first, second", [("alpha", "beta"), ("beta", "alpha")])
@override_settings(API_THROTTLE_RATES=RATES)
def test_one_tenants_count_is_not_anothers(alpha_client, beta_client, widget_tokens, first, second):
    clients = {"alpha": alpha_client, "beta": beta_client}
    spent = [_config(clients[first], widget_tokens[first]).status_code for _ in range(3)]
    assert spent == [200, 200, 429]
    assert _config(clients[second], widget_tokens[second]).status_code == 200


# ----------------------------------------------------------------------------- the widget session limit
# Counted in the round trip that reads the cached session (WidgetSessionAuthentication), then
# compared by the throttle: each request counts once, and a refused session is a 401, not a 429.

SESSION_RATES = {**RATES, "widget_session": "3/min", "widget_address": "100/min"}


def _widget_session(client, widget_token):
    token = client.post("/api/widget/v1/sessions", {"widget_token": widget_token}, content_type="application/json").json()["token"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    number = client.post("/api/widget/v1/conversations", {"content": "hello"}, content_type="application/json", **auth).json()["number"]
    return auth, f"/api/widget/v1/conversations/{number}/messages"


def _poll(client, auth, messages) -> int:
    return client.get(messages, **auth).status_code


def _post(client, auth, messages) -> int:
    return client.post(messages, {"content": "hi"}, content_type="application/json", **auth).status_code


@override_settings(API_THROTTLE_RATES=SESSION_RATES)
def test_the_session_limit_counts_each_request_once(alpha_client, widget_tokens):
    auth, messages = _widget_session(alpha_client, widget_tokens["alpha"])  # opening the conversation: 1 of 3
    assert [_poll(alpha_client, auth, messages), _post(alpha_client, auth, messages)] == [200, 201]  # 2 and 3
    assert [_poll(alpha_client, auth, messages), _post(alpha_client, auth, messages)] == [429, 429]
    other_auth, other_messages = _widget_session(alpha_client, widget_tokens["alpha"])  # another session: its own count
    assert _poll(alpha_client, other_auth, other_messages) == 200


@override_settings(API_THROTTLE_RATES=SESSION_RATES)
def test_an_ended_session_over_its_limit_is_told_it_ended(alpha_client, widget_tokens):
    auth, messages = _widget_session(alpha_client, widget_tokens["alpha"])
    for _ in range(3):
        _poll(alpha_client, auth, messages)
    assert alpha_client.delete("/api/widget/v1/sessions/current", **auth).status_code == 429
    with tenant_context(Account.objects.get(schema_name="alpha")):
        WidgetSession.objects.update(revoked_at=timezone.now())
        session_cache.sessions_stale()
    assert _poll(alpha_client, auth, messages) == 401
    forged = {"HTTP_AUTHORIZATION": auth["HTTP_AUTHORIZATION"][:-2] + "xx"}
    assert _poll(alpha_client, forged, messages) == 401


@override_settings(API_THROTTLE_RATES=SESSION_RATES)
def test_the_count_survives_a_redis_that_lost_the_script_and_the_connection(alpha_client, widget_tokens, settings):
    auth, messages = _widget_session(alpha_client, widget_tokens["alpha"])  # 1 of 3
    server = redis.Redis.from_url(settings.REDIS_URL)
    server.script_flush()  # as after a restart: the counting script must be loaded again
    assert _poll(alpha_client, auth, messages) == 200  # 2
    kept = _kept_connection_id()  # the connection this thread keeps for the widget's round trip
    assert server.client_kill_filter(_id=kept) == 1  # dropped, as an idle timeout or a restart does
    assert _poll(alpha_client, auth, messages) == 200  # 3: counted once, on a new connection
    assert _kept_connection_id() != kept
    assert _poll(alpha_client, auth, messages) == 429
