"""The two admin sites: the platform's (public host) and each tenant's desk (tenant hosts).

Who may enter either is decided in accounts.access (through `User.is_staff` and
`User.has_perm`), so the sites only differ in what is registered on them and their titles.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.access import membership_of
from accounts.models import Membership
from config.errors import ApplicationError


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


class HearthAdminSite(AdminSite):
    """What both sites share: the autocomplete endpoint refuses what PostgreSQL would (a NUL)
    and searches of unbounded length, with a 400 instead of a 500. (Changelists do the same
    in config.admin.HearthModelAdmin.)"""

    MAX_TERM_LENGTH = 200

    def autocomplete_view(self, request):
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return JsonResponse({"error": "The request contains a NUL character."}, status=400)
        if len(request.GET.get("term", "")) > self.MAX_TERM_LENGTH:
            return JsonResponse({"error": f"Search for at most {self.MAX_TERM_LENGTH} characters."}, status=400)
        return super().autocomplete_view(request)


class DeskAdminSite(HearthAdminSite):
    """The back office of one tenant; only that tenant's schema is visible through it."""

    login_form = DeskLoginForm
    site_title = "Hearth"
    index_title = "Support desk"

    def each_context(self, request):
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        context["site_header"] = f"Hearth · {tenant.name}" if tenant is not None else "Hearth"
        context["tenant"] = tenant
        if tenant is not None and getattr(request.user, "is_authenticated", False):
            context["my_membership"] = membership_of(request.user, account=tenant)
            context["availability_choices"] = Membership.Availability.choices
        return context

    def get_urls(self):
        from analytics.views import Pages  # the managers' analytics pages, /admin/analytics/

        return [path("availability/", self.admin_view(self.availability_view), name="availability"), *Pages(self).urls(), *super().get_urls()]

    def index(self, request, extra_context=None):
        from accounts.access import user_runs_account
        from accounts.plans import plan_usage
        from ai.budget import budget_warning_show
        from ai.plan_allowance import ai_allowance_notice_show

        budget_warning_show(request)  # the AI budget at 80%/100%, to who runs the account
        ai_allowance_notice_show(request)  # the plan's AI allowance used up, to everyone
        tenant = getattr(request, "tenant", None)
        if tenant is not None and user_runs_account(request.user, account=tenant):
            # Members, inboxes and AI this month against the plan (templates/admin/index.html).
            extra_context = {**(extra_context or {}), "plan_usage": plan_usage(account=tenant), "plan_name": tenant.get_plan_display()}
        return super().index(request, extra_context)

    def availability_view(self, request):
        """Every member sets their own availability from the header of any desk page."""
        from accounts.services import membership_availability_set

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        # Read afresh, not through membership_of's per-request memory: this request writes it.
        membership = Membership.objects.filter(account_id=request.tenant.pk, user_id=request.user.pk).order_by().first()
        if membership is None:
            raise PermissionDenied
        try:
            membership_availability_set(membership=membership, availability=request.POST.get("availability", ""))
            messages.success(request, f"You are {membership.get_availability_display().lower()}.")
        except ApplicationError as error:
            messages.error(request, error.message)
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("admin:index")
        return HttpResponseRedirect(target)


class PlatformAdminSite(HearthAdminSite):
    login_form = PlatformLoginForm
    site_header = "Hearth platform"
    site_title = "Hearth platform"
    index_title = "Accounts, domains and users"

    def get_urls(self):
        # The "view on site" shortcut looks any content type up by id, tenant models included,
        # whose tables do not exist in the public schema; the platform's models have no public
        # pages anyway, so the shortcut is not offered here.
        return [url for url in super().get_urls() if getattr(url, "name", None) != "view_on_site"]


desk_admin_site = DeskAdminSite(name="admin")
platform_admin_site = PlatformAdminSite(name="admin")
