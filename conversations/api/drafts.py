"""The agents' API for the AI's drafts of a conversation: list them (newest first), discard
one, ask for another. Same visibility and services as the conversation page; the reply that
uses a draft passes `draft_id` to `conversations/{number}/reply` (agents.ConversationReplyApi)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from ai import selectors as ai_selectors
from ai import services as ai_services
from ai.models import Draft
from config.api import error_responses
from conversations.api.agents import AgentApi


class DraftSourceSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    heading_path = serializers.CharField(required=False)
    article_id = serializers.IntegerField(required=False)
    chunk_id = serializers.IntegerField(required=False)
    score = serializers.FloatField(required=False)
    similarity = serializers.FloatField(required=False)
    cited = serializers.BooleanField(required=False, help_text="LLM drafts: whether the text cites it ([n] is the n-th source)")


class DraftSerializer(serializers.ModelSerializer):
    sources = DraftSourceSerializer(many=True)
    regenerating = serializers.SerializerMethodField(help_text="True while a worker writes a regenerated draft (content empty)")
    used_by = serializers.IntegerField(source="used_by_id", allow_null=True)
    sent_message = serializers.IntegerField(source="sent_message_id", allow_null=True)
    message = serializers.IntegerField(source="message_id", allow_null=True, help_text="The customer message it answers")

    class Meta:
        model = Draft
        fields = [
            "id", "status", "origin", "content", "confidence", "sources", "no_source", "citations_removed", "reasoning",
            "language", "provider", "model", "regenerating", "message", "similarity", "sent_message", "used_by", "used_at",
            "rejected_reason", "created_at",
        ]

    def get_regenerating(self, draft) -> bool:
        return draft.status == Draft.Status.PENDING and not draft.content


class DraftListSerializer(serializers.Serializer):
    results = DraftSerializer(many=True)


class DraftRejectInput(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True)


class DraftApi(AgentApi):
    def draft(self, number: int, draft_id: int) -> Draft:
        return get_object_or_404(Draft, pk=draft_id, conversation=self.conversation(number))


# The newest drafts a conversation lists: a long conversation's history need not come whole.
DRAFTS_LISTED = 50


class ConversationDraftListApi(DraftApi):
    @extend_schema(operation_id="conversation_drafts", responses={200: DraftListSerializer, **error_responses(401, 403, 404, 429)}, tags=["agents"])
    def get(self, request, number: int):
        drafts = ai_selectors.conversation_drafts(conversation=self.conversation(number))[:DRAFTS_LISTED]
        return Response({"results": DraftSerializer(drafts, many=True).data})


class DraftRejectApi(DraftApi):
    @extend_schema(operation_id="conversation_draft_reject", request=DraftRejectInput,
                   responses={200: DraftSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415, 429)}, tags=["agents"])
    def post(self, request, number: int, draft_id: int):
        draft = self.draft(number, draft_id)
        self.require_change("conversations.change_conversation")
        data = DraftRejectInput(data=request.data)
        data.is_valid(raise_exception=True)
        draft = ai_services.draft_reject(draft=draft, by=request.user, reason=data.validated_data.get("reason", ""))
        return Response(DraftSerializer(draft).data)


class DraftRegenerateApi(DraftApi):
    @extend_schema(operation_id="conversation_draft_regenerate", request=None,
                   responses={202: DraftSerializer, **error_responses(401, 403, 404, 409, 429)}, tags=["agents"])
    def post(self, request, number: int, draft_id: int):
        """A new draft for the same message, written by a worker: `regenerating` until then."""
        draft = self.draft(number, draft_id)
        self.require_change("conversations.change_conversation")
        new = ai_services.draft_regenerate(draft=draft, by=request.user)
        return Response(DraftSerializer(new).data, status=status.HTTP_202_ACCEPTED)
