from config.api import ClientAddressThrottle, ScopedThrottle


class WidgetSessionThrottle(ScopedThrottle):
    scope = "widget_session"

    def identity(self, request):
        return str(request.auth.pk) if request.auth is not None else None


class WidgetAddressThrottle(ClientAddressThrottle):
    scope = "widget_address"


class WidgetSessionCreateThrottle(ClientAddressThrottle):
    scope = "widget_session_create"


class ApiUserThrottle(ScopedThrottle):
    scope = "api_user"

    def identity(self, request):
        return str(request.user.pk) if getattr(request.user, "pk", None) else None
