"""The agents' API (`/api/v1/`): integrations acting as a member of one account, with that
member's visibility and the same services as the admin."""

from __future__ import annotations

from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404
from django.urls import get_script_prefix
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Membership, User
from accounts.services import invitation_create
from ai import services as ai_services
from config import inputs
from config.api import error_responses
from config.errors import ApplicationError
from conversations import selectors, services
from conversations.access import contacts_visible_to, conversations_visible_to
from conversations.api.authentication import ApiTokenAuthentication, IsAccountMember
from conversations.api.serializers import (
    AgentContactInput,
    AgentConversationDetailSerializer,
    AgentConversationSerializer,
    AgentMessageSerializer,
    AssignInput,
    ContactSerializer,
    ContentInput,
    ConversationUpdateInput,
    StatusInput,
)
from conversations.api.throttling import ApiUserThrottle
from conversations.events import Actor
from conversations.filters import PRIORITY_BY_NAME, ConversationFilter
from conversations.models import Conversation, Team


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_number(self, request, paginator):
        number = inputs.int_or_none(request.query_params.get(self.page_query_param, "1"), min_value=1, max_value=10**9)
        if number is None:
            raise exceptions.ValidationError({"page": ["a positive whole number"]})
        return number


def paginated(name: str, item_serializer):
    return inline_serializer(name, {
        "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True), "results": item_serializer(many=True),
    })


ConversationPage = paginated("ConversationPage", AgentConversationSerializer)
ContactPage = paginated("ContactPage", ContactSerializer)


class AgentApi(APIView):
    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [IsAccountMember]
    throttle_classes = [ApiUserThrottle]

    @property
    def account(self):
        return self.request.auth.account

    def visible(self):
        return conversations_visible_to(self.request.user, account=self.account)

    def conversation(self, number: int) -> Conversation:
        conversation = get_object_or_404(Conversation, number=number)
        if not self.visible().filter(pk=conversation.pk).exists():
            raise exceptions.PermissionDenied("this conversation belongs to a team you are not in")
        return conversation

    def actor(self) -> Actor:
        return Actor.agent(self.request.user)

    def require_change(self, perm: str):
        if not self.request.user.has_perm(perm):
            raise exceptions.PermissionDenied("your role may not do this")


class ConversationListApi(AgentApi):
    @extend_schema(operation_id="conversation_list", parameters=[
        OpenApiParameter("status", str, enum=Conversation.Status.values), OpenApiParameter("priority", str, enum=list(PRIORITY_BY_NAME)),
        OpenApiParameter("assignee", str, description="A user id, `me` or `none`"), OpenApiParameter("team", int), OpenApiParameter("inbox", int),
        OpenApiParameter("label", str, description="Label name"),
        OpenApiParameter("updated_since", OpenApiTypes.DATETIME, description=(
            "Activity at or after this time (ISO 8601). The list is in the queue's order, not by activity: "
            "to sync, follow `next` to the last page.")),
        OpenApiParameter("page", int), OpenApiParameter("page_size", int),
    ],
                   description=(
                       "The conversations the token's member may see, in the desk queue's order: those whose customer "
                       "waits for a reply first, longest-waiting first; then the others, most urgent priority first and, "
                       "within a priority, most recent activity first; ties by the newest conversation first. Filters "
                       "narrow the list without changing its order."),
                   responses={200: ConversationPage, **error_responses(400, 401, 404, 429)}, tags=["agents"])
    def get(self, request):
        # The queue's order (conv_queue_order walks it and stops at the page's end), not the
        # last activity's, which no index holds (a customer's message must stay a HOT update).
        queryset = self.visible().select_related("contact").prefetch_related("labels").order_by(*selectors.QUEUE_ORDER)
        filtered = ConversationFilter(request.query_params, queryset=queryset, request=request)
        if not filtered.is_valid():
            raise exceptions.ValidationError(filtered.errors)
        paginator = Pagination()
        page = paginator.paginate_queryset(filtered.qs, request, view=self)  # one row per conversation: no DISTINCT
        return paginator.get_paginated_response(AgentConversationSerializer(page, many=True).data)


