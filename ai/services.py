"""Writes people make on the AI's work: an agent correcting a conversation's category (from the
conversation page, the queue's bulk action or the agents' API: all three call
`classification_correct`), and admins adding or editing training examples.

The pipeline's own writes (a Classification per message) are ai/pipeline.py; training is
ai/training.py.
"""

from __future__ import annotations

import difflib

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from ai.models import Category, Classification, Correction, Draft, TrainingExample
from config.errors import ApplicationError
from ai.examples import example_add, example_text_hash, example_text_normalise  # noqa: F401 (one rule; re-exported)
from conversations import services as desk_services
from conversations.events import Actor
from conversations.models import Conversation, Message


def _text_checked(text: str) -> str:
    text = text.strip()
    if not example_text_normalise(text):
        raise ApplicationError("An example needs some text.", fields={"text": ["This field is required."]})
    if "\x00" in text:
        raise ApplicationError("Text must not contain NUL characters.", fields={"text": ["no NUL characters"]})
    return text


@transaction.atomic
def training_example_add(
    *, category: Category, text: str, source: str = TrainingExample.Source.MANUAL, message: Message | None = None, by: User | None = None,
) -> TrainingExample:
    """The example of `text` in `category`, made if the category does not have it yet (one rule
    for that: `ai.examples.example_add`). The embedding is left for training (no model work
    here: this runs in requests)."""
    example, _ = example_add(category=category, text=_text_checked(text), source=source, message=message, created_by=by)
    return example


@transaction.atomic
def training_example_update(*, example: TrainingExample, category: Category, text: str) -> TrainingExample:
    """An admin relabels or rewords an example. New words get a new hash and lose the stored
    embedding (it was of the old words)."""
    text = _text_checked(text)
    text_hash = example_text_hash(text)
    if TrainingExample.objects.filter(category=category, text_hash=text_hash).exclude(pk=example.pk).exists():
        raise ApplicationError(f"“{category}” already has this example.", code="duplicate_example", fields={"text": ["already an example of this category"]})
    if text_hash != example.text_hash:
        example.embedding, example.embedding_model = None, ""
    example.category, example.text, example.text_hash = category, text, text_hash
    example.save()
    return example


def _customer_message_of(conversation: Conversation, latest: Classification | None) -> Message | None:
    """The text the correction teaches: the message the AI last classified (what it got wrong),
    else the customer's first message (a conversation classified before the pipeline kept
    rows, or never classified at all)."""
    if latest is not None:
        return latest.message
    return (
        Message.objects.filter(conversation=conversation, sender_type=Message.SenderType.CONTACT, kind=Message.Kind.TEXT)
        .order_by("created_at", "id").first()
    )


def _correction_example(*, category: Category, message: Message, by: User) -> TrainingExample | None:
    """The agent's latest word on a text wins: examples that earlier corrections made of the
    same text under another category are removed (the agent has just said they are wrong), then
    the text is an example of `category` (the existing one if any: re-correcting adds nothing).
    Imported, demo and hand-made examples are the admins' curated data and are left alone."""
    text = message.content.strip()
    if not example_text_normalise(text) or "\x00" in text:
        return None
    text_hash = example_text_hash(text)
    TrainingExample.objects.filter(text_hash=text_hash, source=TrainingExample.Source.CORRECTION).exclude(category=category).delete()
    return training_example_add(category=category, text=text, source=TrainingExample.Source.CORRECTION, message=message, by=by)


@transaction.atomic
def classification_correct(*, conversation: Conversation, category: Category, by: User) -> Correction | None:
    """An agent sets the conversation's category: the correction is recorded (from the category
    the conversation had, to `category`), the customer's text becomes a training example, and
    the conversation takes the category with its event naming the agent.

    Choosing the category the conversation already has changes nothing and returns None, so a
    double-submitted form or a retried API call records one correction. The caller has checked
    that `by` may act on the conversation (conversations/access.py).
    """
    if not category.is_active:
        raise ApplicationError(f"“{category}” is not an active category.", fields={"category": ["not an active category"]})
    # The row lock first: two agents correcting one conversation at once are ordered, and each
    # sees the category the other left.
    conversation = Conversation.objects.select_for_update(of=("self",)).get(pk=conversation.pk)
    if conversation.ai_category == category.name:
        return None
    latest = Classification.objects.filter(conversation=conversation).select_related("message").order_by("-created_at", "-id").first()
    message = _customer_message_of(conversation, latest)
    example = _correction_example(category=category, message=message, by=by) if message is not None else None
    correction = Correction.objects.create(
        conversation=conversation, classification=latest, from_category=conversation.ai_category,
        to_category=category, corrected_by=by, example=example,
    )
    desk_services.conversation_category_set(conversation=conversation, category=category.name, by=Actor.agent(by))
    return correction


def categories_active_set(*, categories, is_active: bool) -> int:
    """Deactivate (or reactivate) categories: a deactivated one is no longer offered to agents
    nor accepted from the API, while its examples, corrections and the conversations filed
    under it stay as they are. How many changed."""
    return Category.objects.filter(pk__in=[category.pk for category in categories]).exclude(is_active=is_active).update(is_active=is_active)


