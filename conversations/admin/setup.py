"""The account's setup in the desk: inboxes, teams, SLA policies, labels, canned responses,
contacts, CSAT and the audit trail (members, invitations and API tokens: accounts/desk_admin.py).
Role rules (accounts.access) decide who may change what: only admins and owners manage
inboxes, teams and SLA policies."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from accounts.access import user_runs_account
from accounts.plans import PlanLimitExceeded
from accounts.selectors import account_members
from accounts.sites import desk_admin_site
from config.admin import HearthModelAdmin, HearthTabularInline, ReadOnlyModelAdmin
from conversations import services
from conversations.models import (
    CannedResponse,
    Contact,
    ConversationEvent,
    CSATResponse,
    Inbox,
    Label,
    SLAPolicy,
    SLATarget,
    Team,
    TeamMember,
)


def mask_email(email: str) -> str:
    """`a•••@example.com`: enough to recognise a customer in a list, not to harvest addresses."""
    if "@" not in email:
        return email
    local, domain = email.split("@", 1)
    return f"{local[:1]}•••@{domain}"


class TeamMemberInline(HearthTabularInline):
    model = TeamMember
    extra = 1

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = account_members(account=request.tenant)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Team, site=desk_admin_site)
class TeamAdmin(HearthModelAdmin):
    list_display = ["name", "auto_assign", "strategy", "member_count"]
    search_fields = ["name"]
    inlines = [TeamMemberInline]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(member_total=Count("memberships"))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj):
        return obj.member_total


def mask_secret(value: str) -> str:
    """`••••3f2a`: enough to tell two secrets apart, nothing to sign with."""
    return f"••••{value[-4:]}" if value else "—"


AUTO_REPLY_HELP = (
    "How to turn auto-reply on safely: 1. Leave it off for a week or two and watch the drafts agents get "
    "(Drafts in the AI section): how often are they used unchanged, and at what confidence? 2. Put every "
    "category where a wrong answer costs money or trust (refunds, legal, cancellations) on the never-automatic "
    "list. 3. Set the threshold at or above the confidence where agents used the drafts unchanged (0.8 is a "
    "careful start; lower it only with evidence). 4. Turn it on, then read the AI answers, the thumbs down and "
    "the handoffs for a few days. The AI only ever sends answers that cite your published knowledge-base "
    "articles; it hands the conversation to the inbox's team when the customer asks for a person, is upset, "
    "the category is never automatic, or two AI answers in a row did not settle it."
)


class InboxForm(forms.ModelForm):
    """The never-automatic categories as a choice of the account's own categories (a typo in
    a typed list would silently let the AI answer refunds)."""

    ai_never_auto_categories = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Never answered automatically",
        help_text="The AI hands these categories to the team instead of answering them itself.",
    )

    class Meta:
        model = Inbox
        fields = "__all__"
        labels = {"ai_auto_reply": "AI answers by itself", "ai_confidence_threshold": "Confidence threshold"}
        help_texts = {
            "ai_auto_reply": "Off: the AI only drafts replies for agents. On: it sends a draft itself when the rules below allow.",
            "ai_confidence_threshold": "0 to 1. The AI sends a draft only at or above this confidence, and only with a knowledge-base source.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from ai.models import Category  # ai builds on the desk: imported when the form is made

        names = list(Category.objects.order_by("name").values_list("name", flat=True))
        # A category deleted since it was chosen stays visible (and kept) until it is unticked.
        kept = [name for name in (self.instance.ai_never_auto_categories or []) if name not in names]
        self.fields["ai_never_auto_categories"].choices = [(name, name) for name in names] + [
            (name, f"{name} (no longer a category)") for name in kept
        ]

    def clean(self):
        cleaned = super().clean()
        if self.instance._state.adding:
            try:
                services.inbox_limit_check()  # the plan's inbox limit, as a form error
            except PlanLimitExceeded as refusal:
                raise forms.ValidationError(refusal.message, code=refusal.code) from None
        return cleaned


@admin.register(Inbox, site=desk_admin_site)
class InboxAdmin(HearthModelAdmin):
    """Inboxes. The HMAC secret is shown once, to an owner or admin, when it is made or
    rotated (an admin message), and masked on every page after; managers see the widget
    token masked too."""

    form = InboxForm
    list_display = ["name", "channel", "default_team", "sla_policy", "auto_assign", "ai_auto_reply"]
    list_filter = ["channel"]
    list_select_related = ["default_team", "sla_policy"]
    search_fields = ["name"]
    readonly_fields = ["widget_token", "widget_token_masked", "hmac_secret_masked", "created_at"]
    actions = ["rotate_widget_token", "rotate_hmac_secret"]

    def get_fieldsets(self, request, obj=None):
        token = "widget_token" if user_runs_account(request.user, account=request.tenant) else "widget_token_masked"
        return [
            (None, {"fields": ["name", "channel", "greeting"]}),
            ("Routing", {"fields": ["default_team", "auto_assign", "sla_policy"]}),
            ("Hours", {"fields": ["timezone", "business_hours"]}),
            ("AI auto-reply", {"fields": ["ai_auto_reply", "ai_confidence_threshold", "ai_never_auto_categories"],
                               "description": AUTO_REPLY_HELP}),
            ("Widget", {"fields": ["allowed_origins", token, "hmac_secret_masked", "created_at"]}),
        ]

    @admin.display(description="widget token")
    def widget_token_masked(self, obj):
        return mask_secret(obj.widget_token)

    @admin.display(description="HMAC secret")
    def hmac_secret_masked(self, obj):
        return mask_secret(obj.hmac_secret)

    def _show_secret_once(self, request, inbox):
        if user_runs_account(request.user, account=request.tenant):
            self.message_user(
                request, f"HMAC secret of “{inbox.name}”, shown this once (copy it to your server now): {inbox.hmac_secret}",
                messages.WARNING,
            )

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        try:
            services.inbox_create(inbox=obj)
        except PlanLimitExceeded as refusal:  # the form checked already; a race lands here
            raise PermissionDenied(refusal.message) from refusal
        self._show_secret_once(request, obj)

    @admin.action(description="Rotate widget token (the old token stops working)", permissions=["change"])
    def rotate_widget_token(self, request, queryset):
        for inbox in queryset:
            services.inbox_widget_token_rotate(inbox=inbox)
        self.message_user(request, f"Rotated the widget token of {queryset.count()} inbox(es).", messages.SUCCESS)

    @admin.action(description="Rotate HMAC secret (identified widget sessions end)", permissions=["change"])
    def rotate_hmac_secret(self, request, queryset):
        if not user_runs_account(request.user, account=request.tenant):
            raise PermissionDenied
        for inbox in queryset.order_by("pk"):
            self._show_secret_once(request, services.inbox_hmac_secret_rotate(inbox=inbox))


class SLATargetInline(HearthTabularInline):
    model = SLATarget
    extra = 0


@admin.register(SLAPolicy, site=desk_admin_site)
class SLAPolicyAdmin(HearthModelAdmin):
    list_display = ["name", "business_hours_only"]
    search_fields = ["name"]
    inlines = [SLATargetInline]


@admin.register(Label, site=desk_admin_site)
class LabelAdmin(HearthModelAdmin):
    list_display = ["name", "description", "color"]
    search_fields = ["name"]


@admin.register(CannedResponse, site=desk_admin_site)
class CannedResponseAdmin(HearthModelAdmin):
    list_display = ["short_code", "body_start"]
    search_fields = ["short_code", "body"]

    @admin.display(description="body")
    def body_start(self, obj):
        return obj.body[:80]


@admin.register(Contact, site=desk_admin_site)
class ContactAdmin(HearthModelAdmin):
    conversation_path = "conversations"  # seen through its conversations (conversations/access.py)
    list_display = ["__str__", "masked_email", "phone", "external_id", "blocked", "created_at", "erased_at"]
    list_filter = ["blocked"]
    search_fields = ["name", "email", "external_id"]
    readonly_fields = ["created_at", "erased_at", "erased_by"]
    actions = ["erase"]

    @admin.display(description="email")
    def masked_email(self, obj):
        return mask_email(obj.email)

    def has_erase_permission(self, request):
        # Owners only (accounts.access.ROLE_ACTIONS); the action is not offered to anyone else,
        # and Django's admin refuses an action the user may not run even when posted by hand.
        return request.user.has_perm("conversations.erase_contact")

    @admin.action(description="Erase personal data and messages (cannot be undone)", permissions=["erase"])
    def erase(self, request, queryset):
        """Asks first (a page listing the contacts), then erases each in its own transaction."""
        contacts = list(queryset.order_by("pk"))
        if request.POST.get("erase_confirmed") != "yes":
            return TemplateResponse(request, "admin/conversations/contact/erase_confirmation.html", {
                **self.admin_site.each_context(request),
                "title": "Erase contacts?", "contacts": contacts, "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            })
        erasures = [services.contact_erase(contact=contact, by=request.user) for contact in contacts]
        for erasure in erasures:
            self.message_user(request, erasure.summary(), messages.WARNING if erasure.already_erased else messages.SUCCESS)
        return None

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.contact_business_fields_mark(contact=obj, fields=form.changed_data, attributes_before=form.initial.get("custom_attributes"))


@admin.register(CSATResponse, site=desk_admin_site)
class CSATResponseAdmin(HearthModelAdmin):
    conversation_path = "conversation"
    list_display = ["conversation", "rating", "comment", "created_at"]
    list_filter = ["rating"]
    list_select_related = ["conversation"]

    def has_add_permission(self, request):
        return False  # customers rate; agents do not

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ConversationEvent, site=desk_admin_site)
class ConversationEventAdmin(ReadOnlyModelAdmin):
    """The audit trail: every change to the conversations the user may see, read-only."""

    conversation_path = "conversation"

    list_display = ["created_at", "conversation", "actor_type", "actor_name", "action", "field", "old_value", "new_value"]
    list_filter = ["action", "actor_type"]
    list_select_related = ["conversation"]
    search_fields = ["actor_name", "old_value", "new_value"]
    show_full_result_count = False
