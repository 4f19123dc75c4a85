"""The API throttles, counted in one Redis round trip per request (config/ratelimit.py): the
limit holds, the window ends, and each tenant counts on its own."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings
from django_tenants.utils import tenant_context

from tests.conversations.factories import InboxFactory

RATES = {"widget_session": "100/min", "widget_address": "2/s", "widget_session_create": "100/min", "api_user": "100/min"}


@pytest.fixture
def widget_tokens(db, alpha, beta):
    tokens = {}
    for tenant in (alpha, beta):
        with tenant_context(tenant):
            tokens[tenant.schema_name] = InboxFactory().widget_token
    return tokens


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
