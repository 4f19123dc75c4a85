"""Find the tenant of a request and switch the connection to its schema.

Two ways in, in this order:
1. By host name: a `Domain` row (`demo.localhost`, `support.acme.com`) names the account.
2. By path prefix, for setups without DNS: `/t/<slug>/...` on any host that is not a
   tenant's own. The prefix is moved from `path_info` into the script prefix, so URL
   resolution sees `/admin/...` and every `reverse()` produces `/t/<slug>/admin/...`, the
   way an application mounted under a SCRIPT_NAME behaves.
Anything else is the public schema: the platform admin and /healthz.

Host names are compared in their normal form (lower case, no trailing dot), so
`ALPHA.localhost` and `alpha.localhost.` reach alpha, never silently the public schema.
Each tenant request runs in the account's time zone (`Account.timezone`): the admin shows
local times; the public schema runs in UTC.

`AccountSuspendedMiddleware` (after CORS, so a widget on a customer's site can read the
answer) refuses every request to a suspended account (accounts/lifecycle.py).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import zoneinfo

import redis
from django.db import connection
from django.db.models.base import ModelState
from django.http import Http404, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.template.loader import render_to_string
from django.urls import set_script_prefix
from django.utils import timezone
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import get_public_schema_name, get_tenant_domain_model, get_tenant_model

from config.errors import error_body
from config.middleware import is_api_path
from config.redis import redis_client, round_trip
from conversations.api.cors import is_widget_api_path

logger = logging.getLogger(__name__)
TENANT_PATH_PREFIX = re.compile(r"^/t/(?P<slug>[^/]+)(?P<rest>/.*)?$", re.DOTALL)
# Every request needs its tenant, so each process remembers host -> account and slug ->
# account for a short while: two queries (and two search_path round trips) fewer per request.
# A changed domain or a new account is seen within TENANT_CACHE_SECONDS. A change that must
# be seen at once (a suspension) bumps a generation number in Redis (tenant_cache_invalidate);
# each request reads it (one GET) and a process that sees a new number forgets everything.
# A widget request with a session token reads it later, in its one round trip for the session
# and the throttles, and is routed again if it was routed on accounts now stale (below).
TENANT_CACHE_SECONDS = 30
TENANT_CACHE_GENERATION_KEY = "hearth:tenant-cache-generation"
_tenant_cache: dict[tuple[str, str], tuple[float, object]] = {}
_tenant_cache_generation: list[str | None] = [None]  # the number this process last saw (a cell)


def _remembered(kind: str, key: str, load):
    now = time.monotonic()
    hit = _tenant_cache.get((kind, key))
    if hit is not None and hit[0] > now:
        return _copy_of(hit[1])  # a copy: the middleware sets per-request attributes on it
    value = load()
    if len(_tenant_cache) > 10_000:
        _tenant_cache.clear()
    _tenant_cache[(kind, key)] = (now + TENANT_CACHE_SECONDS, value)
    return _copy_of(value)


def _copy_of(account):
    """copy.copy(account) as Model.__getstate__/__setstate__ make it (its own ModelState and
    fields cache), without copy's protocol: a dozen calls fewer on every request."""
    if account is None:
        return None
    clone = object.__new__(type(account))
    clone.__dict__.update(account.__dict__)
    state = clone._state = object.__new__(ModelState)
    state.__dict__.update(account._state.__dict__)
    state.fields_cache = account._state.fields_cache.copy()
    return clone


def tenant_cache_clear() -> None:
    _tenant_cache.clear()


def tenant_cache_invalidate() -> None:
    """Every process forgets its cached accounts before its next request (this one at once)."""
    tenant_cache_clear()
    try:
        redis_client().incr(TENANT_CACHE_GENERATION_KEY)
    except redis.RedisError:
        # The change is committed; other processes see it when their entries expire.
        logger.warning("could not reach Redis: other processes see the account change within %s s", TENANT_CACHE_SECONDS)


def _tenant_cache_sync() -> None:
    try:
        # Every request's GET, so without redis-py's per-command machinery (config.redis.round_trip).
        generation = round_trip(redis_client(), [("GET", TENANT_CACHE_GENERATION_KEY)])[0]
    except redis.RedisError as error:
        generation = error
    _tenant_cache_adopt(generation)


def _generation_of(reply) -> str | None:
    """A GET's reply as the generation: "0" before the first change, None when Redis could not
    say (then nobody knows whether a change was missed: the database decides)."""
    if isinstance(reply, Exception):
        return None
    if isinstance(reply, bytes):
        return reply.decode()
    return reply or "0"


def _tenant_cache_adopt(reply) -> str | None:
    generation = _generation_of(reply)
    if generation is None or generation != _tenant_cache_generation[0]:
        _tenant_cache.clear()
        _tenant_cache_generation[0] = generation
    return generation


