"""The AI ledger (every provider call, cache hits included) with its totals, and the response
cache, both read-only. Managers and up (accounts/access.py gives agents nothing in `ai`): the
ledger holds costs and rows of every team's conversations, and rows of no conversation at all."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin
from django.db.models import Count, Q, Sum

from accounts.sites import desk_admin_site
from ai.budget import budget_warning_show
from ai.models import AICall, CachedResponse
from config.admin import ReadOnlyModelAdmin


def ai_call_totals(*, queryset) -> dict:
    """Totals of a (filtered) set of ledger rows: one aggregate query."""
    totals = queryset.order_by().aggregate(
        calls=Count("pk"), hits=Count("pk", filter=Q(cache_hit=True)),
        input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"), cost=Sum("cost"), cost_saved=Sum("cost_saved"),
    )
    calls = totals["calls"]
    return {
        "calls": calls,
        "tokens": (totals["input_tokens"] or 0) + (totals["output_tokens"] or 0),
        "cost": totals["cost"] or Decimal("0"),
        "cost_saved": totals["cost_saved"] or Decimal("0"),
        "hit_rate": (totals["hits"] / calls * 100) if calls else 0.0,
    }



@admin.register(AICall, site=desk_admin_site)
class AICallAdmin(ReadOnlyModelAdmin):
    conversation_path = "conversation"
    change_list_template = "admin/ai/aicall/change_list.html"
    list_display = [
        "created_at", "operation", "provider", "model", "status", "cache_hit", "input_tokens", "output_tokens",
        "tokens_estimated", "cost", "cost_saved", "latency", "conversation",
    ]
    list_filter = ["operation", "provider", "model", "status", "cache_hit", "created_at"]
    list_select_related = ["conversation"]
    show_full_result_count = False

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj):
        return f"{obj.latency_ms:.0f} ms"

    def changelist_view(self, request, extra_context=None):
        if self.has_view_permission(request):
            budget_warning_show(request)
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            response.context_data["ledger_totals"] = ai_call_totals(queryset=changelist.queryset)
        return response


@admin.register(CachedResponse, site=desk_admin_site)
class CachedResponseAdmin(ReadOnlyModelAdmin):
    list_display = ["key_short", "operation", "provider", "model", "hit_count", "last_hit_at", "cost", "created_at", "expires_at"]
    list_filter = ["operation", "provider"]
    readonly_fields = ["key", "operation", "provider", "model", "response", "cost", "input_tokens", "output_tokens", "hit_count", "last_hit_at", "created_at", "expires_at"]

    @admin.display(description="key")
    def key_short(self, obj):
        return obj.key[:12]
