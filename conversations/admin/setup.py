"""The account's setup in the desk: inboxes, teams, SLA policies, labels, canned responses,
contacts, CSAT, the audit trail and the members. Role rules (accounts.access) decide who may
change what: only admins and owners manage inboxes, teams, SLA policies and members."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from accounts.models import Membership
from accounts.selectors import account_members
from accounts.services import membership_invite
from accounts.sites import desk_admin_site
from config.admin import HearthModelAdmin, HearthTabularInline
from config.errors import ApplicationError
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


@admin.register(Inbox, site=desk_admin_site)
class InboxAdmin(HearthModelAdmin):
    list_display = ["name", "channel", "default_team", "sla_policy", "auto_assign", "ai_auto_reply"]
    list_filter = ["channel"]
    list_select_related = ["default_team", "sla_policy"]
    search_fields = ["name"]
    readonly_fields = ["widget_token", "hmac_secret", "created_at"]
    actions = ["rotate_widget_token"]
    fieldsets = [
        (None, {"fields": ["name", "channel", "greeting"]}),
        ("Routing", {"fields": ["default_team", "auto_assign", "sla_policy"]}),
        ("Hours", {"fields": ["timezone", "business_hours"]}),
        ("AI", {"fields": ["ai_auto_reply", "ai_confidence_threshold"]}),
        ("Widget", {"fields": ["allowed_origins", "widget_token", "hmac_secret", "created_at"]}),
    ]

    @admin.action(description="Rotate widget token (the old token stops working)", permissions=["change"])
    def rotate_widget_token(self, request, queryset):
        for inbox in queryset:
            services.inbox_widget_token_rotate(inbox=inbox)
        self.message_user(request, f"Rotated the widget token of {queryset.count()} inbox(es).", messages.SUCCESS)


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
    list_display = ["__str__", "masked_email", "phone", "external_id", "blocked", "created_at"]
    list_filter = ["blocked"]
    search_fields = ["name", "email", "external_id"]
    readonly_fields = ["created_at"]

    @admin.display(description="email")
    def masked_email(self, obj):
        return mask_email(obj.email)


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
class ConversationEventAdmin(HearthModelAdmin):
    """The audit trail: every change to the conversations the user may see, read-only."""

    conversation_path = "conversation"

    list_display = ["created_at", "conversation", "actor_type", "actor_name", "action", "field", "old_value", "new_value"]
    list_filter = ["action", "actor_type"]
    list_select_related = ["conversation"]
    search_fields = ["actor_name", "old_value", "new_value"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MemberAddForm(forms.ModelForm):
    email = forms.EmailField()
    full_name = forms.CharField(required=False)
    password = forms.CharField(required=False, widget=forms.PasswordInput, help_text="For a new login only; left empty, one is generated and shown once.")

    account = None  # set per request by MemberAdmin.get_form

    class Meta:
        model = Membership
        fields = ["role", "availability", "max_concurrent_conversations"]

    def clean_email(self):
        email = self.cleaned_data["email"].lower()
        if Membership.objects.filter(account=self.account, user__email__iexact=email).exists():
            raise forms.ValidationError(f"{email} is already a member of this account.")
        return email


@admin.register(Membership, site=desk_admin_site)
class MemberAdmin(HearthModelAdmin):
    """The people of this account (their logins are global; their role here is not)."""

    list_display = ["member_email", "member_name", "role", "availability", "max_concurrent_conversations"]
    list_editable = ["availability"]
    list_filter = ["role", "availability"]
    list_select_related = ["user"]
    search_fields = ["user__email", "user__full_name"]
    fields = ["role", "availability", "max_concurrent_conversations"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(account=request.tenant)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = type("MemberAddFormForAccount", (MemberAddForm,), {"account": request.tenant})
            kwargs["fields"] = None
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["email", "full_name", "password", "role", "availability", "max_concurrent_conversations"]
        return self.fields

    @admin.display(description="email", ordering="user__email")
    def member_email(self, obj):
        return obj.user.email

    @admin.display(description="name", ordering="user__full_name")
    def member_name(self, obj):
        return obj.user.full_name

    def save_model(self, request, obj, form, change):
        if change:
            if obj.account_id != request.tenant.pk:
                raise PermissionDenied
            obj.save()
            return
        try:
            membership, generated = membership_invite(
                account=request.tenant, email=form.cleaned_data["email"], full_name=form.cleaned_data.get("full_name", ""),
                role=form.cleaned_data["role"], password=form.cleaned_data.get("password") or None,
                availability=form.cleaned_data["availability"], max_concurrent_conversations=form.cleaned_data["max_concurrent_conversations"],
            )
        except ApplicationError as error:  # validated by the form; a race lands here
            raise PermissionDenied(error.message) from error
        obj.pk = membership.pk
        obj.user = membership.user
        obj.account = membership.account
        obj._state.adding = False
        if generated:
            self.message_user(request, f"Password for {membership.user.email} (shown once): {generated}", messages.WARNING)

    def delete_model(self, request, obj):
        if obj.user_id == request.user.pk:
            raise PermissionDenied("You cannot remove yourself.")
        super().delete_model(request, obj)
