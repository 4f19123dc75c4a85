"""Widget sessions: who a browser is (a contact of one inbox) and the token that says so.

A token is `signing.dumps({"s": session id, "t": schema})`: signed with SECRET_KEY,
timestamped (older than WIDGET_SESSION_TTL_SECONDS is refused), bound to the tenant that
issued it, and revocable through its WidgetSession row. Each process remembers the
signatures it has verified (`_token_signed`); the age, the tenant and the session are checked
on every request.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from config import inputs
from config.errors import ApplicationError
from conversations import session_cache
from conversations.models import Inbox, Message, MessageFeedback, WidgetSession
from conversations.services import contact_create, contact_get_or_create_by_external_id, contact_update_by_customer

TOKEN_SALT = "hearth.widget-session"


class InvalidWidgetToken(Exception):
    """Missing, malformed, forged, expired, revoked or of another tenant. `counts`: the throttle
    counts of the round trip that read the session, when the request was counted before it was
    refused (whoever answers the refusal must not count it again)."""

    def __init__(self, message: str, counts: dict | None = None):
        super().__init__(message)
        self.counts = counts


def widget_inbox_for_token(token: str) -> Inbox | None:
    """The inbox a widget token opens, or None. Only a web widget inbox: the token of an email
    or API inbox opens nothing, as if it were made up."""
    if not 0 < len(token) <= 64:
        return None
    return Inbox.objects.filter(widget_token=token, channel=Inbox.Channel.WEB_WIDGET).first()


def identifier_hash_for(*, inbox: Inbox, identifier: str) -> str:
    """What the customer's backend computes to vouch for `identifier`: HMAC-SHA256, hex."""
    return hmac.new(inbox.hmac_secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


@transaction.atomic
def widget_session_open(
    *, inbox: Inbox, identifier: str | None = None, identifier_hash: str | None = None, name: str = "", email: str = ""
) -> tuple[WidgetSession, str]:
    """Open a session on the inbox. With a verified identifier the known contact (by
    external id) is bound, created on first sight; without one a new anonymous contact is made."""
    if identifier:
        expected = identifier_hash_for(inbox=inbox, identifier=identifier)
        if not identifier_hash or not inputs.secrets_equal(expected, identifier_hash.lower()):
            raise ApplicationError("identifier_hash does not match the identifier", code="identity_not_verified",
                                   fields={"identifier_hash": ["does not match"]})
        contact, created = contact_get_or_create_by_external_id(external_id=identifier, name=name, email=email)
        if not created:
            # What the visitor tells us fills gaps only, never a field the business set.
            gaps = {field: value for field, value in (("name", name), ("email", email))
                    if value and not getattr(contact, field) and field not in contact.business_fields}
            if gaps:
                contact = contact_update_by_customer(contact=contact, **gaps)
    elif identifier_hash:
        raise ApplicationError("identifier_hash without identifier", code="invalid", fields={"identifier": ["required with identifier_hash"]})
    else:
        contact = contact_create(name=name, email=email, by_business=False)
    if contact.blocked:
        raise ApplicationError("this contact is blocked", code="contact_blocked")
    session = WidgetSession.objects.create(
        inbox=inbox, contact=contact, identified=bool(identifier),
        expires_at=timezone.now() + timedelta(seconds=settings.WIDGET_SESSION_TTL_SECONDS),
    )
    token = signing.dumps({"s": str(session.id), "t": connection.schema_name}, salt=TOKEN_SALT)
    return session, token


def widget_session_from_token(token: str) -> WidgetSession:
    return widget_session_of(widget_session_id_from_token(token))[0]


def widget_session_id_from_token(token: str) -> str:
    """The session id a token names, once its signature, age and tenant are checked; the
    session itself is not read yet (widget_session_of)."""
    try:
        schema, session_id, signed_at = _token_signed(token, settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS))
    except signing.BadSignature as error:
        raise InvalidWidgetToken("the session token is not valid") from error
    # signing.loads's own age rule (`age > max_age`), on every request: the memory
    # (_token_signed) keeps when a token was signed, never that it is still young enough.
    if time.time() - signed_at > settings.WIDGET_SESSION_TTL_SECONDS:
        raise InvalidWidgetToken("the session has expired; open a new one")
    if schema != connections[DEFAULT_DB_ALIAS].schema_name:  # (the connection itself: the proxy costs a dozen calls)
        raise InvalidWidgetToken("the session token is not valid here")
    if not isinstance(session_id, str):
        raise InvalidWidgetToken("the session token is not valid")
    return session_id


