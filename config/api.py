"""What every Hearth API endpoint shares: one error shape, body-size limit, throttles, path
converters that never let an out-of-range id reach the database, and the schema pieces.

Every error body is `{"error": {"code": str, "message": str, "fields": {name: [messages]}}}`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import exception_handler as drf_exception_handler

from config import inputs
from config.errors import ApplicationError, error_body
from accounts.middleware import TenantCacheStale
from config.ratelimit import windows_count

# ----------------------------------------------------------------------------- errors

# Codes of ApplicationError that mean "conflicts with what is stored", answered 409.
CONFLICT_CODES = {"already_rated", "already_member", "duplicate_external_id", "slug_taken", "domain_taken", "draft_not_pending"}
# Codes of ApplicationError that mean "the account's plan does not allow it" (accounts/plans.py), answered 402.
PAYMENT_REQUIRED_CODES = {"plan_limit_exceeded"}
# Codes of ApplicationError that mean "your role may not do this with these values", answered 403.
FORBIDDEN_CODES = {"role_not_allowed"}


def _flatten(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {key: [str(item) for item in (value if isinstance(value, list) else [value])] for key, value in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": [str(item) for item in detail]}
    return {}


def api_exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        code = (
            status.HTTP_409_CONFLICT if exc.code in CONFLICT_CODES
            else status.HTTP_402_PAYMENT_REQUIRED if exc.code in PAYMENT_REQUIRED_CODES
            else status.HTTP_403_FORBIDDEN if exc.code in FORBIDDEN_CODES
            else status.HTTP_400_BAD_REQUEST
        )
        return Response(error_body(exc.code, exc.message, exc.fields), status=code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 handler (JSON under /api/) takes it
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first = next(iter(fields.items()), ("", ["invalid input"]))
        message = f"{first[0]}: {first[1][0]}" if first[0] and first[0] != "non_field_errors" else first[1][0]
        response.data = error_body("invalid", message, fields)
    elif isinstance(exc, exceptions.ParseError):
        response.data = error_body("malformed_request", str(exc.detail))
    else:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
        response.data = error_body(code, str(exc.detail))
    return response


def csrf_failure(request, reason=""):
    """CSRF refusals under /api/ in the API's error shape (the APIs themselves are exempt:
    they authenticate by header, not cookie)."""
    if "/api/" in request.path:
        return JsonResponse(error_body("csrf_failed", f"CSRF check failed: {reason}"), status=403)
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason)


@csrf_exempt
def api_not_found(request, exception=None):
    """Unknown URLs under /api/ answer in the API's error shape; pages keep Django's."""
    if "/api/" in request.path:
        return JsonResponse(error_body("not_found", "no such endpoint"), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def api_server_error(request):
    if "/api/" in request.path:
        return JsonResponse(error_body("server_error", "something went wrong on our side"), status=500)
    from django.views.defaults import server_error

    return server_error(request)


# ----------------------------------------------------------------------------- throttles


class ScopedThrottle(SimpleRateThrottle):
    """Rates come from settings.API_THROTTLE_RATES at call time (so tests can lower them);
    counts live in Redis, keyed per tenant. The first throttle of a request counts the request
    for every throttle of its view in one round trip (config/ratelimit.py); the others read
    their result."""

    scope = ""

    def get_rate(self):  # throttles are instantiated per request, so this is read per request
        return settings.API_THROTTLE_RATES[self.scope]

    def identity(self, request) -> str | None:
        raise NotImplementedError

    def get_cache_key(self, request, view):
        identity = self.identity(request)
        return None if identity is None else self.cache_format % {"scope": self.scope, "ident": identity}

    def allow_request(self, request, view):
        key = self.get_cache_key(request, view)
        if key is None or self.rate is None:
            return True
        if key not in request_counts(request):
            try:
                counts_add(request, windows_count(windows_not_counted(request, {key: self.duration, **throttle_windows(request, view)})))
            except TenantCacheStale as stale:  # served again from its routing: counted once
                counts_add(request, stale.counts)
                raise
        counts = request_counts(request)
        count, self.seconds_left = counts[key]
        return count <= self.num_requests

    def wait(self):
        return self.seconds_left


def throttle_windows(request, view) -> dict[str, int]:
    """{counter key: window seconds} of every rate-limited throttle of `view` for this request:
    what one round trip counts. An authentication that reads Redis anyway may count them in its
    own round trip (counts_add); the throttles then only compare."""
    windows = {}
    for throttle in view_throttles(view):
        key = throttle.get_cache_key(request, view) if isinstance(throttle, ScopedThrottle) and throttle.rate else None
        if key is not None:
            windows.setdefault(key, throttle.duration)
    return windows


def view_throttles(view) -> list:
    """The view's throttles for this request (a view instance serves one request), made once:
    the authentication's count and the fast path's compare use the same ones."""
    throttles = view.__dict__.get("_request_throttles")
    if throttles is None:
        throttles = view.__dict__["_request_throttles"] = view.get_throttles()
    return throttles


def request_counts(request) -> dict[str, tuple[int, float]]:
    """The counts this request has added so far: {key: (count, seconds left)}."""
    return getattr(request, "_throttle_counts", None) or {}


def windows_not_counted(request, windows: dict[str, int]) -> dict[str, int]:
    """The windows of `windows` this request has not been counted in yet: a request handed
    from the widget's fast path to DRF, or routed again, is counted once in each."""
    counted = request_counts(request)
    return {key: seconds for key, seconds in windows.items() if key not in counted}


def counts_add(request, counts: dict[str, tuple[int, float]]) -> None:
    request._throttle_counts = {**request_counts(request), **counts}


class ClientAddressThrottle(ScopedThrottle):
    def identity(self, request):
        return self.get_ident(request)


# ----------------------------------------------------------------------------- path converters


class SmallIdConverter:
    """A positive integer that fits the column: a 30-digit id is a 404, not a database error."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return inputs.parse_id(value)  # InvalidInput is a ValueError: the URL does not match

    def to_url(self, value) -> str:
        return str(value)


class NumberConverter(SmallIdConverter):
    """A conversation number (#123): a positive int4."""

    regex = "[0-9]{1,9}"

    def to_python(self, value: str) -> int:
        return inputs.parse_int(value, min_value=1, max_value=2**31 - 1)


# ----------------------------------------------------------------------------- schema


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


ErrorResponseSerializer = inline_serializer("ErrorResponse", {"error": ErrorDetailSerializer()})


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    descriptions = {
        400: "Invalid input: malformed JSON, wrong types, missing or bad fields",
        401: "Missing, invalid, expired or revoked credentials",
        402: "Over a limit of the account's plan (code plan_limit_exceeded)",
        403: "Not allowed (origin, role or conversation scope)",
        404: "No such resource for these credentials",
        409: "Conflicts with what is stored",
        413: "Request body too large",
        415: "Unsupported media type",
        429: "Too many requests; see Retry-After",
    }
    return {code: OpenApiResponse(ErrorResponseSerializer, description=descriptions[code]) for code in statuses}
