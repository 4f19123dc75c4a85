"""The widget's poll and POST read the tenant cache's generation in their one Redis round trip
(accounts.middleware, the deferred check) instead of before routing. The guarantee stays: a
suspension or a resumption made by ANOTHER process (its commit, then its bump of the
generation) is seen by this process's next request, and that request, routed on the account
this process remembered, is itself answered as the account now is."""

from __future__ import annotations

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.middleware import TENANT_CACHE_GENERATION_KEY, tenant_cache_invalidate
from accounts.models import Account
from config.redis import redis_client
from conversations.models import Message

from tests.conversations.factories import InboxFactory

SHOP = "https://shop.example"
pytestmark = pytest.mark.django_db


@pytest.fixture
def widget(db, alpha, alpha_client):
    """A widget session on alpha with a conversation, served once (alpha is now remembered)."""
    with tenant_context(alpha):
        token = InboxFactory(allowed_origins=[SHOP]).widget_token
    opened = alpha_client.post("/api/widget/v1/sessions", {"widget_token": token}, content_type="application/json", HTTP_ORIGIN=SHOP)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {opened.json()['token']}", "HTTP_ORIGIN": SHOP}
    number = alpha_client.post("/api/widget/v1/conversations", {"content": "hello"}, content_type="application/json", **auth).json()["number"]
    messages = f"/api/widget/v1/conversations/{number}/messages"
    assert alpha_client.get(messages, **auth).status_code == 200
    yield auth, messages
    tenant_cache_invalidate()  # no process keeps the rolled-back state remembered


def _in_another_process(**state) -> None:
    # What account_suspend / account_resume leave behind when they run elsewhere: the row
    # changed and the generation bumped, this process's memory of the account untouched.
    Account.objects.filter(schema_name="alpha").update(**state)
    redis_client().incr(TENANT_CACHE_GENERATION_KEY)


SUSPENDED = {"state": Account.State.SUSPENDED, "suspended_at": timezone.now()}
ACTIVE = {"state": Account.State.ACTIVE, "suspended_at": None}


def test_the_next_poll_and_post_after_another_process_suspended_the_account_are_refused(alpha, alpha_client, widget):
    auth, messages = widget
    _in_another_process(**SUSPENDED)

    poll = alpha_client.get(messages, **auth)
    assert poll.status_code == 403
    assert poll.json()["error"]["code"] == "account_suspended"
    assert poll["Access-Control-Allow-Origin"] == SHOP  # the widget can read why

    post = alpha_client.post(messages, {"content": "still there?"}, content_type="application/json", **auth)
    assert post.status_code == 403
    with tenant_context(alpha):
        assert not Message.objects.filter(content="still there?").exists()  # nothing stored


def test_the_next_poll_after_another_process_resumed_the_account_is_served(alpha, alpha_client, widget):
    auth, messages = widget
    _in_another_process(**SUSPENDED)
    assert alpha_client.get(messages, **auth).status_code == 403  # now remembered as suspended

    _in_another_process(**ACTIVE)

    poll = alpha_client.get(messages, **auth)
    assert poll.status_code == 200 and poll.json()["results"][0]["content"] == "hello"
    post = alpha_client.post(messages, {"content": "back again"}, content_type="application/json", **auth)
    assert post.status_code == 201
    with tenant_context(alpha):
        assert Message.objects.filter(content="back again").count() == 1  # served once, not twice


def test_a_forged_token_after_the_suspension_is_told_the_account_is_suspended(alpha_client, widget):
    # Refused by its signature before any round trip: the generation is read after the answer,
    # and the request is answered again as the suspended account's.
    auth, messages = widget
    _in_another_process(**SUSPENDED)
    forged = {**auth, "HTTP_AUTHORIZATION": auth["HTTP_AUTHORIZATION"][:-2] + "xx"}
    refused = alpha_client.get(messages, **forged)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "account_suspended"


def test_another_tenants_widget_is_served_throughout(alpha, beta, alpha_client, beta_client, widget):
    with tenant_context(beta):
        token = InboxFactory().widget_token
    opened = beta_client.post("/api/widget/v1/sessions", {"widget_token": token}, content_type="application/json")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {opened.json()['token']}"}
    number = beta_client.post("/api/widget/v1/conversations", {"content": "beta here"}, content_type="application/json", **auth).json()["number"]
    _in_another_process(**SUSPENDED)

    poll = beta_client.get(f"/api/widget/v1/conversations/{number}/messages", **auth)
    assert poll.status_code == 200 and [m["content"] for m in poll.json()["results"]] == ["beta here"]
    assert alpha_client.get(widget[1], **widget[0]).status_code == 403


def test_the_first_request_after_another_process_changed_an_account_is_counted_once_in_the_throttles(alpha_client, widget, settings):
    # The fixture's POST and poll counted 2 in this session's window. The next poll is routed
    # on the remembered account, learns of the change in its round trip (which counts it: 3)
    # and is served again from the database: the second pass must not count it again (4 > 3).
    auth, messages = widget
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "widget_session": "3/min"}
    _in_another_process(**ACTIVE)

    assert alpha_client.get(messages, **auth).status_code == 200
    assert alpha_client.get(messages, **auth).status_code == 429  # the limit itself still holds