# ----------------------------------------------------------------------------- the deferred check
# The widget's poll and POST (views whose first authentication is the widget session's) already
# make one Redis round trip before the view runs: the session cache's MGET and the throttles'
# count (config.ratelimit.windows_count_with). Their generation GET rides in it instead of
# costing a round trip of its own (5-8% of the request). They are routed on the accounts this
# process remembers, and the round trip says whether those were still current:
# - yes: the request goes on (nearly always);
# - no (another process suspended or resumed an account): the round trip raises
#   TenantCacheStale before the view has done anything, and TenantRoutingMiddleware routes the
#   request again from the database with the generation read first, and serves it from the
#   start. So the request that learns of the change is itself answered as a fresh one would be.
#   The first pass counted it in the throttles: a request counted twice, once per change and
#   process.
# A deferred request that never reaches that round trip (a forged token's 401, a 404, the
# suspended account's 403) reads the generation after its answer and is served again if it was
# stale: nothing ran that a second pass would repeat (a view that could write reads the
# generation in process_view before it runs, unless the widget session's authentication
# carries it).


class TenantCacheStale(Exception):
    """The request was routed on remembered accounts that a change has made stale: route it
    again. Raised before the view's own work; TenantRoutingMiddleware answers it. `counts`:
    the throttle windows its round trip counted (kept on the request: counted once)."""

    def __init__(self, *args, counts: dict | None = None):
        super().__init__(*args)
        self.counts = counts if counts is not None else {}


class _DeferredCheck(threading.local):
    # The generation this thread's request was routed under, while its check is still to come;
    # None when there is none (the request read it first, or it already arrived).
    routed_under: str | None = None


_deferred = _DeferredCheck()


def tenant_cache_generation_command() -> tuple | None:
    """The GET to send in this request's round trip, or None: the request routed under the
    process's remembered accounts and has not checked the generation yet."""
    return ("GET", TENANT_CACHE_GENERATION_KEY) if _deferred.routed_under is not None else None


def tenant_cache_generation_arrived(reply) -> None:
    """The reply to tenant_cache_generation_command()'s GET (or the error that stopped the
    round trip): raises TenantCacheStale if the request was routed on stale accounts."""
    routed_under, _deferred.routed_under = _deferred.routed_under, None
    generation = _tenant_cache_adopt(reply)
    if generation is None or generation != routed_under:
        raise TenantCacheStale(f"tenant cache generation {routed_under} -> {generation}")


def _is_deferrable(request) -> bool:
    """A widget API request with a session token, in a process that knows a generation."""
    if _tenant_cache_generation[0] is None:
        return False
    scheme = request.META.get("HTTP_AUTHORIZATION", "")[:7]
    return scheme.lower() == "bearer " and is_widget_api_path(request.path_info)


_checks_itself: dict = {}  # view function -> bool: a handful of views per process


def _checks_the_generation_itself(view_func) -> bool:
    """A DRF view whose first authentication is the widget session's: with a session token,
    its round trip (or its refusal, before any work) comes before the view's own code."""
    known = _checks_itself.get(view_func)
    if known is None:
        from conversations.api.authentication import WidgetSessionAuthentication

        authentications = getattr(getattr(view_func, "cls", None), "authentication_classes", None)
        known = _checks_itself[view_func] = bool(authentications) and authentications[0] is WidgetSessionAuthentication
    return known


def normal_hostname(hostname: str) -> str:
    """DNS names are case-insensitive and `name.` is the same name as `name`."""
    return hostname.lower().rstrip(".")