class ConversationDetailApi(AgentApi):
    @extend_schema(operation_id="conversation_retrieve", responses={200: AgentConversationDetailSerializer, **error_responses(401, 403, 404, 429)}, tags=["agents"])
    def get(self, request, number: int):
        conversation = self.conversation(number)
        conversation = (Conversation.objects.select_related("contact").prefetch_related(
            "labels", Prefetch("messages", queryset=selectors.conversation_thread(conversation=conversation))).get(pk=conversation.pk))
        return Response(AgentConversationDetailSerializer(conversation).data)

    @extend_schema(operation_id="conversation_update", request=ConversationUpdateInput, responses={200: AgentConversationSerializer, **error_responses(400, 401, 403, 404, 413, 415, 429)}, tags=["agents"])
    def patch(self, request, number: int):
        """Set the conversation's category: a correction of the AI, which it learns from."""
        conversation = self.conversation(number)
        self.require_change("conversations.change_conversation")
        data = ConversationUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        ai_services.classification_correct(conversation=conversation, category=data.validated_data["ai_category"], by=request.user)
        return Response(AgentConversationSerializer(Conversation.objects.select_related("contact").get(pk=conversation.pk)).data)


class ReplyInput(ContentInput):
    draft_id = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text="The AI draft this reply used (GET .../drafts): recorded as accepted or edited")


class ConversationReplyApi(AgentApi):
    @extend_schema(operation_id="conversation_reply", request=ReplyInput, responses={201: AgentMessageSerializer, **error_responses(400, 401, 403, 404, 413, 415, 429)}, tags=["agents"])
    def post(self, request, number: int):
        conversation = self.conversation(number)
        self.require_change("conversations.change_conversation")
        data = ReplyInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_add_reply(conversation=conversation, content=selectors.canned_response_expand(data.validated_data["content"]), author=request.user)
        ai_services.draft_use_record(draft_id=data.validated_data.get("draft_id"), conversation=conversation, sent_message=message, by=request.user)
        return Response(AgentMessageSerializer(message).data, status=status.HTTP_201_CREATED)


class ConversationNoteApi(AgentApi):
    @extend_schema(operation_id="conversation_note", request=ContentInput, responses={201: AgentMessageSerializer, **error_responses(400, 401, 403, 404, 413, 415, 429)}, tags=["agents"])
    def post(self, request, number: int):
        conversation = self.conversation(number)
        self.require_change("conversations.change_conversation")
        data = ContentInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_add_note(conversation=conversation, content=data.validated_data["content"], author=request.user)
        return Response(AgentMessageSerializer(message).data, status=status.HTTP_201_CREATED)


class ConversationAssignApi(AgentApi):
    @extend_schema(operation_id="conversation_assign", request=AssignInput, responses={200: AgentConversationSerializer, **error_responses(400, 401, 403, 404, 413, 415, 429)}, tags=["agents"])
    def post(self, request, number: int):
        conversation = self.conversation(number)
        self.require_change("conversations.change_conversation")
        data = AssignInput(data=request.data)
        data.is_valid(raise_exception=True)
        changes = {}  # a part left out of the request stays as it is; null clears it
        if "team_id" in data.validated_data:
            team_id = data.validated_data["team_id"]
            changes["team"] = None if team_id is None else Team.objects.filter(pk=team_id).first()
            if team_id is not None and changes["team"] is None:
                raise ApplicationError("no such team", code="invalid", fields={"team_id": ["no such team"]})
        if "assignee_id" in data.validated_data:
            assignee_id = data.validated_data["assignee_id"]
            changes["assignee"] = None
            if assignee_id is not None:
                changes["assignee"] = User.objects.filter(pk=assignee_id, memberships__account=self.account).first()
                if changes["assignee"] is None:
                    raise ApplicationError("no such member", code="invalid", fields={"assignee_id": ["not a member of this account"]})
        conversation = services.conversation_assignment_set(conversation=conversation, by=self.actor(), **changes)
        return Response(AgentConversationSerializer(Conversation.objects.select_related("contact").get(pk=conversation.pk)).data)


