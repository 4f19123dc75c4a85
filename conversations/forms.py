"""Forms of the agents' conversation page and queue actions: validation at the edge only;
the services do the work."""

from __future__ import annotations

from django import forms
from django.contrib.admin.helpers import ActionForm
from django.utils import timezone
from django.utils.translation import gettext_lazy

from accounts.selectors import account_members
from config import inputs
from config.widgets import QuickCheckboxSelectMultiple, QuickModelChoiceField, QuickModelMultipleChoiceField, QuickSelect
from ai.selectors import categories_active
from conversations.models import Conversation, Label, Priority, Team


class ReplyForm(forms.Form):
    content = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Reply to the customer… (/code inserts a canned response)"}), max_length=20000)
    # The AI draft the reply box was filled with ("use"): sending records what became of it.
    draft_id = forms.CharField(required=False, max_length=20, widget=forms.HiddenInput)

    def clean_draft_id(self) -> int | None:
        # Never a reason to refuse the reply itself: a draft id that is not one is ignored.
        return inputs.id_or_none(self.cleaned_data.get("draft_id") or "")


class NoteForm(forms.Form):
    content = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Private note, only agents see it"}), max_length=20000)


class AssignForm(forms.Form):
    assignee = QuickModelChoiceField(queryset=None, required=False, empty_label="Unassigned")
    team = QuickModelChoiceField(queryset=Team.objects.all(), required=False, empty_label="No team")

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = account_members(account=account)
        self.fields["assignee"].label_from_instance = lambda user: user.get_full_name()


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Conversation.Status.choices, widget=QuickSelect)
    snoozed_until = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("status") == Conversation.Status.SNOOZED:
            until = cleaned.get("snoozed_until")
            if until is None or until <= timezone.now():
                self.add_error("snoozed_until", "Choose a time in the future to snooze until.")
        return cleaned


class PriorityForm(forms.Form):
    priority = forms.TypedChoiceField(choices=Priority.choices, coerce=int, widget=QuickSelect)


class LabelsForm(forms.Form):
    labels = QuickModelMultipleChoiceField(queryset=Label.objects.all(), required=False, widget=QuickCheckboxSelectMultiple)


class CategoryForm(forms.Form):
    """The agent's one-click correction of the AI's category: the tenant's active categories."""

    category = QuickModelChoiceField(queryset=categories_active(), empty_label="Choose a category…")


class ConversationActionForm(ActionForm):
    """The queue's bulk-action bar: the action plus the value some actions need."""

    # The selects of the page's forms render in Python (config/widgets.py): the same HTML,
    # on every queue page and conversation page.
    action = forms.ChoiceField(label=gettext_lazy("Action:"), widget=QuickSelect)  # ActionForm's, with the widget
    team = QuickModelChoiceField(queryset=Team.objects.all(), required=False, empty_label="team…")
    priority = forms.TypedChoiceField(choices=[("", "priority…"), *Priority.choices], coerce=int, required=False, empty_value=None, widget=QuickSelect)
    label = QuickModelChoiceField(queryset=Label.objects.all(), required=False, empty_label="label…")
    category = QuickModelChoiceField(queryset=categories_active(), required=False, empty_label="category…")


class DraftRejectForm(forms.Form):
    """Discard the AI's draft, optionally saying why (it tells the team what the AI gets wrong)."""

    draft = forms.IntegerField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
    reason = forms.CharField(required=False, max_length=300, widget=forms.TextInput(attrs={"placeholder": "Why? (optional)", "size": 24}))


class DraftRegenerateForm(forms.Form):
    draft = forms.IntegerField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
