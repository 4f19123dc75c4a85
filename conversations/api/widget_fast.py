"""The widget API's fast path: the usual, successful poll and POST of a conversation's messages
answered without the URL resolver and DRF's view machinery, by the same rule functions.

A widget polls `GET /api/widget/v1/conversations/<n>/messages` every few seconds and posts to
it whenever the customer types: these two requests are nearly all of the widget API's traffic.
`config/widget_handler.py` calls `respond(request)` where Django's handler would resolve the URL
and call the view: after every middleware's request phase (input guard, tenant routing, CORS,
suspension, security, common), whose response phase then runs on this answer as on any other.
What is skipped is only what is the same for every such request: URL resolving, and DRF's
APIView around `MessageListApi` (its Request wrapper, negotiation, version, authentication,
permission and throttle loops, exception handler, finalize_response and Response.render).

`respond` returns None, and the handler resolves the URL and runs the DRF view as usual, for
anything that is not the usual, successful case: another path or method, DEBUG, another Accept
or a `?format=`, no bearer token, a body that is not JSON or is past the API's size limits, a
bad token or an ended session, an origin the session's inbox does not list, a full throttle
window, a bad body or Idempotency-Key, no such conversation. Every such decision is taken before anything is
written. The request may have been counted by then (the round trip that reads the session
counts the throttles): the counts stay on the request, and DRF's authentication and throttles
count only what is not counted yet (conversations.api.authentication), so each request counts
once. A POST's body is read through `request.body`, which DRF reads again from memory.

The view functions called are MessageListApi's own (`message_page`, `message_add`), its
serializer field (`ContentInput.content_of`), `idempotency_key_of`, the widget session's
authentication, the view's own throttle and permission classes, its renderer and its
`default_response_headers`. tests/conversations/test_widget_fast.py sends the same requests
through this path and through DRF and compares status, headers and body.
"""

from __future__ import annotations

import io
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpResponse
from django.http.response import ResponseHeaders
from django.urls import get_resolver, resolve
from rest_framework import exceptions

from config.api import NumberConverter, view_throttles
from config.errors import ApplicationError
from config.parsers import LimitedJSONParser
from conversations.api import widget
from conversations.api.authentication import bearer_token, widget_session_authenticated
from conversations.api.serializers import ContentInput
from conversations.widget import InvalidWidgetToken

JSON_MEDIA_TYPE = "application/json"

# What the view's rules raise for a request that is not the usual case: DRF answers it.
# An ApplicationError comes from the service's rules, inside its transaction, which it rolls
# back (a contact blocked since the session was read).
_NOT_USUAL = (exceptions.APIException, InvalidWidgetToken, Http404, ApplicationError)

_VIEW = widget.MessageListApi  # the DRF view whose usual answers this serves
_RENDERER = _VIEW.renderer_classes[0]() if len(_VIEW.renderer_classes) == 1 else None
_NUMBER = NumberConverter()


_messages_route: list = []  # [(the path's pattern, the view function)] or [None]: worked out once per process


def messages_route():
    """(the pattern of MessageListApi's path after tenant routing, its view function), both
    from the URL conf (conversations/api/urls.py, "widget-messages": the one place the path is
    spelled); None (and no fast path) if that name is not MessageListApi's, or if requests
    run in a transaction each."""
    if not _messages_route:
        sample = 123456789  # a number the converter takes; its digits are replaced by the converter's pattern
        # The resolver's own reverse: the path from the URL conf's root, whatever the script prefix.
        path = "/" + get_resolver(settings.ROOT_URLCONF).reverse("widget-messages", number=sample)
        before, after = path.split(str(sample))
        pattern = re.compile(f"{re.escape(before)}(?P<number>{NumberConverter.regex}){re.escape(after)}")
        callback = resolve(path, urlconf=settings.ROOT_URLCONF).func
        # A view Django would wrap in a transaction (ATOMIC_REQUESTS) is Django's to call.
        atomic = any(database.get("ATOMIC_REQUESTS") for database in settings.DATABASES.values())
        _messages_route.append((pattern, callback) if getattr(callback, "cls", None) is _VIEW and not atomic else None)
    return _messages_route[0]


def messages_view():
    """MessageListApi's view function as the URL resolver finds it, or None (no fast path)."""
    route = messages_route()
    return route[1] if route else None


def usual_request_match(request) -> tuple[object, dict] | None:
    """(the view function, its keyword arguments) for a request that may be a usual poll or
    POST, judged by what costs nothing (no Redis, no database); None: DRF answers it."""
    if settings.DEBUG or request.method not in ("GET", "POST"):
        return None
    route = messages_route()
    match = route[0].fullmatch(request.path_info) if route else None
    if match is None or getattr(request, "urlconf", settings.ROOT_URLCONF) != settings.ROOT_URLCONF:
        return None
    if _RENDERER is None or not widget.WidgetContentNegotiation.is_plain(request.META, [_RENDERER]):
        return None
    if request.method == "POST" and not _is_json(request):
        return None
    try:
        number = _NUMBER.to_python(match["number"])
    except ValueError:
        return None  # out of range: the URL resolver finds no pattern (a 404)
    return route[1], {"number": number}


def respond(request, *, number: int) -> HttpResponse | None:
    """MessageListApi's answer to a usual poll or POST of conversation `number`, or None: the
    request is not the usual case, and nothing was written: let DRF answer it."""
    view = _VIEW()
    view.setup(request, number=number)  # as as_view() does (a GET view answers HEAD: `Allow` says so)
    try:
        token = bearer_token(request, b"bearer")
        if token is None:
            return None
        # DRF's order: authentication (which counts the throttles), permissions, throttles.
        request.auth = session = widget_session_authenticated(request, view, token)
        if not all(permission.has_permission(request, view) for permission in view.get_permissions()):
            return None
        if not all(throttle.allow_request(request, view) for throttle in view_throttles(view)):
            return None
        if request.method == "GET":
            return _json_response(view, widget.message_page(session=session, number=number, after=request.GET.get("after")), 200)
        # The body's limits are the ones DRF applies (request.body's DATA_UPLOAD_MAX_MEMORY_SIZE,
        # the parser's API_MAX_BODY_BYTES): past either, DRF answers (it streams, and refuses).
        content = ContentInput.content_of(LimitedJSONParser().parse(io.BytesIO(request.body)))
        payload, created = widget.message_add(session=session, number=number, content=content,
                                              idempotency_key=widget.idempotency_key_of(request))
    except (*_NOT_USUAL, RequestDataTooBig):
        return None  # every refusal comes before message_add's statement, or from it (no such conversation)
    return _json_response(view, payload, 201 if created else 200)


def _is_json(request) -> bool:
    """A JSON body (read, as DRF would, by LimitedJSONParser); a form or any other type goes to DRF."""
    return request.content_type == JSON_MEDIA_TYPE


def _json_response(view, data, status: int) -> HttpResponse:
    """What DRF's Response for `data` becomes: the renderer's bytes, its media type, and the
    view's default headers (finalize_response: `Allow`)."""
    response = HttpResponse(_RENDERER.render(data, JSON_MEDIA_TYPE, {}), status=status, content_type=JSON_MEDIA_TYPE)
    if not _default_headers:  # the view class's (its methods, its renderers): the same for every request
        # Checked once as `response[name] = value` checks each header (ResponseHeaders: the
        # name ASCII, the value Latin-1 or MIME-encoded, no newline), then copied in as checked.
        _default_headers.append(ResponseHeaders(view.default_response_headers)._store)
    response.headers._store.update(_default_headers[0])
    return response


_default_headers: list = []
