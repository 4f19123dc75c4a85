"""The platform admin (public host): accounts, their domains, users, memberships and API
tokens. (Each tenant's desk registers the account's people in accounts/desk_admin.py.)"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from accounts import desk_admin  # noqa: F401  (registers members, invitations, tokens on the desk)
from accounts.models import Account, ApiToken, Domain, Membership, User
from accounts.sites import desk_admin_site, platform_admin_site
from config.admin import HearthModelAdmin, HearthTabularInline

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


@admin.register(Account, site=platform_admin_site)
class AccountAdmin(HearthModelAdmin):
    list_display = ["name", "schema_name", "plan", "timezone", "created_at"]
    list_filter = ["plan"]
    search_fields = ["name", "schema_name", "domains__domain"]
    readonly_fields = ["schema_name", "created_at"]
    fields = ["name", "schema_name", "plan", "timezone", "created_at"]
    inlines = [DomainInline, MembershipInline]

    # An account is created with its schema and owner in one step by
    # `manage.py create_account`, and a schema is never dropped from a web form.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
        # Operators deactivate a login instead (is_active), which signs it out everywhere.
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
