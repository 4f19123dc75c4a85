"""Refuse, before any view or query sees it, input that PostgreSQL cannot take.

- A NUL character (`%00`) in the path, the query string, a form field or a header value is
  never legitimate, and PostgreSQL raises on it wherever it reaches a text parameter.
- The admin's ids (the object in the URL, the rows an action is applied to, the row a foreign
  key field names) reach queries unparsed: `²` passes `str.isdigit()` and then fails `int()`,
  `1'--` fails a bigint, a malformed UUID fails a uuid column. They are parsed here against
  the model's primary key (config.inputs), so every admin page, including ones added later,
  answers 404 or 400 instead of 500.
JSON bodies are checked by the API's parser (config.inputs.json_load), which also rejects the
escaped form `\\u0000`.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import DisallowedHost, ValidationError
from django.db import models
from django.http import Http404, HttpResponseBadRequest, JsonResponse

from config import inputs
from config.errors import error_body

FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def is_api_path(path: str) -> bool:
    return "/api/" in path


def answers_json(path: str) -> bool:
    """The APIs and the admin's autocomplete endpoint speak JSON, so their refusals do too."""
    return is_api_path(path) or path.endswith("/admin/autocomplete/")


def _has_nul(querydict) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in querydict.lists())


def _refusal(request, where: str, message: str | None = None):
    message = message or f"NUL characters are not allowed in the {where}"
    if answers_json(request.path):
        return JsonResponse(error_body("invalid", message, {where.replace(" ", "_"): [message]}), status=400)
    return HttpResponseBadRequest(f"Bad request: {message}.", content_type="text/plain; charset=utf-8")


class InputGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.process_request(request) or self.get_response(request)

    def process_request(self, request):
        """The refusal of a request with NUL in it or a Host outside ALLOWED_HOSTS, or None.
        (Also the widget API's plain path's rule: config/widget_handler.py.)"""
        where = self._where_nul(request)
        if where is not None:
            return _refusal(request, where)
        try:
            # Every later layer (tenant routing first) reads the host; a host outside
            # ALLOWED_HOSTS is refused here once, in the API's error shape under /api/.
            request.get_host()
        except DisallowedHost:
            return _refusal(request, "Host header", "the Host header names no site served here")
        return None

    @staticmethod
    def _where_nul(request) -> str | None:
        if "\x00" in request.path:
            return "path"
        query = request.META.get("QUERY_STRING", "")
        if ("\x00" in query or "%00" in query) and _has_nul(request.GET):
            return "query string"
        for key, value in request.META.items():  # a plain loop: no call per header on every request
            if key[:5] == "HTTP_" and "\x00" in str(value):
                return "headers"
        # The APIs take JSON only (415 for forms), and reading a form here would leave DRF no body.
        is_form = request.method == "POST" and request.content_type in FORM_CONTENT_TYPES and not is_api_path(request.path)
        if is_form and _has_nul(request.POST):
            return "form fields"
        return None

    def process_view(self, request, view_func, view_args, view_kwargs):
        model_admin = getattr(view_func, "model_admin", None)
        if model_admin is None:
            return None
        model = model_admin.model
        object_id = view_kwargs.get("object_id")
        if object_id is not None and not is_primary_key(model, object_id):
            raise Http404("No such object")
        if request.method == "POST":
            bad = _first_bad_id(model, request.POST)
            if bad is not None:
                return _refusal(request, "form fields", f"{bad} must name an existing row by its id")
        return None


def is_primary_key(model, value: str) -> bool:
    """Could `value` be a primary key of `model` (its type and range, not whether it exists)?"""
    field = model._meta.pk
    while field.remote_field is not None:  # a one-to-one primary key: its target's type
        field = field.target_field
    if isinstance(field, (models.AutoField, models.IntegerField)):
        return inputs.int_or_none(value, min_value=-inputs.MAX_ID) is not None
    if isinstance(field, models.UUIDField):
        try:
            uuid.UUID(value)
        except ValueError:
            return False
        return True
    try:
        field.to_python(value)
    except ValidationError:
        return False
    return inputs.is_storable(value)


def _first_bad_id(model, form) -> str | None:
    """The first posted field that should hold ids and does not: the rows an action is applied
    to, and the model's own foreign keys and many-to-many fields."""
    if any(value and not is_primary_key(model, value) for value in form.getlist("_selected_action")):
        return "_selected_action"
    for field in model._meta.get_fields():
        if (field.many_to_one or field.many_to_many) and field.concrete and field.name in form:
            target = field.related_model
            if any(value and not is_primary_key(target, value) for value in form.getlist(field.name)):
                return field.name
    return None
