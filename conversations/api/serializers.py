"""Request and response shapes of both APIs. Serializers validate and render; they never write."""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework import serializers
from rest_framework.fields import empty

from ai.models import Category
from ai.selectors import categories_active
from config.errors import ApplicationError
from conversations.models import Contact, Conversation, Message, Priority
from conversations.services.contacts import custom_attributes_check

MAX_MESSAGE_CHARS = 10000


class CustomAttributesField(serializers.DictField):
    """Custom attributes, checked against the limits the contacts service enforces for every
    door (count, name and value length, total size, NUL)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return custom_attributes_check(value)
        except ApplicationError as error:
            raise serializers.ValidationError(error.message) from error


# ----------------------------------------------------------------------------- output


class ContactSerializer(serializers.ModelSerializer):
    email = serializers.CharField(read_only=True, help_text="Empty when unknown")

    class Meta:
        model = Contact
        fields = ["id", "name", "email", "phone", "external_id", "custom_attributes", "blocked", "created_at"]
        read_only_fields = fields


class WidgetContactSerializer(serializers.ModelSerializer):
    email = serializers.CharField(read_only=True, help_text="Empty when unknown")

    class Meta:
        model = Contact
        fields = ["name", "email", "custom_attributes"]
        read_only_fields = fields


class WidgetSourceSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField(help_text="The article's public address; empty when it has none")


class WidgetMessageSerializer(serializers.ModelSerializer):
    sender_name = serializers.SerializerMethodField()
    feedback = serializers.SerializerMethodField()
    sources = WidgetSourceSerializer(many=True, read_only=True, help_text="An AI answer's knowledge-base articles; empty otherwise")

    class Meta:
        model = Message
        fields = ["id", "direction", "sender_type", "sender_name", "content", "attachments", "sources", "created_at", "feedback"]
        read_only_fields = fields

    def get_sender_name(self, message) -> str:
        return self.sender_name_of(message, self.context.get("agent_names", {}))

    @staticmethod
    def sender_name_of(message, agent_names: dict[int, str]) -> str:
        if message.sender_type == Message.SenderType.AI:
            return "Assistant"
        if message.sender_type == Message.SenderType.AGENT:
            # First names only: customers see who answered, not the agent's full identity.
            return agent_names.get(message.sender_id, "Support")
        return ""

    def get_feedback(self, message) -> str | None:
        feedback = getattr(message, "feedback_rating", None)
        return feedback


class WidgetConversationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Conversation
        fields = ["number", "subject", "status", "created_at", "last_activity_at"]
        read_only_fields = fields


class AgentMessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "direction", "kind", "sender_type", "sender_id", "content", "attachments", "created_at"]
        read_only_fields = fields


class AgentConversationSerializer(serializers.ModelSerializer):
    contact = ContactSerializer(read_only=True)
    labels = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    priority = serializers.ChoiceField(choices=[label.lower() for label in Priority.labels], source="priority_name", read_only=True)
    resolved_by = serializers.ChoiceField(choices=["", *Conversation.ResolvedBy.values], read_only=True, help_text="Empty until resolved")

    class Meta:
        model = Conversation
        fields = [
            "number", "subject", "status", "snoozed_until", "priority", "inbox_id", "contact", "assignee_id", "team_id",
            "labels", "waiting_since", "first_response_at", "resolved_at", "resolved_by", "last_activity_at", "created_at",
            "ai_category", "ai_confidence", "first_response_due_at", "resolution_due_at", "first_response_breached",
            "resolution_breached",
        ]
        read_only_fields = fields


class AgentConversationDetailSerializer(AgentConversationSerializer):
    messages = AgentMessageSerializer(many=True, read_only=True)

    class Meta(AgentConversationSerializer.Meta):
        fields = [*AgentConversationSerializer.Meta.fields, "messages"]
        read_only_fields = fields


# ----------------------------------------------------------------------------- input


class ContentInput(serializers.Serializer):
    content = serializers.CharField(max_length=MAX_MESSAGE_CHARS, trim_whitespace=True)

    @classmethod
    def content_of(cls, data: dict) -> str:
        """What `ContentInput(data=data).is_valid(raise_exception=True)` validates, by the same
        declared field (its rules and messages), without building a serializer: the widget's
        POST message is its hot path, and a serializer copies and binds its fields on every
        use. The field is used unbound, so no request's state stays on it (threads share it).
        tests/conversations/test_widget_payload.py holds the two to the same answers."""
        if not isinstance(data, Mapping):  # not from the API's JSON parser: the serializer says why
            serializer = cls(data=data)
            serializer.is_valid(raise_exception=True)
            return serializer.validated_data["content"]
        field = cls._declared_fields["content"]
        try:
            return field.run_validation(data.get("content", empty))
        except serializers.ValidationError as error:
            raise serializers.ValidationError({"content": error.detail}) from error


class ConversationCreateInput(ContentInput):
    subject = serializers.CharField(max_length=300, required=False, allow_blank=True)


class SessionCreateInput(serializers.Serializer):
    widget_token = serializers.CharField(max_length=64)
    identifier = serializers.CharField(max_length=200, required=False)
    identifier_hash = serializers.CharField(max_length=128, required=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)


class ContactUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    custom_attributes = CustomAttributesField(required=False)


class AgentContactInput(ContactUpdateInput):
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    external_id = serializers.CharField(max_length=200, required=False, allow_null=True)
    blocked = serializers.BooleanField(required=False)


class CSATInput(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class FeedbackInput(serializers.Serializer):
    rating = serializers.ChoiceField(choices=["up", "down"])


class HandoffInput(serializers.Serializer):
    """No fields: the request is the button. A body, if sent, must be a JSON object."""


class AssignInput(serializers.Serializer):
    assignee_id = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**62)
    team_id = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**62)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("send assignee_id, team_id or both (null clears)")
        return attrs


class StatusInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=Conversation.Status.values)
    snoozed_until = serializers.DateTimeField(required=False, allow_null=True)


class ConversationUpdateInput(serializers.Serializer):
    ai_category = serializers.CharField(
        max_length=50, help_text="The name of one of the account's active categories: the agent's correction of the AI's category.",
    )

    def validate_ai_category(self, name: str) -> Category:
        category = categories_active().filter(name=name).first()
        if category is None:
            raise serializers.ValidationError("not one of this account's active categories")
        return category


class PriorityInput(serializers.Serializer):
    priority = serializers.ChoiceField(choices=[label.lower() for label in Priority.labels])
