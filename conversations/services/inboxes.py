"""Inboxes: the widget token and the HMAC secret."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from conversations import session_cache
from conversations.models import Inbox, WidgetSession, new_hmac_secret, new_widget_token


@transaction.atomic
def inbox_widget_token_rotate(*, inbox: Inbox) -> Inbox:
    """A new widget token. Sites embedding the old one stop reaching this inbox, and every
    widget session opened with it ends now: a leaked token must not outlive its rotation
    through the sessions it opened."""
    inbox = Inbox.objects.select_for_update().get(pk=inbox.pk)
    inbox.widget_token = new_widget_token()
    inbox.save(update_fields=["widget_token"])
    WidgetSession.objects.filter(inbox=inbox, revoked_at__isnull=True).update(revoked_at=timezone.now())
    session_cache.sessions_stale()  # queryset updates send no signal
    return inbox


@transaction.atomic
def inbox_hmac_secret_rotate(*, inbox: Inbox) -> Inbox:
    """A new HMAC secret for signing customer identifiers. Sessions bound to a customer
    through the old secret end now: whoever held a leaked secret could have signed any
    identity, so those bindings are no longer proof of who the customer is."""
    inbox = Inbox.objects.select_for_update().get(pk=inbox.pk)
    inbox.hmac_secret = new_hmac_secret()
    inbox.save(update_fields=["hmac_secret"])
    WidgetSession.objects.filter(inbox=inbox, identified=True, revoked_at__isnull=True).update(revoked_at=timezone.now())
    session_cache.sessions_stale()  # queryset updates send no signal
    return inbox
