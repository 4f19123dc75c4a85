"""Drafts made by the real Celery worker, in the tenant: a customer's widget message gets its
draft from the follow-up (after classification), citing the article that answers it; an
agent's "regenerate" (agents' API) is written by the worker, never in the request."""

from __future__ import annotations

import json

import pytest
from django_tenants.utils import tenant_context

from accounts.models import Membership
from accounts.services import api_token_create
from ai.models import Draft
from kb.services import article_chunks_sync, article_create
from tests.accounts.factories import MembershipFactory
from tests.ai.test_drafts import REFUNDS, SHIPPING
from tests.conftest import wait_for
from tests.conversations.factories import InboxFactory

pytestmark = pytest.mark.usefixtures("committed_db", "celery_worker")


def _draft(alpha, **filters):
    with tenant_context(alpha):
        return Draft.objects.filter(**filters).exclude(content="").first()


def test_a_widget_message_gets_a_cited_draft_from_the_worker_and_regenerate_is_written_there_too(alpha, alpha_client):
    with tenant_context(alpha):
        for slug, title, body in [("refunds", "Refunds", REFUNDS), ("delivery-times", "Delivery times", SHIPPING)]:
            article_chunks_sync(article=article_create(title=title, slug=slug, body=body))
        inbox = InboxFactory(auto_assign=False)
        owner = MembershipFactory(account=alpha, role=Membership.Role.OWNER).user
        key = api_token_create(user=owner, account=alpha, name="tests")[1]
    token = alpha_client.post("/api/widget/v1/sessions", data=json.dumps({"widget_token": inbox.widget_token}), content_type="application/json").json()["token"]

    opened = alpha_client.post("/api/widget/v1/conversations", data=json.dumps({"content": "How many days until my refund is on my card?"}),
                               content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert opened.status_code == 201, opened.content
    number = opened.json()["number"]
    draft = wait_for(lambda: _draft(alpha, conversation__number=number, origin="pipeline"), timeout=60, what="the pipeline's draft")
    assert draft.sources[0]["slug"] == "refunds" and "five to seven working days" in draft.content

    regenerated = alpha_client.post(f"/api/v1/conversations/{number}/drafts/{draft.pk}/regenerate", HTTP_AUTHORIZATION=f"Token {key}")
    assert regenerated.status_code == 202 and regenerated.json()["regenerating"] is True
    new = wait_for(lambda: _draft(alpha, pk=regenerated.json()["id"]), timeout=60, what="the regenerated draft")
    assert new.origin == "regenerate" and new.sources[0]["slug"] == "refunds"
    listed = alpha_client.get(f"/api/v1/conversations/{number}/drafts", HTTP_AUTHORIZATION=f"Token {key}").json()["results"]
    assert [(d["id"], d["status"]) for d in listed] == [(new.pk, "pending"), (draft.pk, "superseded")]
