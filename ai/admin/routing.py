"""Routing rules in the desk's admin: owners and admins write them, managers read them
(accounts.access), listed in the order they are evaluated (ai/routing.py)."""

from __future__ import annotations

from django.contrib import admin

from accounts.sites import desk_admin_site
from ai.models import RoutingRule
from config.admin import HearthModelAdmin


@admin.register(RoutingRule, site=desk_admin_site)
class RoutingRuleAdmin(HearthModelAdmin):
    list_display = ["position", "name", "is_active", "category", "priority", "language", "inbox", "team", "set_priority", "add_label"]
    list_display_links = ["name"]
    list_editable = ["position", "is_active"]
    list_filter = ["is_active", "team"]
    list_select_related = ["category", "inbox", "team", "add_label"]
    search_fields = ["name"]
    ordering = ["position", "id"]
    fieldsets = [
        (None, {"fields": ["name", "position", "is_active"]}),
        ("When (blank: any)", {
            "fields": ["category", "priority", "language", "inbox"],
            "description": "Rules are tried in position order and the first whose conditions all hold acts. "
            "A category condition holds only at or above the AI settings' routing confidence threshold.",
        }),
        ("Then", {"fields": ["team", "set_priority", "add_label"]}),
    ]
