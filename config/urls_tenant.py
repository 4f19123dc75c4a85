"""URLs served on a tenant, by host (`demo.localhost`) or path prefix (`/t/demo/`)."""

from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.admin import desk_admin_site
from accounts.views import invitation_accept
from conversations.api.urls import agent_urlpatterns, widget_urlpatterns
from config.api import api_not_found
from conversations.views import demo_widget



class SchemaView(SpectacularAPIView):
    """The OpenAPI schema. Hearth's API has one version, so `?version=` is ignored: drf-spectacular
    would put it in the Content-Disposition header, where a CR/LF is a 500, not an injection."""

    def _get_version_parameter(self, request):
        return None


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", desk_admin_site.urls),
    path("api/widget/v1/", include(widget_urlpatterns)),
    path("api/v1/", include(agent_urlpatterns)),
    path("api/v1/reports/", include("analytics.urls")),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("widget/demo/", demo_widget, name="widget-demo"),
    path("invite/<str:token>/", invitation_accept, name="invitation-accept"),
    # Unknown API URLs answer in the API's error shape, with DEBUG on or off.
    re_path(r"^api/", api_not_found),
]

handler404 = "config.api.api_not_found"
handler500 = "config.api.api_server_error"
