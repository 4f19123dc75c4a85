"""The agents' conversation queue and conversation page.

Both read through selectors and write through services, so what an agent does here is what
the API and the tasks do: SLA, first response and the timeline stay right.
"""

from __future__ import annotations

import contextlib
import functools
import html
import zoneinfo

from django.contrib import admin, messages
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Prefetch, Q
from django.http import Http404, HttpResponseRedirect
from django.urls import path
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from accounts.access import membership_role
from accounts.selectors import account_members
from accounts.sites import desk_admin_site
from ai import selectors as ai_selectors
from ai import services as ai_services
from analytics import drilldown as analytics_drilldown
from ai.models import Draft
from config import inputs
from config.admin import HearthModelAdmin
from config.errors import ApplicationError
from config.pagination import CappedCountPaginator
from conversations import events, selectors, services
from conversations.access import conversations_visible_to
from conversations.events import Actor
from conversations.admin import assist, queue_page
from conversations.admin.thread import thread_html
from conversations.forms import (
    AssignForm, CategoryForm, ConversationActionForm, DraftRegenerateForm, DraftRejectForm, LabelsForm, NoteForm, PriorityForm, ReplyForm, StatusForm,
)
from conversations.models import CannedResponse, Conversation, Label, Priority

PRIORITY_COLOURS = {0: "#9ca3af", 1: "#60a5fa", 2: "#f59e0b", 3: "#f97316", 4: "#dc2626"}
STATUS_COLOURS = {"open": "#16a34a", "pending": "#ca8a04", "snoozed": "#7c3aed", "resolved": "#6b7280"}


