"""Writes people make on the AI's work: an agent correcting a conversation's category (from the
conversation page, the queue's bulk action or the agents' API: all three call
`classification_correct`), and admins adding or editing training examples.

The pipeline's own writes (a Classification per message) are ai/pipeline.py; training is
ai/training.py.
"""

from __future__ import annotations


from django.db import transaction

from accounts.models import User
from ai.models import Category, Classification, Correction, TrainingExample
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
