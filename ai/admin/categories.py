"""The tenant's categories, training examples, the AI's classification history and the agents'
corrections, in the desk's admin.

Who may do what is accounts/access.py: owners and admins edit categories, everyone else reads
them; managers and up manage examples; agents read the classifications and corrections of
their teams' conversations only (conversation_path). Writes go through ai/services.py, so an
example added here is hashed like an imported or corrected one.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Count
from django.http import Http404
from django.utils.html import format_html
from django.urls import reverse

from accounts.sites import desk_admin_site
from ai import selectors, services
from ai.models import Category, Classification, Correction, TrainingExample
from config.admin import HearthModelAdmin, ReadOnlyModelAdmin


class ReadOnlyHistory(ReadOnlyModelAdmin):
    """A record of what happened. A row the user may not see answers 404, not Django's
    redirect to the index ("perhaps it was deleted?")."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404("No such record among the conversations you can see.")
        return super().change_view(request, object_id, form_url, extra_context)


def _conversation_link(conversation):
    url = reverse("admin:conversations_conversation_change", args=[conversation.pk])
    return format_html('<a href="{}">#{}</a>', url, conversation.number)


# ----------------------------------------------------------------------------- categories


@admin.register(Category, site=desk_admin_site)
class CategoryAdmin(HearthModelAdmin):
    list_display = ["name", "description", "is_active", "example_count"]
    list_filter = ["is_active"]
    search_fields = ["name", "description"]
    actions = ["deactivate", "activate"]
    ordering = ["name"]  # the example count's GROUP BY drops the model's own ordering

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(example_total=Count("examples"))

    def get_readonly_fields(self, request, obj=None):
        # Conversations and trained models hold the name itself: a renamed category would
        # leave them under a name that exists nowhere. Add a new one, deactivate this one.
        return ["name", "created_at"] if obj is not None else ["created_at"]

    @admin.display(description="examples", ordering="example_total")
    def example_count(self, obj):
        return obj.example_total

    def get_deleted_objects(self, objs, request):
        """Deleting is for a category made by mistake; one with examples, corrections or
        conversations is protected, with the reason and the way out (deactivate)."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        blockers = [reason for category in objs for reason in selectors.category_delete_blockers(category=category)]
        return deleted, counts, perms_needed, [*protected, *blockers]

    @admin.action(description="Deactivate (agents stop seeing it; examples and history stay)", permissions=["change"])
    def deactivate(self, request, queryset):
        changed = services.categories_active_set(categories=list(queryset), is_active=False)
        self.message_user(request, f"Deactivated {changed} category(ies).", messages.SUCCESS)

    @admin.action(description="Activate", permissions=["change"])
    def activate(self, request, queryset):
        changed = services.categories_active_set(categories=list(queryset), is_active=True)
        self.message_user(request, f"Activated {changed} category(ies).", messages.SUCCESS)


# ----------------------------------------------------------------------------- training examples


class TrainingExampleForm(forms.ModelForm):
    class Meta:
        model = TrainingExample
        fields = ["category", "text"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "category" in self.fields:
            self.fields["category"].queryset = selectors.categories_active()

    def clean(self):
        cleaned = super().clean()
        category, text = cleaned.get("category"), cleaned.get("text")
        if category is not None and text:
            if not services.example_text_normalise(text):
                self.add_error("text", "Enter some words.")
            elif selectors.training_example_exists(category=category, text=text, exclude=self.instance.pk):
                self.add_error("text", f"“{category}” already has this example.")
        return cleaned


@admin.register(TrainingExample, site=desk_admin_site)
class TrainingExampleAdmin(HearthModelAdmin):
    # Examples made by corrections point at the customer's message; managers and up (who see
    # every conversation) are the only ones given access (accounts/access.py).
    conversation_path = "message__conversation"
    form = TrainingExampleForm
    list_display = ["text_start", "category", "source", "created_by", "created_at"]
    list_filter = ["category", "source"]
    list_select_related = ["category", "created_by"]
    search_fields = ["text"]
    readonly_fields = ["source", "message", "created_by", "embedding_model", "created_at"]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("embedding")  # 384 numbers a row, never shown

    @admin.display(description="text")
    def text_start(self, obj):
        return (obj.text[:100] + "…") if len(obj.text) > 100 else obj.text

    def get_fields(self, request, obj=None):
        return ["category", "text"] if obj is None else ["category", "text", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.training_example_update(example=obj, category=data["category"], text=data["text"])
            return
        saved = services.training_example_add(category=data["category"], text=data["text"], source=TrainingExample.Source.MANUAL, by=request.user)
        # The admin logs and redirects to `obj`: make it the row the service saved.
        vars(obj).update(vars(saved))


# ----------------------------------------------------------------------------- history


class OutOfScopeFilter(admin.SimpleListFilter):
    title = "out of scope"
    parameter_name = "is_out_of_scope__exact"  # the URL Django's own field filter uses

    def lookups(self, request, model_admin):
        return [("1", "Out of scope"), ("0", "In a category")]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(is_out_of_scope=value == "1") if value in ("0", "1") else queryset


@admin.register(Classification, site=desk_admin_site)
class ClassificationAdmin(ReadOnlyHistory):
    """What the AI decided about each incoming message, newest first."""

    conversation_path = "conversation"
    list_display = [
        "created_at", "conversation_display", "category_display", "confidence_display", "priority", "sentiment",
        "language", "suggested_team", "suggested_agent", "provider", "model",
    ]
    list_filter = [OutOfScopeFilter, "category", "sentiment", "language", "priority", "provider", "created_at"]
    list_select_related = ["conversation", "suggested_team", "suggested_agent"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    exclude = ["message"]  # the message is on the conversation's page, with its thread
    readonly_fields = ["conversation_display", "message_text"]

    @admin.display(description="conversation", ordering="conversation__number")
    def conversation_display(self, obj):
        return _conversation_link(obj.conversation)

    @admin.display(description="message")
    def message_text(self, obj):
        return obj.message.content

    @admin.display(description="category", ordering="category")
    def category_display(self, obj):
        return "out of scope" if obj.is_out_of_scope else obj.category

    @admin.display(description="confidence", ordering="confidence")
    def confidence_display(self, obj):
        return f"{obj.confidence:.2f}"


@admin.register(Correction, site=desk_admin_site)
class CorrectionAdmin(ReadOnlyHistory):
    """Every time an agent overruled the AI's category: what it was, what they chose, who."""

    conversation_path = "conversation"
    list_display = ["created_at", "conversation_display", "from_category", "to_category", "corrected_by"]
    list_filter = ["to_category", "created_at"]
    list_select_related = ["conversation", "to_category", "corrected_by"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    exclude = ["classification", "example"]
    readonly_fields = ["conversation_display"]

    @admin.display(description="conversation", ordering="conversation__number")
    def conversation_display(self, obj):
        return _conversation_link(obj.conversation)
