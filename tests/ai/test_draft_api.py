"""The agents' API for drafts: `GET /api/v1/conversations/{number}/drafts` (newest first, in
the documented shape), discard and regenerate, a reply naming the draft it used; an agent of
another team and another tenant's member get nothing."""

from __future__ import annotations

import json

import pytest
from django_tenants.utils import tenant_context

from accounts.services import api_token_create
from ai.models import Draft
from tests.accounts.factories import MembershipFactory
from tests.ai.draft_world import DRAFT_TEXT, Role, draft_add, draft_world, in_alpha, make_member, open_conversation  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("in_alpha")


def _key(user, account):
    return api_token_create(user=user, account=account, name="tests")[1]


def _call(client, method, path, key, body=None):
    kwargs = {"content_type": "application/json", "HTTP_AUTHORIZATION": f"Token {key}"}
    if body is not None:
        kwargs["data"] = json.dumps(body)
    return getattr(client, method)(f"/api/v1/conversations/{path}", **kwargs)


def test_drafts_are_listed_newest_first_with_their_sources(draft_world, alpha, alpha_client):
    w = draft_world
    w["draft"].status = Draft.Status.SUPERSEDED
    w["draft"].save()
    newer = draft_add(w["conversation"], article=w["article"], content="Hello,\n\nRefunds take a week.", confidence=0.77, origin=Draft.Origin.REGENERATE)

    response = _call(alpha_client, "get", f"{w['conversation'].number}/drafts", _key(w["agent_a"], alpha))

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["id"] for r in results] == [newer.pk, w["draft"].pk]
    first = results[0]
    assert (first["status"], first["content"], first["confidence"]) == ("pending", "Hello,\n\nRefunds take a week.", 0.77)
    assert first["sources"][0]["slug"] == "refunds" and first["sources"][0]["title"] == "Refunds"
    assert first["regenerating"] is False and first["no_source"] is False


def test_a_reply_naming_its_draft_records_it_and_a_discard_and_regenerate_go_through_the_services(draft_world, alpha, alpha_client):
    w = draft_world
    key = _key(w["agent_a"], alpha)
    number = w["conversation"].number

    sent = _call(alpha_client, "post", f"{number}/reply", key, {"content": DRAFT_TEXT, "draft_id": w["draft"].pk})
    assert sent.status_code == 201, sent.content
    w["draft"].refresh_from_db()
    assert (w["draft"].status, w["draft"].similarity) == (Draft.Status.ACCEPTED, 1.0)

    second = draft_add(w["conversation"], article=w["article"], origin=Draft.Origin.REGENERATE)
    regenerated = _call(alpha_client, "post", f"{number}/drafts/{second.pk}/regenerate", key)
    assert regenerated.status_code == 202 and regenerated.json()["regenerating"] is True
    new_id = regenerated.json()["id"]
    second.refresh_from_db()
    assert second.status == Draft.Status.SUPERSEDED
    # A superseded draft is not discarded again: a conflict, in the API's error shape.
    conflict = _call(alpha_client, "post", f"{number}/drafts/{second.pk}/reject", key, {"reason": "late"})
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "draft_not_pending"
    Draft.objects.filter(pk=new_id).update(content="Hello, a new answer.")  # as the worker would write it
    rejected = _call(alpha_client, "post", f"{number}/drafts/{new_id}/reject", key, {"reason": "Too vague"})
    assert rejected.status_code == 200 and (rejected.json()["status"], rejected.json()["rejected_reason"]) == ("rejected", "Too vague")
    too_long = _call(alpha_client, "post", f"{number}/drafts/{new_id}/reject", key, {"reason": "x" * 301})
    assert too_long.status_code == 400 and "reason" in too_long.json()["error"]["fields"]


def test_an_agent_of_another_team_cannot_list_or_act_on_the_drafts(draft_world, alpha, alpha_client):
    w = draft_world
    key = _key(w["agent_b"], alpha)
    number = w["conversation"].number

    listed = _call(alpha_client, "get", f"{number}/drafts", key)
    rejected = _call(alpha_client, "post", f"{number}/drafts/{w['draft'].pk}/reject", key, {})

    assert listed.status_code == 403 and DRAFT_TEXT not in listed.content.decode()
    assert rejected.status_code == 403
    assert Draft.objects.get(pk=w["draft"].pk).status == Draft.Status.PENDING


def test_another_tenant_s_member_never_reaches_the_drafts(draft_world, beta, beta_client):
    w = draft_world
    with tenant_context(beta):
        owner = MembershipFactory(account=beta, role=Role.OWNER).user
        key = _key(owner, beta)

    listed = _call(beta_client, "get", f"{w['conversation'].number}/drafts", key)
    rejected = _call(beta_client, "post", f"{w['conversation'].number}/drafts/{w['draft'].pk}/reject", key, {})
    cross = _call(beta_client.__class__(HTTP_HOST="alpha.localhost"), "get", f"{w['conversation'].number}/drafts", key)

    assert listed.status_code == 404 and DRAFT_TEXT not in listed.content.decode()
    assert rejected.status_code == 404
    assert cross.status_code in (401, 403) and DRAFT_TEXT not in cross.content.decode()
    assert Draft.objects.get(pk=w["draft"].pk).status == Draft.Status.PENDING


def test_the_drafts_endpoints_are_in_the_openapi_schema(alpha_client):
    schema = alpha_client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "/api/v1/conversations/{number}/drafts" in schema and "conversation_draft_regenerate" in schema


def test_a_discarded_draft_of_an_earlier_message_cannot_push_aside_the_newer_message_s_draft(draft_world, alpha, alpha_client):
    from conversations import services

    w = draft_world
    key = _key(w["agent_a"], alpha)
    number = w["conversation"].number
    assert _call(alpha_client, "post", f"{number}/drafts/{w['draft'].pk}/reject", key, {}).status_code == 200
    services.message_add_incoming(conversation=w["conversation"], content="And can I get the refund in cash?")
    newer = draft_add(w["conversation"], article=w["article"], content="Hello, refunds go back to your card.")

    refused = _call(alpha_client, "post", f"{number}/drafts/{w['draft'].pk}/regenerate", key)

    assert refused.status_code == 409 and "newer customer message" in refused.json()["error"]["message"]
    assert Draft.objects.get(pk=newer.pk).status == Draft.Status.PENDING
