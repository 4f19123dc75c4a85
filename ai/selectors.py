"""Reads of the AI's work for the desk's pages: the conversation page's classification and
its history, the categories an agent may choose, what stands in the way of deleting one."""

from __future__ import annotations

from django.db.models import QuerySet

from ai.models import Category, Classification, Correction, TrainingExample
from conversations.models import Conversation

# The conversation page shows the latest classification and this many before it.
HISTORY_LENGTH = 5


def categories_active() -> QuerySet[Category]:
    """What an agent may file a conversation under (the page, the bulk action, the API)."""
    return Category.objects.filter(is_active=True).order_by("name")


def conversation_classifications(*, conversation: Conversation, limit: int = HISTORY_LENGTH + 1) -> list[Classification]:
    """The conversation's classifications, newest first, in one query with what the page shows
    of each (the message classified, the suggested team and agent): the first is the latest."""
    return list(
        Classification.objects.filter(conversation=conversation)
        .select_related("message", "suggested_team", "suggested_agent")
        .order_by("-created_at", "-id")[:limit]
    )


def category_delete_blockers(*, category: Category) -> list[str]:
    """Why the category may not be deleted, or nothing. Deleting would take its training
    examples and corrections with it (cascade) and leave conversations filed under a name
    that exists nowhere; deactivating keeps all of that and hides it from agents' choices."""
    examples = category.examples.count()
    corrections = Correction.objects.filter(to_category=category).count()
    in_use = Conversation.objects.filter(ai_category=category.name).exists()
    if not (examples or corrections or in_use):
        return []
    parts = [f"{examples} training example(s)"] * bool(examples) + [f"{corrections} correction(s)"] * bool(corrections)
    parts += ["conversations filed under it"] * in_use
    return [f"“{category}” has {', '.join(parts)}: deactivate it instead (untick “Is active”), which keeps its history."]


def training_example_exists(*, category: Category, text: str, exclude: int | None = None) -> bool:
    """Whether the category already has this text (as ai.services.example_text_hash compares)."""
    from ai.services import example_text_hash

    examples = TrainingExample.objects.filter(category=category, text_hash=example_text_hash(text))
    return examples.exclude(pk=exclude).exists() if exclude is not None else examples.exists()


def conversation_corrected(*, conversation: Conversation) -> bool:
    """Whether an agent has chosen this conversation's category (a Correction exists): the
    pipeline's later classifications of new messages should not overrule a person."""
    return Correction.objects.filter(conversation=conversation).exists()


def conversation_draft_current(*, conversation: Conversation):
    """The draft the conversation page offers: the newest pending one (empty while a worker
    regenerates it), else None."""
    from ai.models import Draft

    return Draft.objects.filter(conversation=conversation, status=Draft.Status.PENDING).order_by("-created_at", "-id").first()


def conversation_drafts(*, conversation: Conversation):
    """The conversation's drafts, newest first (the agents' API)."""
    from ai.models import Draft

    return Draft.objects.filter(conversation=conversation).select_related("used_by").order_by("-created_at", "-id")
