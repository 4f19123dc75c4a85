"""The two admin sites: the platform's (public host) and each tenant's desk (tenant hosts).

Who may enter either is decided in accounts.access (through `User.is_staff` and
`User.has_perm`), so the sites only differ in what is registered on them and their titles.
"""

from __future__ import annotations

from django import forms
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm


class DeskLoginForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Enter the email and password of a member of this account.",
    }

    def confirm_login_allowed(self, user):
        super(AdminAuthenticationForm, self).confirm_login_allowed(user)  # is_active
        if not user.is_staff:  # no membership in the account being served
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login")


class PlatformLoginForm(DeskLoginForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Enter the email and password of a platform operator.",
    }


class DeskAdminSite(AdminSite):
    """The back office of one tenant; only that tenant's schema is visible through it."""

    login_form = DeskLoginForm
    site_title = "Hearth"
    index_title = "Support desk"

    def each_context(self, request):
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        context["site_header"] = f"Hearth · {tenant.name}" if tenant is not None else "Hearth"
        context["tenant"] = tenant
        return context


class PlatformAdminSite(AdminSite):
    login_form = PlatformLoginForm
    site_header = "Hearth platform"
    site_title = "Hearth platform"
    index_title = "Accounts, domains and users"


desk_admin_site = DeskAdminSite(name="admin")
platform_admin_site = PlatformAdminSite(name="admin")
