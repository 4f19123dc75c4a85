"""The conversation page's draft panel and Knowledge panel, through the admin as an agent
uses them: use (the reply box filled; sent unchanged -> accepted, changed -> edited, with the
similarity), discard with a reason, regenerate (queued for a worker, the page says so until
it lands), search the knowledge base and insert; an agent of another team sees none of it."""

from __future__ import annotations

import re

import pytest

from ai import tasks
from ai.models import Draft
from conversations.admin.assist import _article_admin_url
from conversations.models import Message
from kb.services import article_chunks_sync, article_create
from tests.accounts.factories import PASSWORD
from tests.ai.draft_world import DRAFT_TEXT, draft_world, in_alpha, make_member, open_conversation  # noqa: F401 (fixtures)
from tests.conftest import admin_login

pytestmark = pytest.mark.usefixtures("in_alpha")


def page_url(conversation) -> str:
    return f"/admin/conversations/conversation/{conversation.pk}/change/"


def _signed_in(client, user):
    admin_login(client, user.email, PASSWORD)
    return client


def _reply(client, conversation, content, draft_id):
    return client.post(page_url(conversation), {"action": "reply", "reply-content": content, "reply-draft_id": draft_id})


def test_the_page_shows_the_pending_draft_with_its_sources_linked_and_use_fills_the_reply_box(draft_world, alpha_client):
    w = draft_world
    client = _signed_in(alpha_client, w["agent_a"])

    page = client.get(page_url(w["conversation"])).content.decode()

    assert 'id="draft-panel"' in page and "five to seven working days" in page
    sources = re.search(r'<ol class="draft-sources".*?</ol>', page, re.S).group(0)
    assert "Refunds" in sources
    if _article_admin_url(w["article"].pk):  # the knowledge base's admin (kbcore's) is installed: linked
        assert f'href="{_article_admin_url(w["article"].pk)}"' in sources
    assert f'?use_draft={w["draft"].pk}' in page and "Discard" in page and "Regenerate" in page
    filled = client.get(page_url(w["conversation"]), {"use_draft": w["draft"].pk}).content.decode()
    textarea = re.search(r'<textarea name="reply-content"[^>]*>(.*?)</textarea>', filled, re.S).group(1)
    assert "five to seven working days" in textarea
    assert re.search(rf'name="reply-draft_id" value="{w["draft"].pk}"', filled)


def test_sending_the_draft_unchanged_records_it_accepted_with_similarity_one(draft_world, alpha_client):
    w = draft_world
    client = _signed_in(alpha_client, w["agent_a"])

    response = _reply(client, w["conversation"], DRAFT_TEXT.replace("\n", "\r\n") + "\r\n", w["draft"].pk)  # as a browser sends it

    assert response.status_code == 302
    draft = Draft.objects.get(pk=w["draft"].pk)
    sent = Message.objects.get(conversation=w["conversation"], sender_type=Message.SenderType.AGENT)
    assert (draft.status, draft.similarity, draft.sent_message_id, draft.used_by_id) == (Draft.Status.ACCEPTED, 1.0, sent.pk, w["agent_a"].pk)
    assert draft.used_at is not None


def test_sending_an_edited_draft_records_edited_with_how_much_stayed(draft_world, alpha_client):
    w = draft_world
    client = _signed_in(alpha_client, w["agent_a"])

    _reply(client, w["conversation"], DRAFT_TEXT.replace("five to seven", "up to seven") + "\nBest, Sam", w["draft"].pk)

    draft = Draft.objects.get(pk=w["draft"].pk)
    assert draft.status == Draft.Status.EDITED and 0.8 < draft.similarity < 1.0


def test_a_reply_naming_another_conversation_s_draft_records_nothing_on_it(draft_world, alpha_client, open_conversation):
    w = draft_world
    other = open_conversation(content="Something else")
    client = _signed_in(alpha_client, w["agent_a"])
    client.post(f"/admin/conversations/conversation/{other.pk}/change/", {"action": "reply", "reply-content": DRAFT_TEXT, "reply-draft_id": w["draft"].pk})
    assert Draft.objects.get(pk=w["draft"].pk).status == Draft.Status.PENDING


def test_discarding_records_rejected_with_the_reason_and_the_panel_empties(draft_world, alpha_client):
    w = draft_world
    client = _signed_in(alpha_client, w["agent_a"])

    response = client.post(page_url(w["conversation"]), {"action": "draft_reject", "draft_reject-draft": w["draft"].pk, "draft_reject-reason": "Wrong policy: refunds take 3 days now"})

    assert response.status_code == 302
    draft = Draft.objects.get(pk=w["draft"].pk)
    assert (draft.status, draft.rejected_reason, draft.used_by_id) == (Draft.Status.REJECTED, "Wrong policy: refunds take 3 days now", w["agent_a"].pk)
    assert 'id="draft-panel"' not in client.get(page_url(w["conversation"])).content.decode()
    # Discarding twice (a double click) changes nothing and says why.
    again = client.post(page_url(w["conversation"]), {"action": "draft_reject", "draft_reject-draft": w["draft"].pk}, follow=True)
    assert "already rejected" in again.content.decode()


