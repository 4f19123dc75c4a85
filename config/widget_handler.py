"""The widget API's own Django handler: the same application, with the middleware a bearer-token
JSON API has no use for left out.

`config/wsgi.py` hands every request whose path is a widget API path (the paths CORS is open
for, `conversations.api.cors.is_widget_api_path`) to `WidgetApiHandler`, and everything else to
Django's usual handler. The two differ only in the middleware they run: the widget handler runs
`settings.MIDDLEWARE` in its order, minus `SKIPPED_FOR_THE_WIDGET_API` below. Skipping by a
list of named exceptions (rather than listing what to keep) means a middleware added to
MIDDLEWARE later runs on the widget API too, unless someone decides here that it need not.

Why each skipped one does nothing for a widget API request:
- WhiteNoise answers only paths under STATIC_URL (`/static/`); a widget API path never is one.
- Sessions: the widget authenticates with `Authorization: Bearer <session token>`
  (WidgetSessionAuthentication); no widget view, permission, throttle or error handler reads
  `request.session`, and an untouched session writes no cookie and no `Vary: Cookie`.
- CSRF: DRF's views are csrf_exempt (APIView.as_view), so CsrfViewMiddleware never checks a
  widget request, and no widget response calls get_token(), so it never sets its cookie.
- Authentication (`request.user` from the session): the widget API's identity is the session
  token, set on DRF's request by WidgetSessionAuthentication; Django's user is never read.
- Messages: stored in the session for the desk's pages; the API has none to show.

The usual poll and POST of a conversation's messages (nearly all widget traffic) skip the URL
resolver and DRF's view machinery too: the fast path (conversations/api/widget_fast.py) answers
them with the view's own rule functions, or returns None for anything else, which is then
resolved and served by DRF as before. They also skip the middleware chain itself (the plain
path, `WidgetApiMiddlewareMixin._plain_response`): every middleware's own rules are applied
around the fast path in the chain's order, without its wrappers; anything unusual goes to the
chain, with the same request, before anything is written.

What still runs, in MIDDLEWARE's order: the input guard (NUL anywhere, a Host outside
ALLOWED_HOSTS), tenant routing, CORS, the suspended account's 403, the security headers
(and the HTTPS redirect), CommonMiddleware (Content-Length; APPEND_SLASH as for every path)
and X-Frame-Options. `tests/config/test_widget_handler.py` sends the same widget requests
through both handlers and compares what comes back.
"""

from __future__ import annotations

import weakref

from django.conf import settings
from django.core import signals
from django.core.cache import close_caches
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.base import reset_urlconf
from django.core.handlers.exception import convert_exception_to_response, response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_script_name
from django.core.signals import setting_changed
from django.db import close_old_connections, reset_queries
from django.dispatch import receiver
from django.dispatch.dispatcher import NONE_ID
from django.http.request import HttpHeaders
from django.http.response import HttpResponseBase
from django.urls import set_script_prefix
from django.utils.deprecation import MiddlewareMixin
from django.utils.functional import cached_property
from django.utils.log import log_response
from django.utils.module_loading import import_string

from accounts.middleware import routing_done, routing_forget
from conversations.api import widget_fast

SKIPPED_FOR_THE_WIDGET_API = frozenset({
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
})


def widget_api_middleware() -> list[str]:
    """settings.MIDDLEWARE, in its order, without what the widget API does not need."""
    return [path for path in settings.MIDDLEWARE if path not in SKIPPED_FOR_THE_WIDGET_API]


# The widget API's plain path (below) runs each middleware as its request rule, then the view,
# then its response rule: for these, the methods that are their middleware's whole behaviour
# around the view. Django's MiddlewareMixin middleware are exactly that (process_request,
# process_response); the others name theirs here. A middleware in neither has no plain path:
# every request then goes through the chain (fail closed).
PLAIN_RULES = {
    "config.middleware.InputGuardMiddleware": ("process_request", None),
    "accounts.middleware.TenantRoutingMiddleware": ("process_request", "process_answer"),
    "corsheaders.middleware.CorsMiddleware": ("check_preflight", "add_response_headers"),
    "accounts.middleware.AccountSuspendedMiddleware": ("process_request", None),
}