class ConversationStatusApi(AgentApi):
    @extend_schema(operation_id="conversation_status", request=StatusInput, responses={200: AgentConversationSerializer, **error_responses(400, 401, 403, 404, 413, 415, 429)}, tags=["agents"])
    def post(self, request, number: int):
        conversation = self.conversation(number)
        self.require_change("conversations.change_conversation")
        data = StatusInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.conversation_status_set(conversation=conversation, status=data.validated_data["status"], by=self.actor(),
                                                        snoozed_until=data.validated_data.get("snoozed_until"))
        return Response(AgentConversationSerializer(Conversation.objects.select_related("contact").get(pk=conversation.pk)).data)


class ContactListApi(AgentApi):
    @extend_schema(operation_id="contact_list", parameters=[OpenApiParameter("q", str, description="Name, email or external id contains"),
                                                            OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
                   responses={200: ContactPage, **error_responses(400, 401, 404, 429)}, tags=["agents"])
    def get(self, request):
        contacts = contacts_visible_to(request.user, account=self.account).order_by("name", "id")
        term = request.query_params.get("q", "").strip()
        if len(term) > 200 or "\x00" in term:
            raise exceptions.ValidationError({"q": ["at most 200 characters, no NUL"]})
        if term:
            contacts = contacts.filter(Q(name__icontains=term) | Q(email__icontains=term) | Q(external_id__icontains=term))
        paginator = Pagination()
        page = paginator.paginate_queryset(contacts, request, view=self)
        return paginator.get_paginated_response(ContactSerializer(page, many=True).data)

    @extend_schema(operation_id="contact_create", request=AgentContactInput, responses={201: ContactSerializer, **error_responses(400, 401, 403, 409, 413, 415, 429)}, tags=["agents"])
    def post(self, request):
        self.require_change("conversations.add_contact")
        data = AgentContactInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        contact = services.contact_create(
            name=fields.get("name", ""), email=fields.get("email", ""), phone=fields.get("phone", ""),
            external_id=fields.get("external_id"), custom_attributes=fields.get("custom_attributes"),
        )
        return Response(ContactSerializer(contact).data, status=status.HTTP_201_CREATED)


class ContactDetailApi(AgentApi):
    @extend_schema(operation_id="contact_retrieve", responses={200: ContactSerializer, **error_responses(401, 404, 429)}, tags=["agents"])
    def get(self, request, contact_id: int):
        return Response(ContactSerializer(get_object_or_404(contacts_visible_to(request.user, account=self.account), pk=contact_id)).data)

    @extend_schema(operation_id="contact_update", request=AgentContactInput, responses={200: ContactSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415, 429)}, tags=["agents"])
    def patch(self, request, contact_id: int):
        contact = get_object_or_404(contacts_visible_to(request.user, account=self.account), pk=contact_id)
        self.require_change("conversations.change_contact")
        data = AgentContactInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if "external_id" in fields and fields["external_id"] is None:
            fields["clear_external_id"] = fields.pop("external_id") is None  # null removes it
        contact = services.contact_update(contact=contact, **fields)
        return Response(ContactSerializer(contact).data)



class InvitationCreateApi(AgentApi):
    """Owners and admins invite a person by e-mail (the same service as the desk's
    Invitations › Add): 402 `plan_limit_exceeded` when the plan has no free seat."""

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.AGENT)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        email = serializers.EmailField()
        role = serializers.CharField()
        expires_at = serializers.DateTimeField()

    @extend_schema(operation_id="invitation_create", request=InputSerializer, responses={201: OutputSerializer, **error_responses(400, 401, 402, 403, 409, 413, 415, 429)}, tags=["agents"])
    def post(self, request):
        self.require_change("accounts.add_invitation")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = invitation_create(
            account=self.account, email=data.validated_data["email"], role=data.validated_data["role"],
            invited_by=request.user, base_url=request.build_absolute_uri(get_script_prefix()),
        )
        return Response(self.OutputSerializer(invitation).data, status=status.HTTP_201_CREATED)