def test_regenerate_supersedes_the_draft_and_a_worker_writes_the_new_one(draft_world, alpha_client, django_capture_on_commit_callbacks):
    w = draft_world
    article_chunks_sync(article=article_create(title="Refund times", slug="refund-times",
                                               body="A refund takes five to seven working days to appear on your card statement."))
    client = _signed_in(alpha_client, w["agent_a"])

    with django_capture_on_commit_callbacks(execute=False) as queued:
        client.post(page_url(w["conversation"]), {"action": "draft_regenerate", "draft_regenerate-draft": w["draft"].pk})

    old = Draft.objects.get(pk=w["draft"].pk)
    new = Draft.objects.get(conversation=w["conversation"], origin=Draft.Origin.REGENERATE)
    assert (old.status, new.status, new.content) == (Draft.Status.SUPERSEDED, Draft.Status.PENDING, "")
    assert "Regenerating…" in client.get(page_url(w["conversation"])).content.decode()
    assert len(queued) == 1  # the work is queued after commit, not done in the request
    tasks.draft_regenerate(new.pk)  # what the worker runs
    new.refresh_from_db()
    assert new.status == Draft.Status.PENDING and new.sources[0]["slug"] == "refund-times" and "five to seven" in new.content
    assert new.reasoning.startswith("Regenerated by") and "Extractive" in new.reasoning
    assert "Regenerating…" not in client.get(page_url(w["conversation"])).content.decode()


def test_the_knowledge_panel_searches_and_offers_the_passage_and_link_to_insert(draft_world, alpha_client):
    w = draft_world
    article_chunks_sync(article=article_create(
        title="Delivery times", slug="delivery-times", source_url="https://help.example.com/delivery-times",
        body="## Standard\n\nStandard delivery takes three to five working days in Europe.\n\n## Express\n\nExpress delivery arrives the next working day.",
    ))
    client = _signed_in(alpha_client, w["agent_a"])

    page = client.get(page_url(w["conversation"]), {"kq": "how long is standard shipping"}).content.decode()
    assert 'data-slug="delivery-times"' in page and 'data-url="https://help.example.com/delivery-times"' in page
    assert 'data-passage="Standard delivery takes three to five working days in Europe."' in page

    found = client.get(f"/admin/conversations/conversation/{w['conversation'].pk}/knowledge/", {"q": "how long is standard shipping"})
    assert found.status_code == 200
    first = found.json()["results"][0]
    assert (first["slug"], first["title"]) == ("delivery-times", "Delivery times") and "<script" not in first["snippet"]
    bad = client.get(f"/admin/conversations/conversation/{w['conversation'].pk}/knowledge/", {"q": "x" * 201})
    assert bad.status_code == 400 and bad.json()["error"]["fields"]["q"]


def test_an_agent_of_another_team_sees_no_draft_and_cannot_act_on_it(draft_world, alpha_client):
    w = draft_world
    client = _signed_in(alpha_client, w["agent_b"])
    base = f"/admin/conversations/conversation/{w['conversation'].pk}"

    assert client.get(page_url(w["conversation"])).status_code == 403
    assert client.get(f"{base}/knowledge/", {"q": "refund"}).status_code == 403
    assert client.get(f"{base}/draft/").status_code == 403
    client.post(page_url(w["conversation"]), {"action": "draft_reject", "draft_reject-draft": w["draft"].pk})
    assert Draft.objects.get(pk=w["draft"].pk).status == Draft.Status.PENDING
    assert w["draft"].content not in client.get("/admin/ai/draft/").content.decode()
    assert client.get(f"/admin/ai/draft/{w['draft'].pk}/change/").status_code in (302, 404)


def test_the_draft_history_in_the_admin_shows_an_agent_their_team_s_drafts(draft_world, alpha_client):
    w = draft_world
    client = _signed_in(alpha_client, w["agent_a"])

    listing = client.get("/admin/ai/draft/")
    detail = client.get(f"/admin/ai/draft/{w['draft'].pk}/change/")

    assert listing.status_code == 200 and f"/admin/ai/draft/{w['draft'].pk}/change/" in listing.content.decode()
    assert detail.status_code == 200 and "five to seven working days" in detail.content.decode() and "Refunds" in detail.content.decode()
    assert client.post(f"/admin/ai/draft/{w['draft'].pk}/change/", {"content": "changed"}).status_code == 403
