"""The platform admin (public host): accounts, their domains, users, memberships and API
tokens. (Each tenant's desk registers the account's people in accounts/desk_admin.py.)"""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from accounts import desk_admin  # noqa: F401  (registers members, invitations, tokens on the desk)
from accounts.forms import RetentionPeriodsForm
from accounts.lifecycle import REASON_MAX_LENGTH, account_resume, account_suspend
from accounts.models import Account, AccountEvent, ApiToken, Domain, Membership, User
from accounts.selectors import account_activity
from accounts.sites import desk_admin_site, platform_admin_site
from config.admin import HearthModelAdmin, HearthTabularInline, ReadOnlyTabularInline
from config.errors import ApplicationError

__all__ = ["desk_admin_site", "platform_admin_site"]


class DomainInline(HearthTabularInline):
    model = Domain
    extra = 0
    fields = ["domain", "is_primary"]


class MembershipInline(HearthTabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user", "account"]
    fields = ["user", "account", "role", "availability", "max_concurrent_conversations"]


class AccountEventInline(ReadOnlyTabularInline):
    """Who suspended or resumed the account, when and why (written by accounts/lifecycle.py)."""

    model = AccountEvent
    fields = ["at", "action", "reason", "by", "source"]
    readonly_fields = fields
    verbose_name_plural = "Suspensions and resumptions"


@admin.register(Account, site=platform_admin_site)
class AccountAdmin(HearthModelAdmin):
    """Operators see each account's plan, state, members and, from the account's own schema,
    this month's conversations and AI cost and its background jobs' last runs: read for the
    whole page at once (accounts.selectors.account_activity), never per row."""

    form = RetentionPeriodsForm  # with the admin's other fields; the periods within their bounds
    list_display = ["name", "schema_name", "plan", "state", "members", "conversations_this_month", "ai_cost_this_month", "job_runs", "created_at"]
    list_filter = ["plan", "state"]
    list_per_page = 100
    search_fields = ["name", "schema_name", "domains__domain"]
    readonly_fields = ["schema_name", "created_at", "state", "suspended_at", "suspended_reason"]
    fields = [
        "name", "schema_name", "plan", "timezone", "retention_message_days", "retention_ai_payload_days",
        "created_at", "state", "suspended_at", "suspended_reason",
    ]
    inlines = [DomainInline, MembershipInline, AccountEventInline]
    actions = ["suspend_accounts", "resume_accounts"]

    # An account is created with its schema and owner in one step by
    # `manage.py create_account`, and a schema is never dropped from a web form.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        members = Membership.objects.filter(account=OuterRef("pk")).order_by().values("account").annotate(n=Count("*")).values("n")
        return super().get_queryset(request).annotate(member_count=Coalesce(Subquery(members), 0))

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        activity = account_activity(accounts=changelist.result_list)
        for account in changelist.result_list:
            account.activity = activity.get(account.schema_name)
        return changelist

    @admin.display(description="Members", ordering="member_count")
    def members(self, account):
        return account.member_count

    @admin.display(description="Conversations this month")
    def conversations_this_month(self, account):
        activity = getattr(account, "activity", None)
        return activity.conversations_this_month if activity else "—"

    @admin.display(description="AI cost this month")
    def ai_cost_this_month(self, account):
        activity = getattr(account, "activity", None)
        if activity is None:
            return "—"
        cost = activity.ai_cost_this_month
        return "< 0.01" if 0 < cost < Decimal("0.01") else f"{cost:.2f}"

    @admin.display(description="Background jobs (last run)")
    def job_runs(self, account):
        activity = getattr(account, "activity", None)
        if activity is None or not activity.jobs:
            return "—"
        now = timezone.now()
        lines = []
        for run in activity.jobs:
            if run.running:
                outcome, at = "started", run.last_started_at
            else:
                outcome, at = ("failed" if run.failed else "ok"), run.last_finished_at
            lines.append((run.job, outcome, f"{timesince(at, now)} ago", at.isoformat()))
        return format_html_join(mark_safe("<br>"), '<span title="{3}">{0}: {1}, {2}</span>', lines)

    @admin.action(description="Suspend selected accounts")
    def suspend_accounts(self, request, queryset):
        """Asks for a reason on a confirmation page first, like Django's delete action."""
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request), "title": "Suspend accounts", "accounts": list(queryset),
                "opts": self.model._meta, "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "reason_max_length": REASON_MAX_LENGTH,
            }
            return TemplateResponse(request, "admin/accounts/account/suspend_confirmation.html", context)
        reason = request.POST.get("reason", "")
        for account in queryset.order_by("pk"):
            self._change_state(request, account_suspend, account, reason=reason)
        return None

    @admin.action(description="Resume selected accounts")
    def resume_accounts(self, request, queryset):
        for account in queryset.order_by("pk"):
            self._change_state(request, account_resume, account)

    def _change_state(self, request, change_state, account, **options) -> None:
        try:
            change = change_state(account, by=request.user, source="platform admin", **options)
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
            return
        self.message_user(request, change.message[:1].upper() + change.message[1:], messages.SUCCESS if change.changed else messages.WARNING)


@admin.register(Domain, site=platform_admin_site)
class DomainAdmin(HearthModelAdmin):
    list_display = ["domain", "tenant", "is_primary"]
    list_select_related = ["tenant"]
    search_fields = ["domain", "tenant__name"]
    autocomplete_fields = ["tenant"]


@admin.register(Membership, site=platform_admin_site)
class MembershipAdmin(HearthModelAdmin):
    list_display = ["user", "account", "role", "availability", "max_concurrent_conversations"]
    list_filter = ["role", "availability", "account"]
    list_select_related = ["user", "account"]
    search_fields = ["user__email", "user__full_name", "account__name", "account__schema_name"]
    autocomplete_fields = ["user", "account"]


class HearthUserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ["email", "full_name"]


class HearthUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User, site=platform_admin_site)
class UserAdmin(HearthModelAdmin, DjangoUserAdmin):
    form = HearthUserChangeForm
    add_form = HearthUserCreationForm
    list_display = ["email", "full_name", "is_superuser", "is_active", "last_login"]
    list_filter = ["is_superuser", "is_active"]
    search_fields = ["email", "full_name"]
    ordering = ["email"]
    filter_horizontal = []
    readonly_fields = ["last_login", "date_joined"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name"]}),
        ("Platform", {"fields": ["is_active", "is_superuser"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "full_name", "usable_password", "password1", "password2"]}),
    ]
    inlines = [MembershipInline]

    def has_delete_permission(self, request, obj=None):
        # A login is global and referenced from every tenant schema it worked in (assignees,
        # authors, team members); deleting it from the public schema cannot reach those rows.
        # Operators deactivate a login instead (is_active), which signs it out everywhere, or
        # delete it for good with `manage.py user_delete` (accounts.services.user_delete).
        return False


@admin.register(ApiToken, site=platform_admin_site)
class ApiTokenAdmin(HearthModelAdmin):
    """Operators see keys by name and prefix and may revoke one (set revoked_at); the hash
    of a key is never shown, and keys are made by `manage.py create_api_token`."""

    list_display = ["name", "prefix", "user", "account", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["account"]
    list_select_related = ["user", "account"]
    search_fields = ["name", "prefix", "user__email", "account__schema_name"]
    fields = ["name", "prefix", "user", "account", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["name", "prefix", "user", "account", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False
