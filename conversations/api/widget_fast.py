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
or a `?format=`, no bearer token, a body that is not small JSON, a bad token or an ended
session, an origin the session's inbox does not list, a full throttle window, a bad body or
Idempotency-Key, no such conversation. Every such decision is taken before anything is
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
from django.http import Http404, HttpResponse
from django.urls import resolve
from rest_framework import exceptions

from config.api import NumberConverter
from config.errors import ApplicationError
from config.parsers import LimitedJSONParser
from conversations.api import widget
from conversations.api.authentication import bearer_token, widget_session_authenticated
from conversations.api.serializers import ContentInput
from conversations.widget import InvalidWidgetToken

# The path after tenant routing (a /t/<slug>/ prefix is gone by then) of the one URL pattern
# served here, "conversations/<number:number>/messages" under "api/widget/v1/";
# tests/conversations/test_widget_fast.py checks that the URL resolver sends it to MessageListApi.
MESSAGES_PATH = re.compile(r"/api/widget/v1/conversations/(?P<number>[0-9]{1,9})/messages")
JSON_MEDIA_TYPE = "application/json"

# What the view's rules raise for a request that is not the usual case: DRF answers it.
# An ApplicationError comes from the service's rules, inside its transaction, which it rolls
# back (a contact blocked since the session was read).
_NOT_USUAL = (exceptions.APIException, InvalidWidgetToken, Http404, ApplicationError)

_VIEW = widget.MessageListApi  # the DRF view whose usual answers this serves
_RENDERER = _VIEW.renderer_classes[0]() if len(_VIEW.renderer_classes) == 1 else None
_NUMBER = NumberConverter()


_messages_view: list = []  # [the view function the URL resolver finds for MESSAGES_PATH, or None], once per process


def messages_view():
    """MessageListApi's view function, as the URL resolver finds it for a path MESSAGES_PATH
    matches; None (and no fast path) if the URLs ever send that path elsewhere, or if requests
    run in a transaction each."""
    if not _messages_view:
        callback = resolve("/api/widget/v1/conversations/1/messages", urlconf=settings.ROOT_URLCONF).func
        # A view Django would wrap in a transaction (ATOMIC_REQUESTS) is Django's to call.
        atomic = any(database.get("ATOMIC_REQUESTS") for database in settings.DATABASES.values())
        _messages_view.append(callback if getattr(callback, "cls", None) is _VIEW and not atomic else None)
    return _messages_view[0]


def usual_request_match(request) -> tuple[object, dict] | None:
    """(the view function, its keyword arguments) for a request that may be a usual poll or
    POST, judged by what costs nothing (no Redis, no database); None: DRF answers it."""
    if settings.DEBUG or request.method not in ("GET", "POST"):
        return None
    match = MESSAGES_PATH.fullmatch(request.path_info)
    if match is None or getattr(request, "urlconf", settings.ROOT_URLCONF) != settings.ROOT_URLCONF or messages_view() is None:
        return None
    if _RENDERER is None or not widget.WidgetContentNegotiation.is_plain(request.META, [_RENDERER]):
        return None
    if request.method == "POST" and not _is_small_json(request):
        return None
    try:
        number = _NUMBER.to_python(match["number"])
    except ValueError:
        return None  # out of range: the URL resolver finds no pattern (a 404)
    return messages_view(), {"number": number}


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
        if not all(throttle.allow_request(request, view) for throttle in view.get_throttles()):
            return None
        if request.method == "GET":
            return _json_response(view, widget.message_page(session=session, number=number, after=request.GET.get("after")), 200)
        content = ContentInput.content_of(LimitedJSONParser().parse(io.BytesIO(request.body)))
        payload, created = widget.message_add(session=session, number=number, content=content,
                                              idempotency_key=widget.idempotency_key_of(request))
    except _NOT_USUAL:
        return None  # every refusal comes before message_add's statement, or from it (no such conversation)
    return _json_response(view, payload, 201 if created else 200)


def _is_small_json(request) -> bool:
    """A JSON body that DRF's parser would read whole (it refuses more than
    API_MAX_BODY_BYTES); anything else (a form, a huge or chunked body) goes to DRF."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    # (`request.body` refuses more than DATA_UPLOAD_MAX_MEMORY_SIZE; DRF streams past it.)
    in_memory = settings.DATA_UPLOAD_MAX_MEMORY_SIZE is None or length <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return request.content_type == JSON_MEDIA_TYPE and 0 < length <= settings.API_MAX_BODY_BYTES and in_memory


def _json_response(view, data, status: int) -> HttpResponse:
    """What DRF's Response for `data` becomes: the renderer's bytes, its media type, and the
    view's default headers (finalize_response: `Allow`)."""
    response = HttpResponse(_RENDERER.render(data, JSON_MEDIA_TYPE, {}), status=status, content_type=JSON_MEDIA_TYPE)
    for name, value in view.default_response_headers.items():
        response[name] = value
    return response