def _plain_rules(middleware_path: str, instance) -> tuple | None:
    names = PLAIN_RULES.get(middleware_path)
    if names is None and isinstance(instance, MiddlewareMixin) and type(instance).__call__ is MiddlewareMixin.__call__:
        names = ("process_request", "process_response")
    if names is None:
        return None
    return tuple(getattr(instance, name, None) if name else None for name in names)


class WidgetApiMiddlewareMixin:
    """Builds a handler's middleware chain from widget_api_middleware() instead of
    settings.MIDDLEWARE. For synchronous handlers only (WSGI, and Django's test client's
    handler in the tests): every middleware in the list is sync-capable, so there is no
    sync/async adapting to do, which is all that Django's own load_middleware adds.

    The usual poll and POST take the plain path (`_plain_response`): each middleware's request
    rule in MIDDLEWARE's order, the fast path, each response rule in reverse order, without the
    chain's wrappers. Anything a request rule answers or raises, a reroute, or a request the
    fast path hands back goes to the chain (`get_response`) with the same request, before any
    side effect but the throttles' count, which stays on the request (counted once).
    `serves_usual_requests_fast` / `serves_usual_requests_plain`: tests turn them off to
    compare against the chain's and DRF's answers."""

    serves_usual_requests_fast = True
    serves_usual_requests_plain = True

    def get_response(self, request):
        if self.serves_usual_requests_fast and self.serves_usual_requests_plain and self._plain_path is not None:
            response = self._plain_response(request)
            if response is not None:
                return response
        return super().get_response(request)

    def _plain_response(self, request):
        """The chain's answer to a usual poll or POST, by the same rules; None: the chain's to answer."""
        path_info = request.path_info
        try:
            for request_rule, _ in self._plain_path:
                if request_rule is not None and request_rule(request) is not None:
                    return self._hand_over(request, path_info)
            match = widget_fast.usual_request_match(request)
            if match is None:
                return self._hand_over(request, path_info)
        except Exception:  # a refusal raised by a rule (a 404, PermissionDenied): the chain answers it
            return self._hand_over(request, path_info)
        try:
            response = self._fast_response(request, match)
        except Exception as error:  # after the count, maybe a write: answered as the chain answers it
            response = response_for_exception(request, error)
        if response is None or getattr(request, "tenant_reroute", False):
            return self._hand_over(request, path_info)
        for _, response_rule in reversed(self._plain_path):
            if response_rule is None:
                continue
            try:
                response = response_rule(request, response)
            except Exception as error:  # as convert_exception_to_response around that middleware
                response = response_for_exception(request, error)
            if getattr(request, "tenant_reroute", False):
                return self._hand_over(request, path_info)
        routing_done()
        request.answered_by_plain_path = True  # which path answered: tests and debugging read it
        # As BaseHandler.get_response: the request closed with the response, refusals logged.
        response._resource_closers.append(request.close)
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        return response

    @staticmethod
    def _hand_over(request, path_info: str) -> None:
        routing_forget(request, path_info)
        return None

    def _fast_response(self, request, match=None):
        """Django's _get_response around the fast path instead of a resolved view: the view
        middleware (with the view the URL resolver would have found), then the view, whose
        exceptions go to the middleware's process_exception (a stale tenant cache's reroute)."""
        match = match or widget_fast.usual_request_match(request)
        if match is None:
            return None
        callback, kwargs = match
        for middleware_method in self._view_middleware:
            response = middleware_method(request, callback, (), kwargs)
            if response:
                return response
        try:
            return widget_fast.respond(request, **kwargs)
        except Exception as error:
            response = self.process_exception_by_middleware(error, request)
            if response is None:
                raise
            return response

    def _get_response(self, request):
        if self.serves_usual_requests_fast:
            response = self._fast_response(request)
            if response is not None:
                return response
        return super()._get_response(request)

    def load_middleware(self, is_async=False):
        if is_async:
            raise ImproperlyConfigured("the widget API's handler is synchronous (WSGI)")
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        plain_path = []
        handler = convert_exception_to_response(self._get_response)
        for middleware_path in reversed(widget_api_middleware()):
            middleware = import_string(middleware_path)
            if not getattr(middleware, "sync_capable", True):
                raise ImproperlyConfigured(f"{middleware_path} cannot run in the widget API's synchronous handler")
            try:
                instance = middleware(handler)
            except MiddlewareNotUsed:
                continue
            if instance is None:
                raise ImproperlyConfigured(f"Middleware factory {middleware_path} returned None.")
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            plain_path.insert(0, _plain_rules(middleware_path, instance))
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler
        # No plain path if a middleware has no rules for it, or one has template responses to render.
        self._plain_path = None if None in plain_path or self._template_response_middleware else plain_path


