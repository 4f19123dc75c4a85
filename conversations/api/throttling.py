from config.api import ClientAddressThrottle, ScopedThrottle


class WidgetSessionThrottle(ScopedThrottle):
    scope = "widget_session"

    def identity(self, request):
        # The session the token names (its signature checked): set by WidgetSessionAuthentication
        # before it reads the session, so this throttle can be counted in that round trip.
        return getattr(request, "widget_session_id", None)


class WidgetAddressThrottle(ClientAddressThrottle):
    scope = "widget_address"


class WidgetSessionCreateThrottle(ClientAddressThrottle):
    scope = "widget_session_create"


class ApiUserThrottle(ScopedThrottle):
    scope = "api_user"

    def identity(self, request):
        return str(request.user.pk) if getattr(request.user, "pk", None) else None
