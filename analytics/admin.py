from django.contrib import admin

from accounts.sites import desk_admin_site
from analytics.models import JobStatus
from config.admin import HearthModelAdmin


@admin.register(JobStatus, site=desk_admin_site)
class JobStatusAdmin(HearthModelAdmin):
    list_display = ["job", "last_started_at", "last_finished_at", "run_count", "last_error"]
    search_fields = ["job"]
    readonly_fields = ["job", "last_started_at", "last_finished_at", "last_error", "run_count"]

    # Written by the workers only.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
