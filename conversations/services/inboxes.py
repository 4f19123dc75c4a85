"""Inboxes: the widget token."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from conversations.models import Inbox, WidgetSession, new_widget_token


@transaction.atomic
def inbox_widget_token_rotate(*, inbox: Inbox) -> Inbox:
    """A new widget token. Sites embedding the old one stop reaching this inbox, and every
    widget session opened with it ends now: a leaked token must not outlive its rotation
    through the sessions it opened."""
    inbox = Inbox.objects.select_for_update().get(pk=inbox.pk)
    inbox.widget_token = new_widget_token()
    inbox.save(update_fields=["widget_token"])
    WidgetSession.objects.filter(inbox=inbox, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return inbox
