"""Pages outside the admin for people joining an account."""

from __future__ import annotations

from django import forms
from django.contrib.auth import login
from django.core.cache import cache
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from accounts.models import Invitation, User
from accounts.selectors import invitation_by_token
from accounts.services import invitation_accept_as_existing, invitation_accept_as_new
from config.errors import ApplicationError

MAX_ATTEMPTS = 10
CLOSED = {
    None: (404, "This invitation link is not valid", "Check that you opened the whole link from the e-mail, or ask for a new invitation."),
    Invitation.Status.ACCEPTED: (410, "This invitation has already been used", "Sign in with your e-mail address and password."),
    Invitation.Status.REVOKED: (410, "This invitation was withdrawn", "Ask the person who invited you for a new one."),
    Invitation.Status.EXPIRED: (410, "This invitation has expired", "Ask the person who invited you to send it again."),
}


class NewLoginForm(forms.Form):
    full_name = forms.CharField(label="Your name", max_length=200)
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, max_length=200)
    password2 = forms.CharField(label="Password again", widget=forms.PasswordInput, max_length=200)

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            raise forms.ValidationError("The two passwords differ.")
        return data


class ExistingLoginForm(forms.Form):
    password = forms.CharField(label="Your Hearth password", widget=forms.PasswordInput, max_length=200)


def _too_many_attempts(invitation) -> bool:
    """A link that reaches an existing login must not become a way to guess its password:
    at most MAX_ATTEMPTS posts per invitation an hour."""
    key = f"invitation-attempts:{invitation.pk}"
    cache.add(key, 0, timeout=3600)
    return cache.incr(key) > MAX_ATTEMPTS


@never_cache
@sensitive_post_parameters("password", "password1", "password2")
def invitation_accept(request, token: str):
    """The link from an invitation e-mail: a new person chooses a name and password; someone
    with a login already signs in with theirs. Either way they join and land in the desk."""
    invitation = invitation_by_token(account=request.tenant, token=token)
    status = invitation.status if invitation is not None else None
    if status != Invitation.Status.PENDING:
        code, title, hint = CLOSED[status]
        return render(request, "accounts/invitation_closed.html", {"title": title, "hint": hint}, status=code)

    # Only the holder of the link (the mailbox's owner) learns whether the address has a login.
    has_login = User.objects.filter(email__iexact=invitation.email).exists()
    form = (ExistingLoginForm if has_login else NewLoginForm)(request.POST or None)
    if request.method == "POST" and _too_many_attempts(invitation):
        return render(request, "accounts/invitation_closed.html", {
            "title": "Too many attempts", "hint": "Wait an hour, or ask the person who invited you to send the invitation again.",
        }, status=429)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if has_login:
                _, user = invitation_accept_as_existing(invitation=invitation, password=data["password"])
            else:
                user = invitation_accept_as_new(invitation=invitation, full_name=data["full_name"], password=data["password1"]).user
        except ApplicationError as error:
            form.add_error(None, error.message[:1].upper() + error.message[1:] + ".")
        else:
            login(request, user, backend="accounts.backends.EmailBackend")
            return redirect(reverse("admin:index"))
    return render(request, "accounts/invitation.html", {
        "invitation": invitation, "account": invitation.account, "form": form, "has_login": has_login, "title": f"Join {invitation.account.name}",
    })