TOKEN_MEMORY_SIZE = 4096


@functools.lru_cache(maxsize=TOKEN_MEMORY_SIZE)
def _token_signed(token: str, key: str, fallback_keys: tuple[str, ...]) -> tuple[object, object, int]:
    """(the tenant schema, the session id, when it was signed) of a token whose signature is
    good under `key` or one of `fallback_keys`; BadSignature otherwise (never remembered).

    A process's memory of the tokens it has verified: a widget polls with the same token over
    and over, and the signature's HMAC with its key derivation was 3-5% of every widget request.
    What is remembered is only what the signature vouches for, which no later change can
    alter: the age, the tenant and the session (revoked by a widget-token rotation, blocked,
    ended) are checked on every request, after this. The keys are part of the memory's key,
    so a token signed with a key that is no longer SECRET_KEY or a fallback is verified again,
    and refused. Bounded (least recently used out), so made-up tokens cannot grow it: only a
    good signature is remembered."""
    signer = signing.TimestampSigner(key=key, salt=TOKEN_SALT, fallback_keys=fallback_keys)
    payload = signer.unsign_object(token)  # no max_age: the age is the caller's, per request
    # The signature covered "payload:timestamp"; the token is "payload:timestamp:signature".
    signed_at = signing.b62_decode(token.rsplit(signer.sep, 2)[-2])
    if not isinstance(payload, dict):
        return None, None, signed_at
    return payload.get("t"), payload.get("s"), signed_at


def widget_session_of(session_id: str, *, count: dict[str, int] | None = None) -> tuple[WidgetSession, dict | None]:
    """(the live session `session_id` names, the throttle counts): revoked, expired and
    blocked are refused here. `count`: throttle windows ({key: seconds}) to count this
    request in, in the same Redis round trip as the cached session is read (None in the
    result: not counted, the throttles count on their own)."""
    # A verified session is served from the cache for a few seconds; any change to a session,
    # inbox or contact makes it stale (the rule: conversations/session_cache.py).
    session, generation, counts = session_cache.session_get_counting(session_id, count or {})
    if session is None:
        session = WidgetSession.objects.select_related("inbox", "contact").filter(pk=session_id).first()
        if session is not None and session.revoked_at is None and not session.contact.blocked:
            session_cache.session_put(session, generation=generation, seconds=(session.expires_at - timezone.now()).total_seconds())
    if session is None or session.revoked_at is not None:
        raise InvalidWidgetToken("the session has ended; open a new one", counts)
    if session.expires_at <= timezone.now():
        raise InvalidWidgetToken("the session has expired; open a new one", counts)
    if session.contact.blocked:
        raise InvalidWidgetToken("this contact is blocked", counts)
    return session, counts


def widget_session_revoke(*, session: WidgetSession) -> None:
    WidgetSession.objects.filter(pk=session.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    session_cache.sessions_stale()


def message_feedback_set(*, message: Message, rating: str) -> MessageFeedback:
    """Thumbs up or down on an AI answer; a second call changes the rating."""
    if message.sender_type != Message.SenderType.AI:
        raise ApplicationError("feedback is for AI answers only", code="not_an_ai_answer")
    if rating not in MessageFeedback.Rating.values:
        raise ApplicationError("rating must be 'up' or 'down'", code="invalid", fields={"rating": ["up or down"]})
    feedback, created = MessageFeedback.objects.get_or_create(message=message, defaults={"rating": rating})
    if not created and feedback.rating != rating:
        feedback.rating = rating
        feedback.updated_at = timezone.now()
        feedback.save(update_fields=["rating", "updated_at"])
    return feedback


def conversation_handoff_by_customer(*, conversation):
    """The customer pressed "Talk to a person": hand the conversation to people (once; a
    second press finds it handed off and changes nothing). Returns the conversation as stored."""
    from ai.handoff import REASON_CUSTOMER_BUTTON, RULE_ASKED_FOR_PERSON, conversation_handoff  # ai builds on the desk

    conversation_handoff(conversation=conversation, reason=REASON_CUSTOMER_BUTTON, rule=RULE_ASKED_FOR_PERSON)
    return type(conversation).objects.get(pk=conversation.pk)
