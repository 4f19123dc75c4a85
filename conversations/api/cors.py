"""django-cors-headers asks this whether a cross-origin widget request may proceed: yes when
the origin is listed by one of the tenant's inboxes. The per-inbox rule (a session of inbox X
only from X's origins) is enforced by WidgetSessionAuthentication."""

from corsheaders.signals import check_request_enabled
from django.db import connection
from django_tenants.utils import get_public_schema_name


def widget_origin_listed(sender, request, **kwargs) -> bool:
    from conversations.models import Inbox

    origin = request.headers.get("Origin")
    if not origin or connection.schema_name == get_public_schema_name():
        return False
    return Inbox.objects.filter(allowed_origins__contains=[origin]).exists()


check_request_enabled.connect(widget_origin_listed, dispatch_uid="hearth_widget_cors")
