"""Labels on a conversation: one service sets them, with one event per label added or removed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from django.db import transaction

from conversations import events, followups
from conversations.events import Actor
from conversations.models import Conversation, Label
from conversations.services._common import locked, now


@transaction.atomic
def _labels_change(conversation: Conversation, by: Actor, at: datetime | None, wanted: Callable[[set[Label]], set[Label]]) -> Conversation:
    # The row lock serialises label changes of one conversation, so two agents ticking the
    # same label at once record it once.
    conversation = locked(conversation)
    moment = now(at)
    current = set(conversation.labels.all())
    target = wanted(current)
    added, removed = sorted(target - current, key=lambda label: label.pk), sorted(current - target, key=lambda label: label.pk)
    if added:
        conversation.labels.add(*added)
    if removed:
        conversation.labels.remove(*removed)
    for label in added:
        events.label_added(conversation, by, label=label, at=moment)
    for label in removed:
        events.label_removed(conversation, by, label=label, at=moment)
    if added or removed:
        followups.conversation_changed(conversation, at=moment)
    return conversation


def conversation_labels_set(*, conversation: Conversation, labels: Iterable[Label], by: Actor, at: datetime | None = None) -> Conversation:
    """The conversation's labels become exactly `labels`."""
    labels = set(labels)
    return _labels_change(conversation, by, at, lambda current: labels)


def conversation_labels_add(*, conversation: Conversation, labels: Iterable[Label], by: Actor, at: datetime | None = None) -> Conversation:
    labels = set(labels)
    return _labels_change(conversation, by, at, lambda current: current | labels)


def conversation_labels_remove(*, conversation: Conversation, labels: Iterable[Label], by: Actor, at: datetime | None = None) -> Conversation:
    labels = set(labels)
    return _labels_change(conversation, by, at, lambda current: current - labels)
