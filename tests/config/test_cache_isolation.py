"""Every cache Hearth keeps is per tenant: two tenants writing the same key names never read
each other's values.

The caches: Django's cache (its key function puts the tenant's schema in front of every key,
settings.CACHES), which the analytics histograms and the knowledge base's "model unfit" memo
use; the widget's session cache and the throttle counters (Redis keys made by the same key
function); the AI response cache (rows in each tenant's own schema); and the host/slug ->
tenant lookup each web process remembers (accounts/middleware.py).
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import tenant_context

from ai import cache as ai_cache
from ai.models import Operation
from conversations import session_cache
from conversations.models import WidgetSession
from tests.conversations.factories import ContactFactory, InboxFactory

pytestmark = pytest.mark.usefixtures("db")
WIDGET = "/api/widget/v1/"


def _in_each(tenants, action):
    """Run `action(tenant)` in each tenant's context; their results by schema name."""
    results = {}
    for tenant in tenants:
        with tenant_context(tenant):
            results[tenant.schema_name] = action(tenant)
    return results


@pytest.mark.parametrize(
    "key",
    [
        "shared-name",
        # The names analytics and the knowledge base use (analytics/selectors.py, kb/embedding.py).
        "analytics:histograms:" + "0" * 64,
        "kb:remote-embedding-unfit:text-embedding-3-small",
    ],
)
def test_the_same_django_cache_key_holds_each_tenants_own_value(alpha, beta, key):
    _in_each([alpha, beta], lambda tenant: cache.set(key, f"{tenant.schema_name}'s value"))
    assert _in_each([alpha, beta], lambda tenant: cache.get(key)) == {"alpha": "alpha's value", "beta": "beta's value"}

    # A counter, a get_many and a delete in one tenant leave the other's value alone.
    _in_each([alpha, beta], lambda tenant: cache.set(f"{key}:count", 10 if tenant.schema_name == "alpha" else 500))
    with tenant_context(alpha):
        cache.incr(f"{key}:count")
        cache.delete(key)
    assert _in_each([alpha, beta], lambda tenant: cache.get_many([key, f"{key}:count"])) == {
        "alpha": {f"{key}:count": 11},
        "beta": {key: "beta's value", f"{key}:count": 500},
    }


def test_the_same_ai_response_cache_key_answers_each_tenant_its_own_response(alpha, beta):
    key = ai_cache.cache_key(operation=Operation.CLASSIFY, provider="openai", model="m", payload={"text": "refund?"})

    def put(tenant):
        ai_cache.cache_put(key=key, operation=Operation.CLASSIFY, provider="openai", model="m",
                           response={"label": f"{tenant.schema_name}-billing"}, cost=Decimal("0.01"), input_tokens=3, output_tokens=1)

    _in_each([alpha, beta], put)
    assert _in_each([alpha, beta], lambda tenant: ai_cache.cache_get(key=key).response) == {
        "alpha": {"label": "alpha-billing"}, "beta": {"label": "beta-billing"},
    }


def test_a_cached_widget_session_of_one_tenant_is_not_found_in_another(alpha, beta):
    def open_session(tenant):
        inbox = InboxFactory(auto_assign=False, name=f"{tenant.name} chat")
        return WidgetSession.objects.create(inbox=inbox, contact=ContactFactory(), expires_at=timezone.now() + timedelta(hours=1))

    with tenant_context(alpha):
        session = open_session(alpha)
        session_cache.session_get(str(session.pk))  # starts alpha's generation
        _, generation = session_cache.session_get(str(session.pk))
        session_cache.session_put(session, generation=generation, seconds=30)
        assert session_cache.session_get(str(session.pk))[0].inbox.name == "Alpha Corp chat"
    with tenant_context(beta):
        # Same key name (the session's id) asked from beta: nothing cached there.
        session_cache.session_get(str(session.pk))
        assert session_cache.session_get(str(session.pk))[0] is None


def _widget_get(client, inbox, path="config"):
    return client.get(f"{WIDGET}{path}", {"widget_token": inbox.widget_token})


@override_settings(API_THROTTLE_RATES={"widget_session": "100/min", "widget_address": "3/min",
                                       "widget_session_create": "100/min", "api_user": "100/min"})
def test_one_tenants_throttle_counter_does_not_count_another_tenants_requests(alpha, beta, alpha_client, beta_client):
    inboxes = _in_each([alpha, beta], lambda tenant: InboxFactory(auto_assign=False, name=f"{tenant.name} chat"))
    # Same client address, same throttle scope: the counters' names are the same but for the tenant.
    assert [_widget_get(alpha_client, inboxes["alpha"]).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert [_widget_get(beta_client, inboxes["beta"]).status_code for _ in range(3)] == [200, 200, 200]


def test_each_host_and_path_prefix_is_served_by_its_own_tenant_while_remembered(alpha, beta, alpha_client, beta_client, public_client):
    inboxes = _in_each([alpha, beta], lambda tenant: InboxFactory(auto_assign=False, name=f"{tenant.name} chat"))
    for _ in range(2):  # the second round is served from each process's host/slug -> tenant memory
        assert _widget_get(alpha_client, inboxes["alpha"]).json()["inbox"] == "Alpha Corp chat"
        assert _widget_get(beta_client, inboxes["beta"]).json()["inbox"] == "Beta Inc chat"
        assert public_client.get(f"/t/alpha{WIDGET}config", {"widget_token": inboxes["alpha"].widget_token}).json()["inbox"] == "Alpha Corp chat"
        assert public_client.get(f"/t/beta{WIDGET}config", {"widget_token": inboxes["beta"].widget_token}).json()["inbox"] == "Beta Inc chat"
        # A tenant's widget token means nothing on the other tenant's host.
        assert json.loads(_widget_get(beta_client, inboxes["alpha"]).content)["error"]["code"] == "not_authenticated"
