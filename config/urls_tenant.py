"""URLs served on a tenant, by host (`demo.localhost`) or path prefix (`/t/demo/`)."""

from django.urls import path
from django.views.generic import RedirectView

from accounts.admin import desk_admin_site

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", desk_admin_site.urls),
]
