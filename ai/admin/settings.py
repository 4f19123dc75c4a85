"""The tenant's AI settings, for the people who run the account (owners and admins:
accounts/access.py keeps managers out). One row: the list opens it.

The API key is write-only: the form says whether one is set and offers to set, replace or
clear it; the stored (encrypted) value and the plaintext are never put in a page.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.conf import settings as django_settings
from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from accounts.sites import desk_admin_site
from ai.budget import budget_state, budget_warning_show
from ai.models import AISettings, Provider
from ai.providers.openai import endpoint_problem
from ai.settings_store import ai_settings_api_key_set, ai_settings_get, ai_settings_has_api_key
from config.admin import HearthModelAdmin

MAX_TIMEOUT_SECONDS = 120.0
MAX_RETRIES = 5


def prices_check(prices: object) -> dict:
    """{"model": {"input": "0.00015", "output": "0.0006"}}: per 1,000 tokens, non-negative."""
    if not isinstance(prices, dict):
        raise forms.ValidationError('Prices are a JSON object: {"model": {"input": "0.00015", "output": "0.0006"}}.')
    for model, price in prices.items():
        if not isinstance(price, dict) or set(price) - {"input", "output"}:
            raise forms.ValidationError(f'Prices of {model[:100]!r} need "input" and "output" (per 1,000 tokens) and nothing else.')
        for side in ("input", "output"):
            try:
                value = Decimal(str(price.get(side, "0")))
            except InvalidOperation:
                value = None
            if value is None or isinstance(price.get(side), bool) or not value.is_finite() or value < 0 or value > 1000:
                raise forms.ValidationError(f"The {side} price of {model[:100]!r} must be a number from 0 to 1000.")
    return prices


class AISettingsForm(forms.ModelForm):
    base_url = forms.URLField(
        label="Base URL", required=False, assume_scheme="https", max_length=200,
        help_text="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1 or http://localhost:11434/v1 (Ollama).",
    )
    api_key = forms.CharField(
        label="API key", required=False, strip=True, max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: type a key to set or replace it; leave blank to keep the current one.",
    )
    api_key_clear = forms.BooleanField(label="Clear the API key", required=False)

    class Meta:
        model = AISettings
        fields = [
            "provider", "base_url", "chat_model", "embedding_model", "prices", "currency", "monthly_budget",
            "timeout_seconds", "max_retries", "out_of_scope_threshold", "routing_confidence_threshold",
        ]

    def clean_prices(self):
        return prices_check(self.cleaned_data.get("prices") or {})

    def clean_timeout_seconds(self):
        value = self.cleaned_data["timeout_seconds"]
        if not 0.5 <= value <= MAX_TIMEOUT_SECONDS:
            raise forms.ValidationError(f"Between 0.5 and {MAX_TIMEOUT_SECONDS:g} seconds.")
        return value

    def clean_max_retries(self):
        value = self.cleaned_data["max_retries"]
        if value > MAX_RETRIES:
            raise forms.ValidationError(f"At most {MAX_RETRIES}.")
        return value

    def clean_monthly_budget(self):
        value = self.cleaned_data["monthly_budget"]
        if value < 0:
            raise forms.ValidationError("The budget cannot be negative.")
        return value

    def clean(self):
        data = super().clean()
        if data.get("api_key") and data.get("api_key_clear"):
            self.add_error("api_key", "Either type a new key or clear it, not both.")
        if data.get("provider") == Provider.OPENAI:
            for name in ("base_url", "chat_model"):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, "Needed for an OpenAI-compatible provider.")
            if data.get("base_url") and "base_url" not in self.errors:
                problem = endpoint_problem(data["base_url"], allow_private=django_settings.AI_PRIVATE_ENDPOINTS)
                if problem:
                    self.add_error("base_url", problem[0].upper() + problem[1:] + ".")
            prices = data.get("prices") or {}
            # A paid model without a price would cost 0 on the ledger and never reach the budget.
            for name in ("chat_model", "embedding_model"):
                model = data.get(name)
                if model and model not in prices and "prices" not in self.errors:
                    self.add_error("prices", f'Give the price of {model[:100]!r} (0 for a free endpoint): {{"{model[:100]}": {{"input": "0", "output": "0"}}}}.')
        for name in ("out_of_scope_threshold", "routing_confidence_threshold"):
            value = data.get(name)
            if value is not None and not 0 <= value <= 1 and name not in self.errors:
                self.add_error(name, "Between 0 and 1.")
        return data


@admin.register(AISettings, site=desk_admin_site)
class AISettingsAdmin(HearthModelAdmin):
    form = AISettingsForm
    readonly_fields = ["api_key_status", "spent_this_month", "updated_at"]
    fieldsets = [
        ("Provider", {"fields": ["provider", "base_url", "chat_model", "embedding_model", "api_key_status", "api_key", "api_key_clear", "timeout_seconds", "max_retries"]}),
        ("Cost", {"fields": ["prices", "currency", "monthly_budget", "spent_this_month"]}),
        ("Classification", {"fields": ["out_of_scope_threshold", "routing_confidence_threshold"]}),
        (None, {"fields": ["updated_at"]}),
    ]

    def has_add_permission(self, request):
        return False  # one row, made on first use

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            return super().changelist_view(request, extra_context)  # the usual 403
        ai_settings = ai_settings_get()
        return HttpResponseRedirect(reverse("admin:ai_aisettings_change", args=[ai_settings.pk]))

    # An error report (a 500 mailed to ADMINS, a logged request) shows "********" for the key.
    @method_decorator(sensitive_post_parameters("api_key"))
    def change_view(self, request, object_id, form_url="", extra_context=None):
        if self.has_view_or_change_permission(request):
            budget_warning_show(request)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="API key")
    def api_key_status(self, obj):
        return "set (hidden)" if ai_settings_has_api_key(ai_settings=obj) else "not set"

    @admin.display(description="spent this month")
    def spent_this_month(self, obj):
        state = budget_state(ai_settings=obj)
        limit = f" of {state.budget:.2f}" if state.budget > 0 else " (no budget set)"
        return f"{state.spent:.2f}{limit} {state.currency}"

    def save_model(self, request, obj, form, change):
        if form.cleaned_data.get("api_key"):
            ai_settings_api_key_set(ai_settings=obj, api_key=form.cleaned_data["api_key"])
        elif form.cleaned_data.get("api_key_clear"):
            ai_settings_api_key_set(ai_settings=obj, api_key="")
        obj.save()

