"""The API's JSON body parser, named by DRF's settings (DEFAULT_PARSER_CLASSES).

Its own module, importing nothing of DRF's views: DRF resolves its settings' classes while
`rest_framework.views` loads, so a parser living in a module that imports the views (config.api)
made a circular import whenever that module happened to load first (a fresh process's first
bad request, `manage.py check`'s CSRF view lookup).
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser

from config import inputs


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "request body too large"


class LimitedJSONParser(JSONParser):
    """JSON bodies up to API_MAX_BODY_BYTES (DRF streams bodies past Django's own limit),
    decoded by config.inputs: nesting, NUL, NaN and invalid Unicode are a 400, never a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(f"request body exceeds {limit} bytes")
        if not raw.strip():
            return {}
        try:
            data = inputs.json_load(raw, max_bytes=limit)
        except inputs.InvalidInput as error:
            raise exceptions.ParseError(error.message) from error
        if not isinstance(data, dict):
            raise exceptions.ParseError("the body must be a JSON object")
        return data
