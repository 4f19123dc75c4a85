"""The AI's drafts (read-only history of what it proposed and what agents did with it; agents
see their teams' conversations only) and the knowledge gaps (questions no article answered,
counted per category, for managers and up: accounts/access.py gives agents nothing here)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.sites import desk_admin_site
from ai import services
from ai.models import Draft, KnowledgeGap
from config.admin import HearthModelAdmin, ReadOnlyModelAdmin


@admin.register(Draft, site=desk_admin_site)
class DraftAdmin(ReadOnlyModelAdmin):
    conversation_path = "conversation"
    list_display = ["created_at", "conversation", "status", "origin", "confidence_display", "no_source", "provider", "model", "similarity", "used_by"]
    list_filter = ["status", "origin", "no_source", "provider", "created_at"]
    list_select_related = ["conversation", "used_by"]
    show_full_result_count = False
    fields = [
        "conversation", "message", "origin", "status", "content", "confidence", "sources_display", "no_source",
        "citations_removed", "reasoning", "language", "provider", "model", "latency_ms", "sent_message", "used_by", "used_at",
        "similarity", "rejected_reason", "created_at",
    ]
    readonly_fields = fields

    @admin.display(description="confidence", ordering="confidence")
    def confidence_display(self, obj):
        return f"{obj.confidence:.2f}"

    @admin.display(description="sources")
    def sources_display(self, obj):
        if not obj.sources:
            return "—"
        return format_html("<ol>{}</ol>", format_html_join(
            "", "<li>{} › {} ({})</li>",
            ((s.get("title", ""), s.get("heading_path", ""), f"{s.get('similarity', 0):.2f}") for s in obj.sources),
        ))


class ResolvedFilter(admin.SimpleListFilter):
    title = "resolved"
    parameter_name = "resolved"

    def lookups(self, request, model_admin):
        return [("no", "Open"), ("yes", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class CategoryFilter(admin.SimpleListFilter):
    title = "category"
    parameter_name = "category"

    def lookups(self, request, model_admin):
        categories = model_admin.get_queryset(request).order_by("category").values_list("category", flat=True).distinct()
        return [(category or "-", category or "out of scope") for category in categories]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(category="" if value == "-" else value)


@admin.register(KnowledgeGap, site=desk_admin_site)
class KnowledgeGapAdmin(HearthModelAdmin):
    conversation_path = "conversation"
    change_list_template = "admin/ai/knowledgegap/change_list.html"
    list_display = ["question_display", "category_display", "best_similarity_display", "conversation", "created_at", "resolved_at"]
    list_filter = [CategoryFilter, ResolvedFilter, "created_at"]
    list_select_related = ["conversation"]
    search_fields = ["question"]
    actions = ["mark_resolved"]
    fields = ["category", "question", "conversation", "message", "draft", "best_similarity", "created_at", "resolved_at"]
    readonly_fields = fields
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # gaps are what customers asked

    def has_delete_permission(self, request, obj=None):
        return False  # resolve instead: the count per category is the record

    @admin.display(description="question")
    def question_display(self, obj):
        return obj.question if len(obj.question) <= 90 else obj.question[:90] + "…"

    @admin.display(description="category", ordering="category")
    def category_display(self, obj):
        return obj.category or format_html("<em>{}</em>", "out of scope")

    @admin.display(description="closest article", ordering="best_similarity")
    def best_similarity_display(self, obj):
        return "—" if obj.best_similarity is None else f"{obj.best_similarity:.2f}"

    @admin.action(description="Mark resolved (an article answers them now)", permissions=["change"])
    def mark_resolved(self, request, queryset):
        count = services.knowledge_gaps_resolve(gaps=list(queryset))
        self.message_user(request, f"{count} gap(s) marked resolved.", messages.SUCCESS)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if hasattr(response, "context_data") and self.has_view_permission(request):
            since = timezone.now() - timedelta(days=30)
            response.context_data["gaps_by_category"] = list(
                self.get_queryset(request).filter(resolved_at__isnull=True).order_by().values("category")
                .annotate(open=Count("pk"), recent=Count("pk", filter=Q(created_at__gte=since)), latest=Max("created_at"))
                .order_by("-open", "category")
            )
        return response
