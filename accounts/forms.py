"""Forms both admins share (the platform's and the desk's)."""

from __future__ import annotations

from django import forms

from accounts.models import RETENTION_DAYS_MAX, RETENTION_DAYS_MIN, Account


def _retention_days(name: str, label: str) -> forms.IntegerField:
    return forms.IntegerField(
        required=False, min_value=RETENTION_DAYS_MIN, max_value=RETENTION_DAYS_MAX, label=label,
        help_text=Account._meta.get_field(name).help_text,
    )


class RetentionPeriodsForm(forms.ModelForm):
    """An account's retention periods, within the bounds the nightly job can keep: the
    owners' settings page in the desk and the operators' account page both use it."""

    retention_message_days = _retention_days("retention_message_days", "Keep messages for (days)")
    retention_ai_payload_days = _retention_days("retention_ai_payload_days", "Keep AI prompts and responses for (days)")

    class Meta:
        model = Account
        fields = ["retention_message_days", "retention_ai_payload_days"]