# Hosts get_host() accepted, by the raw Host header (or X-Forwarded-Host): validating one walks
# ALLOWED_HOSTS pattern by pattern. Only accepted hosts are kept, at most a thousand (a client
# sending made-up hosts is refused every time, and cannot grow this); any settings change
# (override_settings in tests) forgets them.
_accepted_hosts: dict[str, str] = {}


class HeadersOnDemand(HttpHeaders):
    """`request.headers` that looks a header up in the environ when asked for it: Django's
    reads every header's name of the environ when first used, and each widget request asks
    for two (Authorization, Origin). Listing, comparing or counting them reads them all, as
    Django's does (`_store`)."""

    def __init__(self, environ):
        self._environ = environ

    @cached_property
    def _store(self):
        return HttpHeaders(self._environ)._store

    def __getitem__(self, key):
        # HttpHeaders' names: `_` for `-` allowed, any case; the environ's: HTTP_ + upper case.
        try:
            return self._environ[self.to_wsgi_name(key.replace("_", "-"))]
        except KeyError:
            raise KeyError(key) from None

    def __contains__(self, key):
        return self.to_wsgi_name(key.replace("_", "-")) in self._environ


class WidgetApiRequest(WSGIRequest):
    """Django's request, whose get_host() is worked out once per request, and once per process
    for a host it accepted: it validates the Host header against ALLOWED_HOSTS on every call,
    and the input guard, tenant routing and CommonMiddleware each call it. A refusal
    (DisallowedHost) is not kept, so every caller still gets it. Its headers are looked up
    when asked for (HeadersOnDemand)."""

    @cached_property
    def headers(self):
        return HeadersOnDemand(self.META)

    def get_host(self):
        host = self.__dict__.get("_host_validated")
        if host is None:
            raw = self._get_raw_host()
            host = _accepted_hosts.get(raw)
            if host is None:
                host = super().get_host()
                if len(_accepted_hosts) >= 1000:
                    _accepted_hosts.clear()
                _accepted_hosts[raw] = host
            self.__dict__["_host_validated"] = host
        return host


@receiver(setting_changed, dispatch_uid="config.widget_handler.accepted_hosts_reset")
def _accepted_hosts_reset(**kwargs) -> None:
    _accepted_hosts.clear()