def _activate_time_zone(tenant) -> None:
    # Activated for every request (a worker thread serves many tenants), so one tenant's zone
    # never lingers into the next request.
    name = getattr(tenant, "timezone", "") if tenant.schema_name != get_public_schema_name() else ""
    if not name:
        timezone.deactivate()
        return
    try:
        timezone.activate(zoneinfo.ZoneInfo(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        timezone.deactivate()  # a zone removed from the system's database: UTC rather than a 500


class TenantRoutingMiddleware(TenantMainMiddleware):
    def __call__(self, request):
        path_info = request.path_info
        try:
            response = super().__call__(request)
            response = self.process_answer(request, response)
            if not getattr(request, "tenant_reroute", False):
                return response
            # Routed on stale accounts: again from the start, the generation read first. The
            # first answer is dropped unsent; nothing before the view's own work wrote anything.
            routing_forget(request, path_info)
            return self.process_request(request, defer=False) or self.get_response(request)
        finally:
            routing_done()

    def process_answer(self, request, response):
        """After the answer: a deferred check that no round trip carried is made now (it may
        set `request.tenant_reroute`: the answer is then dropped and the request served again)."""
        if _deferred.routed_under is not None:
            self._check_now(request)
        return response

    def process_request(self, request, *, defer: bool = True):
        connection.set_schema_to_public()
        _deferred.routed_under = None
        if defer and _is_deferrable(request):
            _deferred.routed_under = _tenant_cache_generation[0]
        else:
            _tenant_cache_sync()
        hostname = self.hostname_from_request(request)
        public_schema = get_public_schema_name()

        tenant = self._tenant_for_host(hostname)
        if tenant is None or tenant.schema_name == public_schema:
            match = TENANT_PATH_PREFIX.match(request.path_info)
            if match:
                return self._route_by_path_prefix(request, match, hostname)
            tenant = tenant or self._public_tenant()

        set_script_prefix(self._script_name(request) + "/")  # the deployment's own
        self._serve(request, tenant, hostname)
        return None

    def process_view(self, request, view_func, view_args, view_kwargs):
        if _deferred.routed_under is None or _checks_the_generation_itself(view_func):
            return None
        return self._check_now(request)  # a view that could write without that round trip: first

    def _check_now(self, request) -> HttpResponse | None:
        try:
            reply = round_trip(redis_client(), [("GET", TENANT_CACHE_GENERATION_KEY)])[0]
        except redis.RedisError as error:
            reply = error
        try:
            tenant_cache_generation_arrived(reply)
        except TenantCacheStale as error:
            return self._reroute_needed(request, error)
        return None

    def process_exception(self, request, exception):
        if isinstance(exception, TenantCacheStale):
            return self._reroute_needed(request, exception)
        return None

    @staticmethod
    def _reroute_needed(request, why) -> HttpResponse:
        logger.info("routing a request again: %s", why)
        request.tenant_reroute = True
        return HttpResponse(status=503)  # never sent: __call__ serves the request again

    def _serve(self, request, tenant, hostname: str) -> None:
        tenant.domain_url = hostname
        request.tenant = tenant
        routed_counts_keep(request)
        connection.set_tenant(tenant)
        _activate_time_zone(tenant)
        self.setup_url_routing(request)

    def hostname_from_request(self, request) -> str:
        return normal_hostname(super().hostname_from_request(request))

    @staticmethod
    def _script_name(request) -> str:
        return (request.META.get("SCRIPT_NAME") or "").rstrip("/")

    @staticmethod
    def _tenant_for_host(hostname: str):
        def load():
            domain = get_tenant_domain_model().objects.select_related("tenant").filter(domain=hostname).first()
            return domain.tenant if domain else None

        return _remembered("host", hostname, load)

    @staticmethod
    def _public_tenant():
        account_model = get_tenant_model()
        public = account_model.objects.filter(schema_name=get_public_schema_name()).first()
        # Before `seed_demo` made the platform's row, serve the public schema without one.
        return public or account_model(schema_name=get_public_schema_name(), name="Hearth platform")

    def _route_by_path_prefix(self, request, match, hostname):
        slug = match["slug"]
        tenant = _remembered(
            "slug", slug, lambda: get_tenant_model().objects.exclude(schema_name=get_public_schema_name()).filter(schema_name=slug).first()
        )
        if tenant is None or match["rest"] is None:
            set_script_prefix(self._script_name(request) + "/")  # the deployment's own: not routed
            if tenant is None:
                raise Http404(f"No account {slug!r}")
            return HttpResponsePermanentRedirect(f"{request.path}/")
        request.path_info = match["rest"]
        set_script_prefix(f"{self._script_name(request)}/t/{slug}/")
        self._serve(request, tenant, hostname)
        return None


def routing_forget(request, path_info: str) -> None:
    """Undo a request's routing (to route it again): its path as it came, no tenant. The
    throttle counts it made stay, unless it is routed to another account (below)."""
    request.tenant_reroute = False
    request.path_info = path_info
    tenant = request.__dict__.pop("tenant", None)
    request.__dict__.pop("urlconf", None)
    request.counted_under = getattr(tenant, "schema_name", None)
    _deferred.routed_under = None


def routing_done() -> None:
    """The end of a request's routing: nothing of it reaches the thread's next work."""
    _deferred.routed_under = None


def routed_counts_keep(request) -> None:
    """A request routed again keeps the throttle counts it made only if it is still the same
    account's: another account's windows are its own (the keys carry the schema)."""
    counted_under = request.__dict__.pop("counted_under", None)
    if counted_under is not None and counted_under != getattr(getattr(request, "tenant", None), "schema_name", None):
        request._throttle_counts = None


class AccountSuspendedMiddleware:
    """A suspended account's hosts answer 403 to everything: the desk's pages (login included,
    and sessions already open) with a page saying so, its APIs with the error shape and the
    code `account_suspended`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.process_request(request) or self.get_response(request)

    @staticmethod
    def process_request(request):
        """The suspended account's refusal, or None. (Also the widget API's plain path's rule.)"""
        tenant = getattr(request, "tenant", None)
        if tenant is not None and getattr(tenant, "is_suspended", False):
            return account_suspended_response(request)
        return None


SUSPENDED_MESSAGE = "This account is suspended."


def account_suspended_response(request) -> HttpResponse:
    if is_api_path(request.path_info):
        return JsonResponse(error_body("account_suspended", SUSPENDED_MESSAGE), status=403)
    # A page of its own, with no static files: those are behind this middleware too.
    html = render_to_string("accounts/suspended.html", {"account_name": request.tenant.name, "message": SUSPENDED_MESSAGE})
    return HttpResponse(html, status=403)
