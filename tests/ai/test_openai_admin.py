"""The AI settings, ledger and cache in the desk's admin: who sees what, the write-only API key,
the ledger's filters and totals, the budget warning, and one tenant never seeing another's."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django_tenants.utils import tenant_context

from accounts.models import Membership
from ai.models import AICall, AISettings, CachedResponse
from ai.settings_store import ai_settings_api_key, ai_settings_get
from tests.accounts.factories import PASSWORD, MembershipFactory
from tests.ai.fake_openai import KEY
from tests.conftest import admin_login

Role = Membership.Role
SETTINGS = "/admin/ai/aisettings/"
LEDGER = "/admin/ai/aicall/"


@pytest.fixture
def in_alpha(db, alpha):
    with tenant_context(alpha):
        yield alpha


def member(role, account):
    return MembershipFactory(account=account, role=role).user


def login(client, user):
    admin_login(client, user.email, PASSWORD)


def form(**overrides) -> dict:
    data = {
        "provider": "openai", "base_url": "https://llm.example.com/v1", "chat_model": "gpt-fake", "embedding_model": "",
        "prices": json.dumps({"gpt-fake": {"input": "0.5", "output": "1.5"}}), "currency": "USD", "monthly_budget": "10",
        "timeout_seconds": "5", "max_retries": "2", "out_of_scope_threshold": "", "routing_confidence_threshold": "0.5",
        "api_key": "",
    }
    data.update(overrides)
    return data


def test_an_owner_sets_replaces_and_clears_the_key_which_is_never_shown(in_alpha, alpha_client):
    login(alpha_client, member(Role.OWNER, in_alpha))
    page_url = alpha_client.get(SETTINGS)["Location"]
    assert alpha_client.get(page_url).status_code == 200

    assert alpha_client.post(page_url, form(api_key=KEY)).status_code == 302
    assert ai_settings_api_key(ai_settings=ai_settings_get()) == KEY
    page = alpha_client.get(page_url).content.decode()
    assert "set (hidden)" in page and KEY not in page and "Zq8x" not in page
    assert KEY not in alpha_client.get(f"{page_url.removesuffix('change/')}history/").content.decode()

    alpha_client.post(page_url, form(api_key=""))  # blank keeps the key
    assert ai_settings_api_key(ai_settings=ai_settings_get()) == KEY
    alpha_client.post(page_url, form(api_key="sk-replacement-key-000"))
    assert ai_settings_api_key(ai_settings=ai_settings_get()) == "sk-replacement-key-000"
    alpha_client.post(page_url, form(api_key_clear="on"))
    assert ai_settings_api_key(ai_settings=ai_settings_get()) == ""
    assert "not set" in alpha_client.get(page_url).content.decode()


@pytest.mark.parametrize("overrides, error", [
    ({"prices": "{}"}, "Give the price of"),
    ({"prices": json.dumps({"gpt-fake": {"input": "-1", "output": "0"}})}, "must be a number from 0 to 1000"),
    ({"prices": json.dumps({"gpt-fake": "cheap"})}, "need"),
    ({"chat_model": ""}, "Needed for an OpenAI-compatible provider"),
    ({"timeout_seconds": "0"}, "Between 0.5"),
    ({"api_key": "sk-x", "api_key_clear": "on"}, "not both"),
])
def test_a_paid_provider_needs_its_endpoint_model_and_prices(in_alpha, alpha_client, overrides, error):
    login(alpha_client, member(Role.ADMIN, in_alpha))
    page_url = alpha_client.get(SETTINGS)["Location"]

    response = alpha_client.post(page_url, form(**overrides))

    assert response.status_code == 200 and error in response.content.decode()
    assert ai_settings_get().provider == "local"  # nothing stored


def test_managers_and_agents_cannot_open_the_ai_settings(in_alpha, alpha_client):
    ai_settings_get()
    for role in (Role.MANAGER, Role.AGENT):
        login(alpha_client, member(role, in_alpha))
        assert alpha_client.get(SETTINGS).status_code == 403
        assert alpha_client.get(f"{SETTINGS}1/change/").status_code == 403
        assert alpha_client.post(f"{SETTINGS}1/change/", form(api_key="sk-mine")).status_code == 403
    assert AISettings.objects.get().provider == "local"


def _ledger_rows():
    AICall.objects.create(operation="classify", provider="openai", model="gpt-fake", input_tokens=100, output_tokens=20, cost=Decimal("0.1"))
    AICall.objects.create(operation="classify", provider="openai", model="gpt-fake", input_tokens=100, output_tokens=20, cost=Decimal("0.1"))
    AICall.objects.create(operation="classify", provider="openai", model="gpt-fake", cache_hit=True, cost_saved=Decimal("0.1"))
    AICall.objects.create(operation="embed", provider="local", model="e5-small", input_tokens=7, status="error", error="boom")


def test_managers_see_the_ledger_with_totals_of_the_filtered_rows(in_alpha, alpha_client):
    _ledger_rows()
    login(alpha_client, member(Role.MANAGER, in_alpha))

    everything = alpha_client.get(LEDGER).content.decode()
    assert "4 calls · 247 tokens · cost 0.2000 · saved by the cache 0.1000 · cache hit rate 25.0%" in " ".join(everything.split())
    ok = " ".join(alpha_client.get(LEDGER, {"status": "ok"}).content.decode().split())
    assert "3 calls · 240 tokens · cost 0.2000 · saved by the cache 0.1000 · cache hit rate 33.3%" in ok
    local = " ".join(alpha_client.get(LEDGER, {"provider": "local", "operation": "embed"}).content.decode().split())
    assert "1 calls · 7 tokens · cost 0.0000" in local
    hits = " ".join(alpha_client.get(LEDGER, {"cache_hit__exact": "1"}).content.decode().split())
    assert "1 calls · 0 tokens" in hits
    assert alpha_client.get(LEDGER, {"model": "gpt-fake"}).status_code == 200


def test_agents_do_not_see_the_ledger_or_the_cache(in_alpha, alpha_client):
    _ledger_rows()
    login(alpha_client, member(Role.AGENT, in_alpha))

    assert alpha_client.get(LEDGER).status_code == 403
    assert alpha_client.get(f"{LEDGER}{AICall.objects.first().pk}/change/").status_code == 403
    assert alpha_client.get("/admin/ai/cachedresponse/").status_code == 403


def test_the_ledger_and_cache_are_read_only(in_alpha, alpha_client):
    _ledger_rows()
    from ai.cache import cache_put

    cache_put(key="a" * 64, operation="classify", provider="openai", model="gpt-fake", response={"x": 1}, cost=Decimal("0.1"), input_tokens=1, output_tokens=1)
    login(alpha_client, member(Role.OWNER, in_alpha))
    row = AICall.objects.first()

    assert alpha_client.get(f"{LEDGER}add/").status_code == 403
    alpha_client.post(f"{LEDGER}{row.pk}/change/", {"cost": "0"})
    alpha_client.post(f"{LEDGER}{row.pk}/delete/", {"post": "yes"})
    assert AICall.objects.get(pk=row.pk).cost == row.cost
    entry = CachedResponse.objects.get()
    assert alpha_client.get(f"/admin/ai/cachedresponse/{entry.pk}/change/").status_code == 200
    alpha_client.post(f"/admin/ai/cachedresponse/{entry.pk}/delete/", {"post": "yes"})
    assert CachedResponse.objects.filter(pk=entry.pk).exists()


def _budget(spent: str, budget: str = "1.00"):
    ai_settings = ai_settings_get()
    ai_settings.provider, ai_settings.base_url, ai_settings.chat_model = "openai", "https://llm.example.com/v1", "gpt-fake"
    ai_settings.monthly_budget = Decimal(budget)
    ai_settings.save()
    AICall.objects.create(operation="classify", provider="openai", model="gpt-fake", cost=Decimal(spent))


@pytest.mark.parametrize("spent, warning", [
    ("0.79", None),
    ("0.80", "AI budget: 0.80 of 1.00 USD (80%) spent this month"),
    ("1.20", "AI budget used up: 1.20 of 1.00 USD (120%) this month"),
])
def test_owners_see_the_budget_warning_from_80_percent(in_alpha, alpha_client, spent, warning):
    _budget(spent)
    login(alpha_client, member(Role.OWNER, in_alpha))

    index = alpha_client.get("/admin/").content.decode()
    ledger = alpha_client.get(LEDGER).content.decode()

    for page in (index, ledger):
        if warning:
            assert warning in page
        else:
            assert "AI budget" not in page


def test_managers_do_not_get_the_budget_warning(in_alpha, alpha_client):
    _budget("0.95")
    login(alpha_client, member(Role.MANAGER, in_alpha))

    assert "AI budget" not in alpha_client.get("/admin/").content.decode()


def test_one_tenants_admin_never_shows_another_tenants_ai_rows(db, alpha, beta, alpha_client, beta_client):
    with tenant_context(alpha):
        AICall.objects.create(operation="classify", provider="openai", model="alpha-only-model", cost=Decimal("0.3"))
        cache_owner = member(Role.OWNER, alpha)
        settings_row = ai_settings_get()
        settings_row.chat_model = "alpha-chat-model"
        settings_row.save()
    with tenant_context(beta):
        beta_owner = member(Role.OWNER, beta)
        login(beta_client, beta_owner)
        ledger = beta_client.get(LEDGER).content.decode()
        assert "alpha-only-model" not in ledger and "0 calls" in ledger
        settings_page = beta_client.get(beta_client.get(SETTINGS)["Location"]).content.decode()
        assert "alpha-chat-model" not in settings_page
    # And alpha's owner cannot sign in to beta's desk at all.
    response = beta_client.post("/admin/login/", {"username": cache_owner.email, "password": PASSWORD})
    assert response.status_code == 200


def test_an_endpoint_inside_the_servers_network_is_refused_in_the_admin(in_alpha, alpha_client, settings):
    settings.AI_PRIVATE_ENDPOINTS = False
    login(alpha_client, member(Role.OWNER, in_alpha))
    page_url = alpha_client.get(SETTINGS)["Location"]

    response = alpha_client.post(page_url, form(base_url="http://169.254.169.254/v1"))

    assert response.status_code == 200 and "inside the server&#x27;s network" in response.content.decode()
    assert ai_settings_get().provider == "local"


def test_an_error_report_of_the_settings_page_masks_the_key(in_alpha, alpha_client):
    """What Django puts in a 500's report (mailed to ADMINS) for the page's POST."""
    from django.views.debug import SafeExceptionReporterFilter

    login(alpha_client, member(Role.OWNER, in_alpha))
    page_url = alpha_client.get(SETTINGS)["Location"]
    response = alpha_client.post(page_url, form(api_key=KEY, prices="{}"))  # refused: the page is shown again

    request = response.wsgi_request
    assert SafeExceptionReporterFilter().get_post_parameters(request)["api_key"] == "********************"