class _DjangosReceivers:
    """Whether a signal's receivers are exactly the ones Django connects to it, in whatever
    order they are connected now (Django's test client disconnects and reconnects
    close_old_connections around each request): `now()` is then the receivers in that order,
    to be called one by one as Signal.send calls them, without the dispatcher's per-send
    look-up of the live receivers (a lock, the dead-reference sweep, a dereference and an
    async check per receiver: ~15 calls); None otherwise, and the signal is sent as usual.
    The last list found to be Django's is remembered and compared by equality (the same keys,
    weak references to the same live functions): anything connected or disconnected since
    makes it differ."""

    def __init__(self, signal, receivers: tuple):
        self.signal, self.receivers = signal, frozenset(receivers)
        self._verified: tuple[list, tuple] | None = None  # (the signal's list, its receivers in order)

    def now(self) -> tuple | None:
        current, verified = self.signal.receivers, self._verified
        if verified is not None and current == verified[0]:
            return verified[1]
        # An entry: ((receiver's key, sender's key), the receiver or a weak reference, is async).
        live = tuple(entry[1]() if isinstance(entry[1], weakref.ReferenceType) else entry[1] for entry in current)
        if (len(live) != len(self.receivers) or set(live) != self.receivers
                or any(entry[0][1] != NONE_ID or entry[2] for entry in current)):
            return None
        self._verified = (list(current), live)
        return live


_REQUEST_STARTED = _DjangosReceivers(signals.request_started, (reset_queries, close_old_connections))
_REQUEST_FINISHED = _DjangosReceivers(signals.request_finished, (close_old_connections, close_caches, reset_urlconf))


def _closing_with_djangos_receivers(response):
    """HttpResponseBase.close for `response` (what the server calls at the request's end: the
    resource closers, then request_finished), with request_finished's receivers
    (close_old_connections, close_caches, reset_urlconf) called directly when they are
    Django's own and nothing else listens; otherwise the response's own close()."""

    def close():
        receivers = _REQUEST_FINISHED.now()
        if receivers is None:
            return HttpResponseBase.close(response)
        for closer in response._resource_closers:
            try:
                closer()
            except Exception:  # as Django's: a closer's failure does not stop the others
                pass
        response._resource_closers.clear()
        response.closed = True
        for djangos in receivers:
            djangos(signal=signals.request_finished, sender=response._handler_class)

    return close


class WidgetApiHandler(WidgetApiMiddlewareMixin, WSGIHandler):
    """Django's WSGI handler (request signals, connection handling, error responses) with the
    widget API's middleware."""

    request_class = WidgetApiRequest

    def __call__(self, environ, start_response):
        """WSGIHandler.__call__, with three of its steps cheaper: request_started's receivers
        (reset_queries, close_old_connections: the connection's age and health checks) called
        directly when they are Django's own and nothing else listens (_DjangosReceivers), the
        same for request_finished's when the server closes the response, and the header list
        read from the response's header store in its order (what `response.items()` yields,
        without a Mapping view's two calls per header). With any other receiver of
        request_started, Django's own __call__ serves the request (and of request_finished,
        the response's own close() ends it).
        tests/config/test_widget_handler.py compares the answers with Django's handler's."""
        receivers = _REQUEST_STARTED.now()
        if receivers is None:
            return super().__call__(environ, start_response)
        set_script_prefix(get_script_name(environ))
        for djangos in receivers:
            djangos(signal=signals.request_started, sender=self.__class__, environ=environ)
        request = self.request_class(environ)
        response = self.get_response(request)
        response._handler_class = self.__class__
        if type(response).close is HttpResponseBase.close:
            response.close = _closing_with_djangos_receivers(response)
        status = "%d %s" % (response.status_code, response.reason_phrase)
        headers = list(response.headers._store.values())  # (name, value) as set, in order: ResponseHeaders' store
        if response.cookies:
            headers.extend(("Set-Cookie", cookie.output(header="")) for cookie in response.cookies.values())
        start_response(status, headers)
        if getattr(response, "file_to_stream", None) is not None and environ.get("wsgi.file_wrapper"):
            # As Django's: the server closes the file wrapper, which must close the response.
            response.file_to_stream.close = response.close
            response = environ["wsgi.file_wrapper"](response.file_to_stream, response.block_size)
        return response
