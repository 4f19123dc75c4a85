"""Filters of the agents' API conversation list (django-filter)."""

from datetime import timezone

import django_filters
from django import forms

from config import inputs
from conversations import selectors
from conversations.models import Conversation, Priority

PRIORITY_BY_NAME = {label.lower(): value for value, label in Priority.choices}


class UTCDateTimeField(forms.DateTimeField):
    """ISO 8601 accepted with any offset Python allows (up to +-23:59), handed to PostgreSQL in
    UTC: PostgreSQL refuses offsets past +-15:59, and a moment outside years 1-9999 once in
    UTC is an input error, not a server error."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None or moment.tzinfo is None:
            return moment
        try:
            return moment.astimezone(timezone.utc)
        except OverflowError as error:
            raise forms.ValidationError("a date and time between years 1 and 9999", code="invalid") from error


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = type("UTCIsoDateTimeField", (UTCDateTimeField, django_filters.fields.IsoDateTimeField), {})


class ConversationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Conversation.Status.choices)
    priority = django_filters.ChoiceFilter(choices=[(name, name) for name in PRIORITY_BY_NAME], method="filter_priority")
    assignee = django_filters.CharFilter(method="filter_assignee", help_text="A user id, `me` or `none`", max_length=20)
    team = django_filters.NumberFilter(field_name="team_id", min_value=1, max_value=2**62)
    inbox = django_filters.NumberFilter(field_name="inbox_id", min_value=1, max_value=2**62)
    label = django_filters.CharFilter(method="filter_label", max_length=50)
    updated_since = UTCIsoDateTimeFilter(field_name="last_activity_at", lookup_expr="gte")

    class Meta:
        model = Conversation
        fields = ["status", "priority", "assignee", "team", "inbox", "label", "updated_since"]

    def filter_priority(self, queryset, name, value):
        return queryset.filter(priority=PRIORITY_BY_NAME[value])

    def filter_label(self, queryset, name, value):
        return selectors.conversations_labelled(queryset, label_names=[value])

    def filter_assignee(self, queryset, name, value):
        if value == "me":
            return queryset.filter(assignee_id=self.request.user.pk)
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        assignee_id = inputs.id_or_none(value)
        return queryset.filter(assignee_id=assignee_id) if assignee_id is not None else queryset.none()
