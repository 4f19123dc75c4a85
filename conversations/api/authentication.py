"""Credentials of the two APIs, and the origin rule of the widget API."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import HTTP_HEADER_ENCODING, exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from accounts.models import ApiToken, Membership
from accounts.middleware import TenantCacheStale
from config.api import counts_add, throttle_windows, windows_not_counted
from accounts.services import api_token_hash
from conversations.models import Inbox, WidgetSession
from conversations.widget import InvalidWidgetToken, widget_session_id_from_token, widget_session_of


def origin_allowed(inbox: Inbox, request) -> bool:
    """A browser may call the widget API from the inbox's allowed origins or from Hearth's own
    host (the demo widget). Requests without an Origin header are not from a browser page."""
    origin = request.META.get("HTTP_ORIGIN")  # (not request.headers: that builds every header's name)
    if not origin:
        return True
    if origin in inbox.allowed_origins:
        return True
    return urlsplit(origin).netloc == request.get_host()


def bearer_token(request, keyword: bytes) -> str | None:
    """The credential after `keyword` in the Authorization header (DRF's or Django's request);
    None for another scheme or none; AuthenticationFailed when malformed."""
    # DRF's get_authorization_header, read from META (the same value, without request.headers).
    header = request.META.get("HTTP_AUTHORIZATION", b"")
    parts = (header.encode(HTTP_HEADER_ENCODING) if isinstance(header, str) else header).split()
    if not parts or parts[0].lower() != keyword.lower():
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed("malformed Authorization header")
    try:
        return parts[1].decode()
    except UnicodeDecodeError as error:
        raise exceptions.AuthenticationFailed("malformed Authorization header") from error


def widget_session_authenticated(request, view, token: str) -> WidgetSession:
    """The live session a bearer `token` names, with the request counted in `view`'s throttles
    in the round trip that reads it. Raises InvalidWidgetToken (a 401) or PermissionDenied (the
    origin). `request` is DRF's or Django's: the widget API's fast path authenticates with this
    too (conversations/api/widget_fast.py), and when it hands a request over to DRF, the windows
    it already counted are not counted again."""
    request.widget_session_id = widget_session_id_from_token(token)  # the session throttle's identity
    # The request is counted by the view's throttles in the round trip that reads the cached
    # session; they compare after the permission check, as DRF orders it. So a well-signed
    # token of an ended session is counted too (a forged one is not).
    windows = windows_not_counted(request, throttle_windows(request, view)) if view is not None else {}
    try:
        session, counts = widget_session_of(request.widget_session_id, count=windows or None)
    except (InvalidWidgetToken, TenantCacheStale) as error:
        if error.counts:
            counts_add(request, error.counts)
        raise
    if counts:
        counts_add(request, counts)
    # The CORS rule (conversations/api/cors.py) asks whether an inbox lists the origin: this one's answer.
    getattr(request, "_request", request).widget_inbox = session.inbox
    if not origin_allowed(session.inbox, request):
        raise exceptions.PermissionDenied("this origin may not use this inbox's widget")
    return session


class WidgetSessionAuthentication(BaseAuthentication):
    """`Authorization: Bearer <session token>`; request.auth is the WidgetSession."""

    def authenticate(self, request):
        token = bearer_token(request, b"bearer")
        if token is None:
            return None
        try:
            session = widget_session_authenticated(request, request.parser_context.get("view"), token)
        except InvalidWidgetToken as error:
            raise exceptions.AuthenticationFailed(str(error)) from error
        return AnonymousUser(), session

    def authenticate_header(self, request):
        return 'Bearer realm="widget"'


class HasWidgetSession(BasePermission):
    def has_permission(self, request, view):
        if not isinstance(request.auth, WidgetSession):
            raise exceptions.NotAuthenticated("open a session first: POST sessions, then send Authorization: Bearer <token>")
        return True


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Token <key>`: a member's key for this account only."""

    def authenticate(self, request):
        key = bearer_token(request, b"token")
        if key is None:
            return None
        token = ApiToken.objects.select_related("user").filter(key_hash=api_token_hash(key), revoked_at__isnull=True).first()
        # A key of another account is as unknown here as a made-up one.
        if token is None or token.account_id != getattr(connection.tenant, "pk", None):
            raise exceptions.AuthenticationFailed("invalid API token")
        if not token.user.is_active or not Membership.objects.filter(user_id=token.user_id, account_id=token.account_id).exists():
            raise exceptions.AuthenticationFailed("this token's user is no longer a member")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return 'Token realm="api"'


class IsAccountMember(BasePermission):
    def has_permission(self, request, view):
        if not isinstance(request.auth, ApiToken):
            raise exceptions.NotAuthenticated("send Authorization: Token <key>")
        return True


class WidgetSessionScheme(OpenApiAuthenticationExtension):
    target_class = WidgetSessionAuthentication
    name = "widgetSession"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Session token from POST /api/widget/v1/sessions"}


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`Token <key>`"}
