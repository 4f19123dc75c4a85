"""django-cors-headers asks this whether a cross-origin request may proceed: yes only for the
widget API's paths (CORS_URLS_REGEX) and only when the origin is listed by one of the
tenant's inboxes. django-cors-headers ORs this signal with CORS_URLS_REGEX, so the path is
checked here too: an inbox's origin must not open the admin or the agents' API to scripts.
The per-inbox rule (a session of inbox X only from X's origins) is enforced by
WidgetSessionAuthentication."""

import functools
import re

from corsheaders.signals import check_request_enabled
from django.conf import settings
from django.db import connection
from django_tenants.utils import get_public_schema_name


def is_widget_api_path(path_info: str) -> bool:
    return _compiled(settings.CORS_URLS_REGEX).match(path_info) is not None


@functools.lru_cache(maxsize=8)
def _compiled(pattern: str) -> re.Pattern:
    # Every widget request asks several times (routing, tenant routing, CORS): compiled once.
    return re.compile(pattern)


def widget_origin_listed(sender, request, **kwargs) -> bool:
    from conversations.models import Inbox

    origin = request.headers.get("Origin")
    if not origin or connection.schema_name == get_public_schema_name() or not is_widget_api_path(request.path_info):
        return False
    # The inbox of the request's widget session (conversations.api.authentication) is one of
    # this tenant's inboxes: when it lists the origin, no query needs to ask the others.
    inbox = getattr(request, "widget_inbox", None)
    if inbox is not None and origin in inbox.allowed_origins:
        return True
    return Inbox.objects.filter(allowed_origins__contains=[origin]).exists()


check_request_enabled.connect(widget_origin_listed, dispatch_uid="hearth_widget_cors")
