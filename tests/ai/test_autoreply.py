"""Auto-reply: the AI answers by itself only when the inbox allows it, the draft has sources
and is sure enough, and no handoff rule fires; once, however often Celery delivers."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from ai import autoreply, handoff
from ai.models import AICall, Classification, Draft, Operation, Sentiment
from conversations import followups, services
from conversations.models import Conversation, ConversationEvent, Message
from kb.models import Article
from kb.services import article_create
from tests.conversations.conftest import in_alpha, make_member, open_conversation  # noqa: F401 (fixtures)
from tests.conversations.factories import ContactFactory, InboxFactory, TeamFactory

RESET_ANSWER = "Open Settings > Security and choose “Reset password”; the link arrives within a minute."


def _article():
    return article_create(title="Resetting your password", slug="reset-password", body="Settings > Security > Reset password.",
                          source_url="https://help.example.com/reset-password")


def _draft(message, *, confidence=0.9, no_source=False, slugs=("reset-password",)):
    sources = [] if no_source else [{"chunk_id": 1, "article_id": 1, "slug": slug, "title": "Resetting your password", "score": 0.9,
                                     "similarity": confidence} for slug in slugs]
    return Draft.objects.create(
        conversation=message.conversation, message=message, content=RESET_ANSWER, confidence=confidence, no_source=no_source,
        sources=sources, provider="local", model="extractive",
    )


def _classify(message, *, category="account", sentiment=Sentiment.NEUTRAL, score=0.0, language="en"):
    return Classification.objects.create(
        message=message, conversation=message.conversation, category=category, confidence=0.9, sentiment=sentiment,
        sentiment_score=score, language=language, provider="local", model="test",
    )


@pytest.fixture
def world(in_alpha):
    _article()
    team = TeamFactory(name="Support", auto_assign=False)
    inbox = InboxFactory(ai_auto_reply=True, ai_confidence_threshold=0.7, default_team=team, auto_assign=False,
                         ai_never_auto_categories=["refunds"])
    return {"inbox": inbox, "team": team}


def _ask(world, text="How do I reset my password?", **classification):
    conversation = services.conversation_open(inbox=world["inbox"], contact=ContactFactory(), content=text)
    message = conversation.messages.get()
    _classify(message, **classification)
    return message


def _ai_messages(conversation_id):
    return Message.objects.filter(conversation_id=conversation_id, sender_type=Message.SenderType.AI, kind=Message.Kind.TEXT)


def test_a_sure_sourced_draft_is_sent_as_an_ai_answer_with_its_sources(world):
    message = _ask(world)
    draft = _draft(message, confidence=0.9)

    assert autoreply.draft_autoreply(draft) is True

    answer = _ai_messages(message.conversation_id).get()
    assert answer.content == RESET_ANSWER and answer.direction == Message.Direction.OUTGOING
    assert answer.sources == [{"slug": "reset-password", "title": "Resetting your password", "url": "https://help.example.com/reset-password"}]
    draft.refresh_from_db()
    assert draft.status == Draft.Status.AUTO_SENT and draft.sent_message == answer
    event = ConversationEvent.objects.get(conversation_id=message.conversation_id, action="ai_replied")
    assert event.actor_type == "ai" and event.new_value == "0.90 (1 sources)"
    assert AICall.objects.filter(operation=Operation.AUTO_REPLY, message=message).count() == 1
    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.waiting_since is None and conversation.first_response_at == answer.created_at
    assert conversation.ai_handoff_at is None


def test_auto_reply_off_sends_nothing(world):
    world["inbox"].ai_auto_reply = False
    world["inbox"].save()
    message = _ask(world, text="let me talk to a human")  # not even a handoff: with auto-reply off people answer anyway
    assert autoreply.draft_autoreply(_draft(message)) is False
    assert not _ai_messages(message.conversation_id).exists()
    assert Conversation.objects.get(pk=message.conversation_id).ai_handoff_at is None
    assert Draft.objects.get(message=message).status == Draft.Status.PENDING  # still there for the agent


@pytest.mark.parametrize(("confidence", "sent"), [(0.69, False), (0.7, True)])
def test_the_inbox_threshold_decides(world, confidence, sent):
    message = _ask(world)
    assert autoreply.draft_autoreply(_draft(message, confidence=confidence)) is sent
    assert _ai_messages(message.conversation_id).exists() is sent


def test_a_draft_without_a_source_is_never_sent_however_sure(world):
    message = _ask(world)
    assert autoreply.draft_autoreply(_draft(message, confidence=1.0, no_source=True)) is False
    assert not _ai_messages(message.conversation_id).exists()


def test_a_draft_whose_articles_were_archived_is_not_sent(world):
    Article.objects.filter(slug="reset-password").update(status=Article.Status.ARCHIVED)
    message = _ask(world)
    assert autoreply.draft_autoreply(_draft(message)) is False
    assert not _ai_messages(message.conversation_id).exists()


@pytest.mark.parametrize(("text", "language"), [("Agent please, this is taking too long", "en"), ("Je voudrais parler à un conseiller", "fr"),
                                                ("Ich möchte mit einem Menschen sprechen", "de")])
def test_asking_for_a_person_hands_off_instead_of_answering(world, text, language):
    message = _ask(world, text=text, language=language)
    assert autoreply.draft_autoreply(_draft(message)) is False
    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.ai_handoff_reason == f"the customer asked for a person ({language})"
    assert conversation.team == world["team"]
    assert not _ai_messages(conversation.pk).exists()
    assert ConversationEvent.objects.get(conversation=conversation, action="handed_off").new_value == handoff.RULE_ASKED_FOR_PERSON
    assert AICall.objects.filter(operation=Operation.HANDOFF, message=message).count() == 1
    assert Draft.objects.get(message=message).status == Draft.Status.PENDING  # the agent may still use it


def test_a_never_automatic_category_is_handed_off(world):
    message = _ask(world, text="How do I get my money back?", category="refunds")
    assert autoreply.draft_autoreply(_draft(message)) is False
    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.ai_handoff_at is not None and "refunds" in conversation.ai_handoff_reason


def test_an_upset_customer_is_handed_off(world):
    message = _ask(world, text="Your reset is broken AGAIN!!", sentiment=Sentiment.FRUSTRATED, score=-0.8)
    assert autoreply.draft_autoreply(_draft(message)) is False
    assert ConversationEvent.objects.get(conversation_id=message.conversation_id, action="handed_off").new_value == handoff.RULE_NEGATIVE_SENTIMENT


def test_two_ai_answers_that_did_not_settle_it_hand_off(world):
    first = _ask(world)
    conversation = first.conversation
    assert autoreply.draft_autoreply(_draft(first))
    second = services.message_add_incoming(conversation=conversation, content="The link never came")[0]
    _classify(second)
    assert autoreply.draft_autoreply(_draft(second))
    third = services.message_add_incoming(conversation=conversation, content="Still nothing in my inbox")[0]
    _classify(third)
    assert autoreply.draft_autoreply(_draft(third)) is False
    assert _ai_messages(conversation.pk).count() == 2
    assert ConversationEvent.objects.get(conversation=conversation, action="handed_off").new_value == handoff.RULE_UNSETTLED


def test_after_a_handoff_the_ai_stays_silent(world):
    message = _ask(world)
    handoff.conversation_handoff(conversation=message.conversation, reason=handoff.REASON_CUSTOMER_BUTTON)
    later = services.message_add_incoming(conversation=message.conversation, content="How do I reset my password?")[0]
    _classify(later)
    assert autoreply.draft_autoreply(_draft(later, confidence=0.99)) is False
    assert not _ai_messages(message.conversation_id).exists()
    assert ConversationEvent.objects.filter(conversation_id=message.conversation_id, action="handed_off").count() == 1


def test_an_agent_who_answered_first_is_not_talked_over(world, make_member):
    message = _ask(world)
    draft = _draft(message)
    services.message_add_reply(conversation=message.conversation, content="Hi! Let me check.", author=make_member())
    assert autoreply.draft_autoreply(draft) is False
    assert not _ai_messages(message.conversation_id).exists()


def test_a_second_delivery_sends_nothing_more(world):
    message = _ask(world)
    draft = _draft(message)
    assert autoreply.draft_autoreply(draft) is True
    assert autoreply.draft_autoreply(draft) is False  # the same (stale) object, as a redelivered task holds it
    assert _ai_messages(message.conversation_id).count() == 1
    assert ConversationEvent.objects.filter(conversation_id=message.conversation_id, action="ai_replied").count() == 1


def test_the_follow_up_answers_once_when_the_task_runs_again(world):
    """The real seam: classify, draft (from the knowledge base), auto-reply. The task is run
    again as after a worker lost it before stamping the message: still one answer."""
    from kb.services import article_chunks_sync

    article_chunks_sync(article=Article.objects.get(slug="reset-password"))
    world["inbox"].ai_confidence_threshold = 0.0  # whatever the local draft's confidence: the test is about once
    world["inbox"].save()
    conversation = services.conversation_open(inbox=world["inbox"], contact=ContactFactory(), content="How do I reset my password?")
    message = conversation.messages.get()
    assert followups.message_followup_run(message_id=message.pk)
    Message.objects.filter(pk=message.pk).update(followup_done_at=None)
    assert followups.message_followup_run(message_id=message.pk)

    answer = _ai_messages(conversation.pk).get()
    assert answer.sources[0]["slug"] == "reset-password"
    assert Draft.objects.get(message=message).status == Draft.Status.AUTO_SENT


@pytest.mark.usefixtures("committed_db")
def test_two_deliveries_at_once_send_one_answer(alpha):
    """Two workers with the same task at the same moment: the conversation's row lock lets one
    send; the other finds the draft sent."""
    with tenant_context(alpha):
        _article()
        inbox = InboxFactory(ai_auto_reply=True, ai_confidence_threshold=0.5, auto_assign=False)
        conversation = services.conversation_open(inbox=inbox, contact=ContactFactory(), content="How do I reset my password?")
        message = conversation.messages.get()
        _classify(message)
        draft = _draft(message)
    results, barrier = [], threading.Barrier(2)

    def deliver():
        try:
            with tenant_context(alpha):
                barrier.wait()
                results.append(autoreply.draft_autoreply(Draft.objects.get(pk=draft.pk)))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    with tenant_context(alpha):
        assert _ai_messages(conversation.pk).count() == 1


def test_another_tenant_never_sees_the_answer(world, beta):
    message = _ask(world)
    autoreply.draft_autoreply(_draft(message))
    with tenant_context(beta):
        assert not Message.objects.filter(sender_type=Message.SenderType.AI).exists()
        assert not AICall.objects.filter(operation=Operation.AUTO_REPLY).exists()


# ----------------------------------------------------------------------------- the inbox's settings


@pytest.mark.django_db
def test_an_admin_sets_auto_reply_with_categories_of_the_account(alpha, alpha_client):
    from accounts.models import Membership
    from ai.models import Category
    from conversations.models import Inbox
    from tests.accounts.factories import PASSWORD, MembershipFactory
    from tests.conftest import admin_login

    with tenant_context(alpha):
        for name in ("billing", "refunds", "shipping"):
            Category.objects.create(name=name)
        inbox = InboxFactory(name="Website", auto_assign=False)
    admin_login(alpha_client, MembershipFactory(account=alpha, role=Membership.Role.ADMIN).user.email, PASSWORD)
    page = f"/admin/conversations/inbox/{inbox.pk}/change/"
    form = alpha_client.get(page).content.decode()
    assert "How to turn auto-reply on safely" in form and 'value="refunds"' in form

    fields = {"name": "Website", "channel": "web_widget", "greeting": "", "timezone": "UTC", "business_hours": "{}", "allowed_origins": "",
              "widget_color": "#1f6feb", "ai_auto_reply": "on", "ai_confidence_threshold": "0.85", "ai_never_auto_categories": ["refunds", "billing"]}
    assert alpha_client.post(page, fields).status_code == 302
    with tenant_context(alpha):
        inbox = Inbox.objects.get(pk=inbox.pk)
    assert (inbox.ai_auto_reply, inbox.ai_confidence_threshold, sorted(inbox.ai_never_auto_categories)) == (True, 0.85, ["billing", "refunds"])

    refused = alpha_client.post(page, {**fields, "ai_never_auto_categories": ["made-up"], "ai_confidence_threshold": "1.5"})
    assert refused.status_code == 200  # the form again, with its errors; nothing stored
    assert "made-up is not one of the available choices" in refused.content.decode()
    with tenant_context(alpha):
        assert Inbox.objects.get(pk=inbox.pk).ai_confidence_threshold == 0.85