# ----------------------------------------------------------------------------- drafts
# What agents do with the AI's drafts (ai/drafts.py makes them): use one (the reply that used
# it says whether it went out unchanged or edited, and how much), discard one, or ask for
# another. The conversation page and the agents' API call these; the caller has checked that
# `by` may act on the draft's conversation (conversations/access.py).


def _text_for_comparison(text: str) -> str:
    # A browser's textarea sends CRLF and agents' editors trim: neither is an edit.
    return "\n".join(line.rstrip() for line in (text or "").replace("\r\n", "\n").replace("\r", "\n").strip().split("\n"))


def draft_similarity(*, draft_text: str, sent_text: str) -> float:
    """How close the sent reply stayed to the draft: difflib's ratio, 1.0 = unchanged."""
    a, b = _text_for_comparison(draft_text), _text_for_comparison(sent_text)
    if a == b:
        return 1.0
    return round(difflib.SequenceMatcher(None, a, b, autojunk=False).ratio(), 4)


def _draft_pending_locked(draft: Draft) -> Draft:
    draft = Draft.objects.select_for_update().get(pk=draft.pk)
    if draft.status != Draft.Status.PENDING:
        raise ApplicationError(f"This draft is already {draft.get_status_display().lower()}.", code="draft_not_pending",
                               fields={"draft": ["not pending"]})
    return draft


@transaction.atomic
def draft_use_record(*, draft_id: int | None, conversation: Conversation, sent_message: Message, by: User) -> Draft | None:
    """The reply `sent_message` used draft `draft_id` (the reply form and the agents' API pass
    it along): accepted when sent unchanged, edited otherwise, with the similarity. A reply
    is never refused for its draft: an unknown, foreign or no longer pending draft is ignored."""
    if draft_id is None:
        return None
    draft = Draft.objects.select_for_update().filter(pk=draft_id, conversation=conversation, status=Draft.Status.PENDING).exclude(content="").first()
    if draft is None:
        return None
    draft.similarity = draft_similarity(draft_text=draft.content, sent_text=sent_message.content)
    draft.status = Draft.Status.ACCEPTED if draft.similarity == 1.0 else Draft.Status.EDITED
    draft.sent_message, draft.used_by, draft.used_at = sent_message, by, timezone.now()
    draft.save(update_fields=["similarity", "status", "sent_message", "used_by", "used_at"])
    return draft


@transaction.atomic
def draft_reject(*, draft: Draft, by: User, reason: str = "") -> Draft:
    """An agent discards a draft (`used_by`/`used_at` say who and when), optionally saying why."""
    reason = (reason or "").strip()
    if "\x00" in reason:
        raise ApplicationError("The reason must not contain NUL characters.", fields={"reason": ["no NUL characters"]})
    if len(reason) > 300:
        raise ApplicationError("The reason may be at most 300 characters.", fields={"reason": ["at most 300 characters"]})
    draft = _draft_pending_locked(draft)
    draft.status, draft.rejected_reason, draft.used_by, draft.used_at = Draft.Status.REJECTED, reason, by, timezone.now()
    draft.save(update_fields=["status", "rejected_reason", "used_by", "used_at"])
    return draft


@transaction.atomic
def draft_regenerate(*, draft: Draft, by: User) -> Draft:
    """An agent asks for another draft: the old one is superseded at once and a new, empty one
    (origin regenerate) stands for it until a worker writes it after commit (ai.tasks): the
    page shows "regenerating…" meanwhile. Never any AI work in the request."""
    from ai import tasks  # tasks call services; imported late like conversations.followups does
    from ai.drafts import drafts_newer_than

    draft = Draft.objects.select_for_update().get(pk=draft.pk)
    if draft.status not in (Draft.Status.PENDING, Draft.Status.REJECTED) or not draft.content:
        raise ApplicationError("Only a pending or discarded draft can be regenerated.", code="draft_not_pending", fields={"draft": ["not pending"]})
    if draft.message_id is None:
        raise ApplicationError("The message this draft answered is gone.", code="draft_not_pending", fields={"draft": ["no message"]})
    # A discarded draft of an earlier message must not push aside the newer message's draft.
    if Draft.objects.filter(conversation_id=draft.conversation_id).filter(drafts_newer_than(draft.message)).exists():
        raise ApplicationError("A newer customer message has its own draft.", code="draft_not_pending", fields={"draft": ["stale"]})
    if draft.status == Draft.Status.PENDING:
        draft.status = Draft.Status.SUPERSEDED
        draft.save(update_fields=["status"])
    # Any other pending draft of the conversation is stale too: one pending draft at a time.
    Draft.objects.filter(conversation_id=draft.conversation_id, status=Draft.Status.PENDING).update(status=Draft.Status.SUPERSEDED)
    new = Draft.objects.create(
        conversation_id=draft.conversation_id, message_id=draft.message_id, origin=Draft.Origin.REGENERATE,
        content="", language=draft.language, provider="", model="", reasoning=f"Regenerated by {by.get_full_name() or by.email} from draft {draft.pk}.",
    )
    transaction.on_commit(lambda: tasks.draft_regenerate.delay(new.pk))
    return new


def knowledge_gaps_resolve(*, gaps) -> int:
    """A manager marks gaps answered (an article now covers them); how many changed."""
    from ai.models import KnowledgeGap

    return KnowledgeGap.objects.filter(pk__in=[gap.pk for gap in gaps], resolved_at__isnull=True).update(resolved_at=timezone.now())
