"""Inboxes: creating one (within the plan), the widget token and the HMAC secret."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.plans import account_current, account_lock, plan_limit_check
from conversations import session_cache
from conversations.models import Inbox, WidgetSession, new_hmac_secret, new_widget_token


def inbox_limit_check() -> None:
    """PlanLimitExceeded when the current account's plan allows no more inboxes (the admin's
    form asks first, to show it as a form error)."""
    plan_limit_check(account=account_current(), resource="inboxes", used=Inbox.objects.count())


@transaction.atomic
def inbox_create(*, inbox: Inbox) -> Inbox:
    """Store a new inbox, built by the admin's form (or a fixture) with its settings; refused
    over the plan's inbox limit, checked under the account's lock so two creations at once
    cannot both take the last one."""
    account_lock(account=account_current())
    inbox_limit_check()
    inbox.save(force_insert=True)
    return inbox


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
