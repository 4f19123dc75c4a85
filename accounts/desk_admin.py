"""The account's people in the desk: members, invitations and API tokens; and the owners' account
settings (retention periods).

People join by invitation only: the desk never looks up a login by e-mail, so an owner learns
nothing about people outside their account (not whether an address has a login, not a name).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import get_script_prefix, reverse
from django.utils import timezone

from accounts.access import OWNER_ROLE_MESSAGE, roles_assignable
from accounts.forms import RetentionPeriodsForm
from accounts.models import Account, ApiToken, Invitation, Membership
from accounts.plans import PlanLimitExceeded
from accounts.services import (
    api_token_revoke,
    invitation_create,
    invitation_resend,
    invitation_revoke,
    invitation_seat_check,
    membership_availability_set,
)
from accounts.sites import desk_admin_site
from config.admin import HearthModelAdmin
from config.errors import ApplicationError


def _base_url(request) -> str:
    """This tenant's address as the inviter reached it (host or /t/<slug>/ prefix)."""
    return request.build_absolute_uri(get_script_prefix())


@admin.register(Membership, site=desk_admin_site)
class MemberAdmin(HearthModelAdmin):
    """The people of this account (their logins are global; their role here is not).
    New members come through Invitations."""

    list_display = ["member_email", "member_name", "role", "availability", "max_concurrent_conversations"]
    list_editable = ["availability"]
    list_filter = ["role", "availability"]
    list_select_related = ["user"]
    search_fields = ["user__email", "user__full_name"]
    fields = ["role", "availability", "max_concurrent_conversations"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(account=request.tenant)

    def has_add_permission(self, request):
        return False  # invite instead: Invitations › Add

    @admin.display(description="email", ordering="user__email")
    def member_email(self, obj):
        return obj.user.email

    @admin.display(description="name", ordering="user__full_name")
    def member_name(self, obj):
        return obj.user.full_name

    def _may_change_role_of(self, request, membership) -> bool:
        return membership.role in roles_assignable(request.user, account=request.tenant)

    def get_readonly_fields(self, request, obj=None):
        # An owner's role is an owner's to change (accounts.access.roles_assignable).
        if obj is not None and not self._may_change_role_of(request, obj):
            return ["role"]
        return []

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        assignable = roles_assignable(request.user, account=request.tenant)
        if "role" in form.base_fields:
            form.base_fields["role"].choices = [(value, label) for value, label in form.base_fields["role"].choices if value in assignable]
        return form

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not self._may_change_role_of(request, obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        if any(not self._may_change_role_of(request, membership) for membership in queryset):
            raise PermissionDenied(OWNER_ROLE_MESSAGE)
        super().delete_queryset(request, queryset)

    def save_model(self, request, obj, form, change):
        if obj.account_id != request.tenant.pk:
            raise PermissionDenied
        assignable = roles_assignable(request.user, account=request.tenant)
        if "role" in form.changed_data and (obj.role not in assignable or form.initial.get("role") not in assignable):
            raise PermissionDenied(OWNER_ROLE_MESSAGE)
        availability = obj.availability
        if change and "availability" in form.changed_data:
            obj.availability = form.initial["availability"]  # changed by the service, which records it
        obj.save()
        if obj.availability != availability:
            membership_availability_set(membership=obj, availability=availability)

    def delete_model(self, request, obj):
        if obj.user_id == request.user.pk:
            raise PermissionDenied("You cannot remove yourself.")
        super().delete_model(request, obj)


class InvitationForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ["email", "role"]

    def validate_unique(self):
        pass  # an open invitation for the address is sent again (invitation_create)


class InvitationStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return Invitation.Status.choices

    def queryset(self, request, queryset):
        now = timezone.now()
        open_ = queryset.filter(accepted_at__isnull=True, revoked_at__isnull=True)
        return {
            Invitation.Status.PENDING: open_.filter(expires_at__gt=now),
            Invitation.Status.EXPIRED: open_.filter(expires_at__lte=now),
            Invitation.Status.ACCEPTED: queryset.filter(accepted_at__isnull=False),
            Invitation.Status.REVOKED: queryset.filter(revoked_at__isnull=False, accepted_at__isnull=True),
        }.get(self.value(), queryset)


@admin.register(Invitation, site=desk_admin_site)
class InvitationAdmin(HearthModelAdmin):
    """Invite by e-mail; owners and admins resend or revoke what is still open."""

    form = InvitationForm
    list_display = ["email", "role", "status_display", "invited_by_display", "created_at", "expires_at"]
    list_filter = [InvitationStatusFilter, "role"]
    list_select_related = ["invited_by"]
    search_fields = ["email"]
    actions = ["resend", "revoke"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(account=request.tenant)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["email", "role"]
        return ["email", "role", "status_display", "invited_by_display", "created_at", "sent_at", "expires_at", "accepted_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the record of who was invited stays

    @admin.display(description="status")
    def status_display(self, obj):
        return Invitation.Status(obj.status).label

    @admin.display(description="invited by")
    def invited_by_display(self, obj):
        return obj.invited_by.get_full_name() if obj.invited_by_id else "—"

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing of an invitation is edited; resend or revoke it
        try:
            invitation = invitation_create(
                account=request.tenant, email=form.cleaned_data["email"], role=form.cleaned_data["role"],
                invited_by=request.user, base_url=_base_url(request),
            )
        except ApplicationError as error:  # the form checked already; a race lands here
            raise PermissionDenied(error.message) from error
        obj.pk, obj.email, obj._state.adding = invitation.pk, invitation.email, False

    def response_add(self, request, obj, post_url_continue=None):
        # The same words and the same page for any address: whether it has a login anywhere
        # is not ours to say.
        self.message_user(request, f"Invitation sent to {obj.email}. It is valid for 7 days.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:accounts_invitation_changelist"))

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        account = request.tenant

        assignable = roles_assignable(request.user, account=account)

        class AccountInvitationForm(form):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                if "role" in self.fields:  # an admin invites anyone but an owner (accounts.access)
                    self.fields["role"].choices = [(value, label) for value, label in self.fields["role"].choices if value in assignable]

            def clean_email(self):
                email = self.cleaned_data["email"].strip().lower()
                if Membership.objects.filter(account=account, user__email__iexact=email).exists():
                    raise forms.ValidationError("This address is already a member of this account.")
                return email

            def clean(self):
                cleaned = super().clean()
                if cleaned.get("email"):
                    try:
                        invitation_seat_check(account=account, email=cleaned["email"])  # the plan's seats, as a form error
                    except PlanLimitExceeded as refusal:
                        raise forms.ValidationError(refusal.message, code=refusal.code) from None
                return cleaned

        return AccountInvitationForm

    @admin.action(description="Send again (a new link; the old one stops working)", permissions=["change"])
    def resend(self, request, queryset):
        sent = 0
        for invitation in queryset.filter(accepted_at__isnull=True, revoked_at__isnull=True).order_by("pk"):
            invitation_resend(invitation=invitation, base_url=_base_url(request))
            sent += 1
        self.message_user(request, f"Sent {sent} invitation(s) again.", messages.SUCCESS if sent else messages.WARNING)

    @admin.action(description="Revoke (the link stops working)", permissions=["change"])
    def revoke(self, request, queryset):
        for invitation in queryset.order_by("pk"):
            invitation_revoke(invitation=invitation)
        self.message_user(request, f"Revoked {queryset.count()} invitation(s).", messages.SUCCESS)


@admin.register(ApiToken, site=desk_admin_site)
class AccountApiTokenAdmin(HearthModelAdmin):
    """This account's agents'-API keys, by name and prefix; owners and admins revoke them.
    The key's hash is never shown (the key itself is shown once, when it is made)."""

    list_display = ["name", "prefix_display", "member_email", "created_at", "last_used_at", "revoked_at"]
    list_select_related = ["user"]
    search_fields = ["name", "prefix"]
    fields = ["name", "prefix_display", "member_email", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(account=request.tenant)

    def has_add_permission(self, request):
        return False  # keys are made by `manage.py create_api_token`

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="key starts with")
    def prefix_display(self, obj):
        return f"{obj.prefix}…"

    @admin.display(description="member", ordering="user__email")
    def member_email(self, obj):
        return obj.user.email

    def save_model(self, request, obj, form, change):
        pass  # read-only; revoke with the action

    @admin.action(description="Revoke (the key stops working at once)", permissions=["change"])
    def revoke(self, request, queryset):
        for token in queryset.order_by("pk"):
            api_token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)


@admin.register(Account, site=desk_admin_site)
class AccountSettingsAdmin(HearthModelAdmin):
    """This account's own settings, for its owners (accounts.access): for now the retention
    periods, applied every night (conversations/services/retention.py)."""

    form = RetentionPeriodsForm
    list_display = ["name", "plan", "retention_message_days", "retention_ai_payload_days"]
    fields = ["name", "plan", "retention_message_days", "retention_ai_payload_days"]
    readonly_fields = ["name", "plan"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(pk=request.tenant.pk)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        from conversations.services import account_retention_set

        account_retention_set(
            account=request.tenant, message_days=form.cleaned_data["retention_message_days"],
            ai_payload_days=form.cleaned_data["retention_ai_payload_days"],
        )