def relative_time(moment, reference) -> str:
    """A short duration for scanning a list: "just now", "12 min", "5 h", "3 d"."""
    seconds = abs((reference - moment).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds // 60)} min"


def _local(moment) -> str:
    """The exact time, in the active (the account's) time zone, for a tooltip."""
    return timezone.localtime(moment).strftime("%b %-d, %H:%M %Z")


def _ago(moment, reference) -> str:
    text = relative_time(moment, reference)
    return text if text == "just now" else f"{text} ago"


@contextlib.contextmanager
def _account_time_zone(request):
    """Times on the desk read in the account's time zone (Account.timezone), whatever the
    server's; the tenant middleware may already have activated it, which this repeats."""
    tz_name = getattr(getattr(request, "tenant", None), "timezone", None)
    with timezone.override(zoneinfo.ZoneInfo(tz_name) if tz_name else None):
        yield


def _time_span(moment, text: str):
    """A time as the list shows it, its exact local time in the tooltip: format_html's
    markup and escaping (html.escape, as Django's escape), without its per-argument
    SafeString wrappers (three on each of the 50 rows)."""
    return mark_safe(f'<span title="{html.escape(_local(moment))}">{html.escape(text)}</span>')


_STATUS_LABELS = dict(Conversation.Status.choices)
_PRIORITY_LABELS = dict(Priority.choices)


@functools.lru_cache(maxsize=256)  # a few statuses x colours: the same 50 badges on every page
def _badge(text: str, colour: str):
    return format_html('<span class="hearth-badge" style="background:{}">{}</span>', colour, text)


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        members = account_members(account=request.tenant).values_list("pk", "full_name", "email")
        return [("me", "Mine"), ("none", "Unassigned"), *[(str(pk), name or email) for pk, name, email in members]]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "me":
            return queryset.filter(assignee_id=request.user.pk)
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        assignee_id = inputs.id_or_none(value) if value else None
        return queryset.filter(assignee_id=assignee_id) if assignee_id is not None else queryset


class SLABreachedFilter(admin.SimpleListFilter):
    title = "SLA"
    parameter_name = "sla"

    def lookups(self, request, model_admin):
        return [("breached", "Breached"), ("first_response", "First response breached"), ("resolution", "Resolution breached"), ("ok", "Within SLA")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "breached":
            return queryset.filter(Q(first_response_breached=True) | Q(resolution_breached=True))
        if value == "first_response":
            return queryset.filter(first_response_breached=True)
        if value == "resolution":
            return queryset.filter(resolution_breached=True)
        if value == "ok":
            return queryset.filter(first_response_breached=False, resolution_breached=False)
        return queryset


class LabelFilter(admin.SimpleListFilter):
    """Labels, matched by a subquery: Django's own m2m filter joins the labels and then needs
    SELECT DISTINCT over whole rows, which reads every matching conversation to count a page."""

    title = "labels"
    parameter_name = "labels__id__exact"  # the URL Django's own filter used

    def lookups(self, request, model_admin):
        return [(str(label.pk), label.name) for label in Label.objects.all()]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isascii() and value.isdigit():
            return selectors.conversations_labelled(queryset, label_ids=[int(value)])
        return queryset


class AICategoryFilter(admin.SimpleListFilter):
    title = "AI category"
    parameter_name = "ai_category__exact"  # the URL Django's own field filter used

    def lookups(self, request, model_admin):
        return [(category, category) for category in selectors.conversation_ai_categories()]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(ai_category=value) if value else queryset


@admin.register(Conversation, site=desk_admin_site)
class ConversationAdmin(HearthModelAdmin):
    list_display = [
        "number_display", "subject_display", "contact_display", "inbox", "status_display", "priority_display",
        "assignee_display", "team", "waiting_display", "last_activity_display", "sla_display", "labels_display", "ai_category",
    ]
    list_display_links = ["number_display", "subject_display"]
    # The columns the rows are made of: the display methods below, str() of the row (its
    # checkbox's label), of its contact, inbox and team, and the assignee's name. A page loads
    # these instead of all ~70 columns of the five tables joined (the inboxes' and contacts'
    # JSON decoded and ~7 timestamps per row parsed, never shown); `page_rows`.
    list_row_fields = [
        "number", "subject", "status", "priority", "waiting_since", "last_activity_at", "ai_category",
        "first_response_at", "first_response_due_at", "resolution_due_at", "first_response_breached", "resolution_breached",
        "contact__name", "contact__email", "contact__phone", "inbox__name", "assignee__full_name", "assignee__email", "team__name",
    ]
    list_filter = [
        "status", "priority", "inbox", "team", AssigneeFilter, LabelFilter, SLABreachedFilter, AICategoryFilter,
        *analytics_drilldown.QUEUE_FILTERS,  # the analytics pages' links: days in the account's time zone
    ]
    search_fields = ["subject"]  # shows the search box; the search itself is selectors.conversation_search
    search_help_text = "Contact name or email, subject, #number or any message text"
    list_per_page = 50
    paginator = CappedCountPaginator  # a big tenant's queue is not counted to the last row
    # A search's matches are counted to 1,000 ("1,000+ results"), as desks' searches commonly
    # cap: nobody pages through more, they add a word. A common word matches half of a big
    # tenant's conversations, and counting to the queue's 10,000 read ten times as many
    # search documents (docs/performance.md, "Desk at scale").
    search_count_cap = 1_000
    show_full_result_count = False
    # Longest-waiting first, most urgent first among equals; nobody waiting goes last.
    ordering = [F("waiting_since").asc(nulls_last=True), "-priority", "-queue_activity_at"]  # selectors.conversation_queue's
    action_form = ConversationActionForm
    actions = ["assign_to_me", "assign_to_team", "resolve", "set_priority", "add_label", "set_category"]

    # ------------------------------------------------------------------ queue

    def changelist_view(self, request, extra_context=None):
        with _account_time_zone(request):
            response = super().changelist_view(request, extra_context)
            context = getattr(response, "context_data", None) or {}
            if "cl" in context:
                rows = queue_page.queue_rows(context["cl"])
                if rows is not None:  # else templates/admin/conversations/conversation/change_list.html uses Django's tag
                    context["queue_results"] = queue_page.queue_results_context(context["cl"], rows)
                    context["queue_results_table"] = queue_page.results_table(context["queue_results"])
                context["queue_filters"] = queue_page.filter_panel(context["cl"])
            return response.render() if hasattr(response, "render") else response

    def get_queryset(self, request):
        return selectors.conversation_queue(user=request.user, account=request.tenant)

    def get_changelist(self, request, **kwargs):
        return queue_page.RowsChangeList

    def page_rows(self, queryset):
        """The queue page's rows: `list_row_fields` only, and each row's labels as a plain list
        (`row_labels`): the labels' related manager and queryset made per row for the prefetch
        and again for the cell cost more than the labels' own query."""
        joined = list(queryset.query.select_related or {})  # selectors.conversation_queue's joins stay loadable
        return (queryset.only(*joined, *self.list_row_fields).prefetch_related(None)
                .prefetch_related(Prefetch("labels", queryset=Label.objects.only("name", "color"), to_attr="row_labels")))

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        paginator = super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
        if request.GET.get(SEARCH_VAR, "").strip():
            paginator.cap = min(paginator.cap, self.search_count_cap)
        return paginator

    def get_search_results(self, request, queryset, search_term):
        return selectors.conversation_search(queryset, search_term), False

    def has_add_permission(self, request):
        return False  # conversations are opened by customers (widget, email, API)

    def has_delete_permission(self, request, obj=None):
        return False  # the record of what a customer was told is kept

    @admin.display(description="#", ordering="number")
    def number_display(self, obj):
        return f"#{obj.number}"

    @admin.display(description="subject")
    def subject_display(self, obj):
        return (obj.subject[:70] + "…") if len(obj.subject) > 70 else (obj.subject or "(no subject)")

    @admin.display(description="customer", ordering="contact__name")
    def contact_display(self, obj):
        return str(obj.contact)

    @admin.display(description="status", ordering="status")
    def status_display(self, obj):
        return _badge(_STATUS_LABELS.get(obj.status, obj.status), STATUS_COLOURS[obj.status])  # get_status_display's text

    @admin.display(description="priority", ordering="priority")
    def priority_display(self, obj):
        return _badge(_PRIORITY_LABELS.get(obj.priority, str(obj.priority)), PRIORITY_COLOURS[obj.priority])

    @admin.display(description="assignee", ordering="assignee__full_name")
    def assignee_display(self, obj):
        return obj.assignee.get_full_name() if obj.assignee_id else "—"

    @admin.display(description="waiting", ordering="waiting_since")
    def waiting_display(self, obj):
        if not obj.waiting_since:
            return "—"
        return _time_span(obj.waiting_since, f"waiting {relative_time(obj.waiting_since, timezone.now())}")

    @admin.display(description="last activity", ordering="last_activity_at")
    def last_activity_display(self, obj):
        return _time_span(obj.last_activity_at, _ago(obj.last_activity_at, timezone.now()))

    @admin.display(description="SLA")
    def sla_display(self, obj):
        if obj.sla_breached:
            return _badge("breached", "#dc2626")
        due = obj.first_response_due_at if obj.first_response_at is None else obj.resolution_due_at
        if due and obj.status != Conversation.Status.RESOLVED:
            now = timezone.now()
            if due > now:
                return _time_span(due, f"due in {relative_time(now, due)}")
            return _badge("due now", "#f97316")
        return "—"

    @admin.display(description="labels")
    def labels_display(self, obj):
        # format_html_join's markup, escaped with html.escape as Django's escape is (50 rows, ~1.5 labels each)
        labels = obj.row_labels if hasattr(obj, "row_labels") else obj.labels.all()  # the queue page's, or the relation
        return mark_safe(" ".join(f'<span class="hearth-label" style="border-color:{html.escape(label.color)}">{html.escape(label.name)}</span>'
                                  for label in labels))

    # ------------------------------------------------------------------ bulk actions

    def _each(self, request, queryset, change, done: str):
        count = 0
        errors = []
        for conversation in queryset.order_by("pk"):
            try:
                with transaction.atomic():
                    change(conversation)
                count += 1
            except ApplicationError as error:
                errors.append(f"#{conversation.number}: {error.message}")
        if count:
            self.message_user(request, f"{done}: {count} conversation(s).", messages.SUCCESS)
        for error in errors:
            self.message_user(request, error, messages.ERROR)

    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request, queryset):
        actor = Actor.agent(request.user)
        self._each(request, queryset, lambda c: services.conversation_assignment_set(conversation=c, assignee=request.user, by=actor), "Assigned to you")

    @admin.action(description="Assign to team (choose the team)", permissions=["change"])
    def assign_to_team(self, request, queryset):
        team = ConversationActionForm(request.POST).fields["team"].clean(request.POST.get("team") or None)
        if team is None:
            self.message_user(request, "Choose a team in the action bar first.", messages.ERROR)
            return
        actor = Actor.agent(request.user)
        self._each(request, queryset, lambda c: services.conversation_assignment_set(conversation=c, team=team, by=actor), f"Moved to {team}")

    @admin.action(description="Resolve", permissions=["change"])
    def resolve(self, request, queryset):
        actor = Actor.agent(request.user)
        self._each(request, queryset, lambda c: services.conversation_status_set(conversation=c, status=Conversation.Status.RESOLVED, by=actor), "Resolved")

    @admin.action(description="Set priority (choose the priority)", permissions=["change"])
    def set_priority(self, request, queryset):
        raw = request.POST.get("priority")
        priority = inputs.int_or_none(raw or "")
        if priority not in Priority.values:
            self.message_user(request, "Choose a priority in the action bar first.", messages.ERROR)
            return
        actor = Actor.agent(request.user)
        self._each(request, queryset, lambda c: services.conversation_priority_set(conversation=c, priority=priority, by=actor), "Priority set")

    @admin.action(description="Add label (choose the label)", permissions=["change"])
    def add_label(self, request, queryset):
        label_id = inputs.id_or_none(request.POST.get("label") or "")
        label = Label.objects.filter(pk=label_id).first() if label_id is not None else None
        if label is None:
            self.message_user(request, "Choose a label in the action bar first.", messages.ERROR)
            return
        actor = Actor.agent(request.user)
        self._each(request, queryset, lambda c: services.conversation_labels_add(conversation=c, labels=[label], by=actor), f"Labelled {label}")

    @admin.action(description="Set category (choose the category; teaches the AI)", permissions=["change"])
    def set_category(self, request, queryset):
        category = ConversationActionForm(request.POST).fields["category"].clean(request.POST.get("category") or None)
        if category is None:
            self.message_user(request, "Choose a category in the action bar first.", messages.ERROR)
            return
        # Each conversation is a correction of its own (and its customer's text an example),
        # exactly as if the agent had corrected it on its page.
        self._each(request, queryset, lambda c: ai_services.classification_correct(conversation=c, category=category, by=request.user), f"Filed under {category}")

    # ------------------------------------------------------------------ conversation page

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/knowledge/", self.admin_site.admin_view(self.knowledge_view), name="%s_%s_knowledge" % info),
            path("<path:object_id>/draft/", self.admin_site.admin_view(self.draft_state_view), name="%s_%s_draft" % info),
            *super().get_urls(),
        ]

    def _conversation_visible(self, request, object_id) -> Conversation:
        if not self.has_view_permission(request):
            raise PermissionDenied
        conversation_id = inputs.id_or_none(object_id)
        conversation = Conversation.objects.select_related("contact", "inbox", "assignee", "team").filter(pk=conversation_id).first() if conversation_id else None
        if conversation is None:
            raise Http404("No such conversation")
        if not conversations_visible_to(request.user, account=request.tenant).filter(pk=conversation.pk).exists():
            raise PermissionDenied("This conversation belongs to a team you are not in.")
        return conversation

    def knowledge_view(self, request, object_id):
        """The Knowledge panel's search, as JSON for the page's script (`?q=`)."""
        self._conversation_visible(request, object_id)
        return assist.knowledge_json(request)

    def draft_state_view(self, request, object_id):
        """Whether the conversation's draft is still being regenerated (the page's script asks)."""
        return assist.draft_state_json(conversation=self._conversation_visible(request, object_id))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        with _account_time_zone(request):
            response = self._conversation_page(request, object_id)
            return response.render() if isinstance(response, TemplateResponse) else response

    def _conversation_page(self, request, object_id):
        conversation = self._conversation_visible(request, object_id)
        forms = self._page_forms(request, conversation)
        if request.method == "POST":
            if not self.has_change_permission(request, conversation):
                raise PermissionDenied
            response = self._handle_post(request, conversation, forms)
            if response is not None:
                return response
        return self._render_page(request, conversation, forms)

    def _page_forms(self, request, conversation):
        account = request.tenant
        action = request.POST.get("action") if request.method == "POST" else None

        def bound(name):
            return request.POST if action == name else None

        return {
            "reply": ReplyForm(bound("reply"), prefix="reply"),
            "note": NoteForm(bound("note"), prefix="note"),
            "assign": AssignForm(bound("assign"), prefix="assign", account=account,
                                 initial={"assignee": conversation.assignee_id, "team": conversation.team_id}),
            "status": StatusForm(bound("status"), prefix="status", initial={"status": conversation.status, "snoozed_until": conversation.snoozed_until}),
            "priority": PriorityForm(bound("priority"), prefix="priority", initial={"priority": conversation.priority}),
            "labels": LabelsForm(bound("labels"), prefix="labels", initial={"labels": list(conversation.labels.values_list("pk", flat=True))}),
            "category": CategoryForm(bound("category"), prefix="category"),
            "draft_reject": DraftRejectForm(bound("draft_reject"), prefix="draft_reject"),
            "draft_regenerate": DraftRegenerateForm(bound("draft_regenerate"), prefix="draft_regenerate"),
        }

    def _handle_post(self, request, conversation, forms):
        action = request.POST.get("action")
        form = forms.get(action)
        if form is None:
            messages.error(request, "Unknown action.")
            return None
        if not form.is_valid():
            return None
        actor = Actor.agent(request.user)
        data = form.cleaned_data
        try:
            if action == "reply":
                content = selectors.canned_response_expand(data["content"])
                reply = services.message_add_reply(conversation=conversation, content=content, author=request.user)
                ai_services.draft_use_record(draft_id=data.get("draft_id"), conversation=conversation, sent_message=reply, by=request.user)
                messages.success(request, "Reply sent.")
            elif action == "note":
                services.message_add_note(conversation=conversation, content=data["content"], author=request.user)
                messages.success(request, "Note added.")
            elif action == "assign":
                services.conversation_assignment_set(conversation=conversation, team=data["team"], assignee=data["assignee"], by=actor)
                messages.success(request, "Assignment saved.")
            elif action == "status":
                services.conversation_status_set(conversation=conversation, status=data["status"], by=actor, snoozed_until=data.get("snoozed_until"))
                messages.success(request, f"Status: {Conversation.Status(data['status']).label}.")
            elif action == "priority":
                services.conversation_priority_set(conversation=conversation, priority=data["priority"], by=actor)
                messages.success(request, f"Priority: {Priority(data['priority']).label}.")
            elif action == "labels":
                services.conversation_labels_set(conversation=conversation, labels=data["labels"], by=actor)
                messages.success(request, "Labels saved.")
            elif action == "category":
                category = data["category"]
                corrected = ai_services.classification_correct(conversation=conversation, category=category, by=request.user)
                messages.success(request, f"Category: {category}. The AI learns from it." if corrected else f"The category is already {category}.")
            elif action == "draft_reject":
                ai_services.draft_reject(draft=self._draft_of(conversation, data["draft"]), by=request.user, reason=data["reason"])
                messages.success(request, "Draft discarded.")
            elif action == "draft_regenerate":
                ai_services.draft_regenerate(draft=self._draft_of(conversation, data["draft"]), by=request.user)
                messages.success(request, "Regenerating the draft…")
        except ApplicationError as error:
            messages.error(request, error.message)
            return None
        return HttpResponseRedirect(request.path)

    @staticmethod
    def _draft_of(conversation, draft_id: int) -> Draft:
        draft = Draft.objects.filter(pk=draft_id, conversation=conversation).first()
        if draft is None:
            raise ApplicationError("No such draft in this conversation.", fields={"draft": ["no such draft"]})
        return draft

    def _render_page(self, request, conversation, forms):
        # Only what the thread shows, as named rows rather than Message instances (500 at most;
        # a model instance per message cost twice the rows' own reading): a message's
        # attachments and sources (two JSON columns) and its bookkeeping times are not on this page.
        thread = list(selectors.conversation_thread(conversation=conversation).values_list(
            "kind", "sender_type", "sender_id", "content", "created_at", named=True))
        classifications = ai_selectors.conversation_classifications(conversation=conversation)
        members = {user.pk: user for user in account_members(account=request.tenant)}
        context = {
            **self.admin_site.each_context(request),
            "title": f"#{conversation.number} {conversation.subject}",
            "subtitle": None,
            "opts": self.model._meta,
            "conversation": conversation,
            "thread_html": thread_html(conversation=conversation, thread=[
                (message, members.get(message.sender_id) if message.sender_type == "agent" else None) for message in thread]),
            "timeline": [(event, events.describe(event)) for event in selectors.conversation_timeline(conversation=conversation)],
            "time_zone": timezone.get_current_timezone_name(),
            "classification": classifications[0] if classifications else None,
            "classification_history": classifications[1:],
            "past_conversations": selectors.contact_conversations(contact=conversation.contact, user=request.user, account=request.tenant, exclude=conversation),
            "forms": forms,
            "canned_responses": list(CannedResponse.objects.values("short_code", "body")),
            "can_change": self.has_change_permission(request, conversation),
            "role": membership_role(request.user, account=request.tenant),
            "queue_url": reverse("admin:conversations_conversation_changelist"),
            **self._assist_context(request, conversation, forms),
        }
        return TemplateResponse(request, "admin/conversations/conversation/page.html", context)

    def _assist_context(self, request, conversation, forms) -> dict:
        """The draft panel and the Knowledge panel (conversations/admin/assist.py)."""
        panel = assist.draft_panel(conversation=conversation, use_draft=request.GET.get("use_draft"))
        if panel["draft_using"] is not None and not forms["reply"].is_bound:
            # "Use" without the page's script: the reply box arrives filled with the draft.
            forms["reply"] = ReplyForm(prefix="reply", initial={"content": panel["draft_using"].content, "draft_id": panel["draft_using"].pk})
        knowledge_query, knowledge_error, results = request.GET.get("kq", ""), "", []
        try:
            knowledge_query = assist.knowledge_query_clean(knowledge_query)
            results = assist.knowledge_results(knowledge_query)
        except assist.KnowledgeQueryInvalid as error:
            knowledge_query, knowledge_error = "", str(error)
        return {
            **panel,
            "knowledge_query": knowledge_query, "knowledge_error": knowledge_error, "knowledge_results": results,
            "knowledge_url": reverse("admin:conversations_conversation_knowledge", args=[conversation.pk]),
            "draft_state_url": reverse("admin:conversations_conversation_draft", args=[conversation.pk]),
        }
