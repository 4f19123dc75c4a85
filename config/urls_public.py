"""URLs of the public host (the platform): operators' admin and the health probe."""

from django.urls import path

from accounts.admin import platform_admin_site
from config.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", platform_admin_site.urls),
]
