"""The widget API (`/api/widget/v1/`): what a chat widget on a customer's site calls.

A session is one contact on one inbox; everything below it is scoped to that contact's
conversations in that inbox. Private notes and internal activity are never returned.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from config import inputs
from config.api import error_responses
from conversations import services
from conversations.api.authentication import HasWidgetSession, WidgetSessionAuthentication, origin_allowed
from conversations.api.serializers import (
    ContactUpdateInput,
    ConversationCreateInput,
    ContentInput,
    CSATInput,
    FeedbackInput,
    HandoffInput,
    SessionCreateInput,
    WidgetContactSerializer,
    WidgetConversationSerializer,
    WidgetMessageSerializer,
)
from conversations.api.throttling import WidgetAddressThrottle, WidgetSessionCreateThrottle, WidgetSessionThrottle
from conversations.business_hours import BusinessHours
from conversations.models import Conversation, Message, MessageFeedback
from conversations.widget import conversation_handoff_by_customer, message_feedback_set, widget_inbox_for_token, widget_session_open, widget_session_revoke

PAGE_SIZE = 50
VISIBLE_KINDS = [Message.Kind.TEXT]  # never notes, never internal activity
IDEMPOTENCY_HEADER = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
                                      description="A retry with the same key returns the first result instead of a second message.")


def idempotency_key_of(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 100 or not key.isprintable():
        raise exceptions.ValidationError({"Idempotency-Key": ["1-100 printable characters"]})
    return key


class WidgetContentNegotiation(DefaultContentNegotiation):
    """DRF's content negotiation, answered without parsing in the widget's usual case: the API
    has one renderer (JSON), and a browser's fetch() or an HTTP library sends `Accept: */*` or
    none, or asks for JSON, for which DRF's negotiation picks the same renderer and media type.
    Anything else (a `?format=`, another Accept) is negotiated by DRF as before (a 406 when
    JSON is not acceptable)."""

    PLAIN_ACCEPTS = frozenset({"*/*", "application/json"})

    @classmethod
    def is_plain(cls, meta, renderers, format_suffix=None) -> bool:
        """Would DRF's negotiation pick the one JSON renderer, as `application/json`?"""
        return (
            format_suffix is None and len(renderers) == 1 and renderers[0].media_type == "application/json"
            and meta.get("HTTP_ACCEPT", "*/*").strip() in cls.PLAIN_ACCEPTS
            and "format=" not in meta.get("QUERY_STRING", "")
        )

    def select_renderer(self, request, renderers, format_suffix=None):
        if self.is_plain(request.META, renderers, format_suffix):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)


class WidgetApi(APIView):
    content_negotiation_class = WidgetContentNegotiation
    authentication_classes = [WidgetSessionAuthentication]
    permission_classes = [HasWidgetSession]
    throttle_classes = [WidgetSessionThrottle, WidgetAddressThrottle]

    @property
    def session(self):
        return self.request.auth

    def conversation(self, number: int) -> Conversation:
        """The session contact's conversation in the session's inbox, or 404."""
        return get_object_or_404(Conversation, number=number, contact=self.session.contact, inbox=self.session.inbox)

# The widget's hot path: these queries' SQL is built once per process (config/sql.py). The poll
# is one statement: the session contact's conversation in the session's inbox, LEFT JOINed to
# its visible messages (newest page, or after the cursor). No row: no such conversation (404);
# one row without a message: an empty page.
_MESSAGE_COLUMNS = ("id", "direction", "sender_type", "sender_id", "content", "attachments", "sources", "created_at", "feedback__rating")


class _PollPage:
    """The poll's one statement: the session's conversation #number (a row even when it has no
    message to show: a 404 otherwise) with a page of its visible messages, newest first or
    after a cursor, each with its feedback rating.

    The page is a LATERAL subquery ordered by id with its own LIMIT, read from the
    (conversation, id) index (`message_page`): 50 index entries whatever the conversation's
    length, where a join ordered outside could only sort all of the conversation's messages
    (a 1,000-message thread: 2,000 buffers, 10 ms for the newest page). The same estimate for
    every value, so PostgreSQL keeps one generic plan for the prepared statement instead of
    planning it at every poll (docs/performance.md, branch stmt8)."""

    def __init__(self, *, after: bool):
        message, conversation, feedback = Message._meta.db_table, Conversation._meta.db_table, MessageFeedback._meta.db_table
        order = "" if after else " DESC"
        # As a row comparison, which the (conversation, id) index serves and the primary key
        # cannot: a plan walking the primary key from the cursor would read every newer
        # message of the tenant.
        cursor = ' AND (message."conversation_id", message."id") > (conversation."id", %s)' if after else ""
        names = [Message._meta.get_field(name).column for name in _MESSAGE_COLUMNS[:-1]]
        columns, inner = ", ".join(f'page."{name}"' for name in names), ", ".join(f'message."{name}"' for name in names)
        self.sql = (
            f'SELECT conversation."id", {columns},'
            f' (SELECT feedback."rating" FROM "{feedback}" feedback WHERE feedback."message_id" = page."id")'
            f' FROM "{conversation}" conversation LEFT JOIN LATERAL (SELECT {inner} FROM "{message}" message'
            f' WHERE message."conversation_id" = conversation."id" AND message."kind" = ANY(%s)'
            f'{cursor} ORDER BY message."id"{order} LIMIT {PAGE_SIZE}) page ON true'
            f' WHERE conversation."number" = %s AND conversation."contact_id" = %s AND conversation."inbox_id" = %s'
            f' ORDER BY page."id"{order}'
        )
        self.after = after
        self._kinds = [str(kind) for kind in VISIBLE_KINDS]
        # The JSON columns as the ORM reads them (its converters: text to objects).
        self._json = [(1 + _MESSAGE_COLUMNS.index(name), Message._meta.get_field(name)) for name in ("attachments", "sources")]

    def rows(self, *, number: int, contact_id: int, inbox_id: int, after: int | None = None) -> list[tuple]:
        params = [self._kinds, *([after] if self.after else []), number, contact_id, inbox_id]
        db = connections[DEFAULT_DB_ALIAS]
        with db.prepared_cursor() as cursor:  # prepared once per connection (again after a rollback on it)
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        if rows and rows[0][1] is not None:
            rows = [list(row) for row in rows]
            for row in rows:
                for at, field in self._json:
                    row[at] = field.from_db_value(row[at], None, db)
        return rows


_PAGE_NEWEST = _PollPage(after=False)
_PAGE_AFTER = _PollPage(after=True)


def _page_rows(query: _PollPage, *, session, number: int, **values) -> list[tuple]:
    """Rows of _MESSAGE_COLUMNS of the session's conversation `number`, or 404."""
    rows = query.rows(number=number, contact_id=session.contact_id, inbox_id=session.inbox_id, **values)
    if not rows:
        raise Http404("No conversation matches the given query.")
    return [row[1:] for row in rows if row[1] is not None]


def _messages_from_rows(rows) -> list[Message]:
    """Rows of _MESSAGE_COLUMNS as the Message objects _messages_payload reads."""
    messages = []
    for *values, feedback_rating in rows:
        message = Message.from_db(None, _MESSAGE_COLUMNS[:-1], values)
        message.feedback_rating = feedback_rating
        messages.append(message)
    return messages


def _agent_first_names(messages) -> dict[int, str]:
    ids = {m.sender_id for m in messages if m.sender_type == Message.SenderType.AGENT and m.sender_id}
    if not ids:
        return {}  # most pages: no query (an empty `pk__in` is still compiled before Django gives up)
    return {user.pk: user.get_short_name() for user in User.objects.filter(pk__in=ids)}


_TIMESTAMP = serializers.DateTimeField()  # the API's one timestamp format, as the serializers write it


def _messages_payload(messages: list[Message]) -> list[dict]:
    """WidgetMessageSerializer's output (it stays the schema), built as plain dicts: the poll
    and the POST are the widget's hot path, and a ModelSerializer rebuilds its fields from the
    model on every use. tests/conversations/test_widget_payload.py holds the two to the same output."""
    agent_names = _agent_first_names(messages)
    return [
        {
            "id": message.id, "direction": message.direction, "sender_type": message.sender_type,
            "sender_name": WidgetMessageSerializer.sender_name_of(message, agent_names), "content": message.content,
            "attachments": message.attachments, "sources": message.sources,
            "created_at": _TIMESTAMP.to_representation(message.created_at), "feedback": getattr(message, "feedback_rating", None),
        }
        for message in messages
    ]


SessionOutput = inline_serializer("WidgetSession", {
    "token": serializers.CharField(), "expires_at": serializers.DateTimeField(), "contact": WidgetContactSerializer(),
})


class SessionCreateApi(APIView):
    content_negotiation_class = WidgetContentNegotiation
    authentication_classes = []
    permission_classes = []
    throttle_classes = [WidgetSessionCreateThrottle, WidgetAddressThrottle]

    def get_authenticate_header(self, request):
        return 'Bearer realm="widget"'  # an unknown widget token is a 401, as for any credential

    @extend_schema(operation_id="widget_session_create", request=SessionCreateInput,
                   responses={201: SessionOutput, **error_responses(400, 401, 403, 413, 415, 429)}, tags=["widget"])
    def post(self, request):
        data = SessionCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        inbox = widget_inbox_for_token(data.validated_data["widget_token"])
        if inbox is None:
            raise exceptions.AuthenticationFailed("unknown widget token")
        if not origin_allowed(inbox, request):
            raise exceptions.PermissionDenied("this origin may not use this inbox's widget")
        session, token = widget_session_open(
            inbox=inbox, identifier=data.validated_data.get("identifier"), identifier_hash=data.validated_data.get("identifier_hash"),
            name=data.validated_data.get("name", ""), email=data.validated_data.get("email", ""),
        )
        return Response({"token": token, "expires_at": session.expires_at, "contact": WidgetContactSerializer(session.contact).data},
                        status=status.HTTP_201_CREATED)


class SessionCurrentApi(WidgetApi):
    @extend_schema(operation_id="widget_session_revoke", responses={204: None, **error_responses(401, 403, 429)}, tags=["widget"])
    def delete(self, request):
        widget_session_revoke(session=self.session)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactApi(WidgetApi):
    @extend_schema(operation_id="widget_contact_retrieve", responses={200: WidgetContactSerializer, **error_responses(401, 403, 429)}, tags=["widget"])
    def get(self, request):
        return Response(WidgetContactSerializer(self.session.contact).data)

    @extend_schema(operation_id="widget_contact_update", request=ContactUpdateInput,
                   responses={200: WidgetContactSerializer, **error_responses(400, 401, 403, 413, 415, 429)}, tags=["widget"])
    def patch(self, request):
        data = ContactUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        contact = services.contact_update_by_customer(contact=self.session.contact, **data.validated_data)
        return Response(WidgetContactSerializer(contact).data)


class ConversationListApi(WidgetApi):
    @extend_schema(operation_id="widget_conversation_list", responses={200: WidgetConversationSerializer(many=True), **error_responses(401, 403, 429)}, tags=["widget"])
    def get(self, request):
        conversations = Conversation.objects.filter(contact=self.session.contact, inbox=self.session.inbox).order_by("-last_activity_at")[:100]
        return Response(WidgetConversationSerializer(conversations, many=True).data)

    @extend_schema(operation_id="widget_conversation_create", request=ConversationCreateInput, parameters=[IDEMPOTENCY_HEADER],
                   responses={201: WidgetConversationSerializer, 200: WidgetConversationSerializer, **error_responses(400, 401, 403, 413, 415, 429)},
                   tags=["widget"])
    def post(self, request):
        data = ConversationCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation, created = services.conversation_open_once(
            inbox=self.session.inbox, contact=self.session.contact, content=data.validated_data["content"],
            subject=data.validated_data.get("subject", ""), idempotency_key=idempotency_key_of(request),
        )
        return Response(WidgetConversationSerializer(conversation).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


MessagePage = inline_serializer("WidgetMessagePage", {
    "results": WidgetMessageSerializer(many=True), "next_cursor": serializers.CharField(allow_null=True),
})


class MessageListApi(WidgetApi):
    @extend_schema(
        operation_id="widget_message_list",
        parameters=[OpenApiParameter("after", str, description="Cursor from a previous page's next_cursor: only newer messages")],
        responses={200: MessagePage, **error_responses(400, 401, 403, 404, 429)}, tags=["widget"],
    )
    def get(self, request, number: int):
        return Response(message_page(session=self.session, number=number, after=request.query_params.get("after")))

    @extend_schema(operation_id="widget_message_create", request=ContentInput, parameters=[IDEMPOTENCY_HEADER],
                   responses={201: WidgetMessageSerializer, 200: WidgetMessageSerializer, **error_responses(400, 401, 403, 404, 413, 415, 429)},
                   tags=["widget"])
    def post(self, request, number: int):
        content = ContentInput.content_of(request.data)
        payload, created = message_add(session=self.session, number=number, content=content, idempotency_key=idempotency_key_of(request))
        return Response(payload, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


# The two operations a widget repeats all the time: the bodies of MessageListApi's get and post,
# as functions, so the widget API's fast path (conversations/api/widget_fast.py) serves them
# with the very same rules. Both raise what the view would (Http404, ValidationError).


def message_page(*, session, number: int, after: str | None) -> dict:
    """The poll's answer: the newest page of the session's conversation `number`, or only
    what is newer than the cursor `after`."""
    if after is not None:
        cursor = inputs.int_or_none(after)
        if cursor is None:
            raise exceptions.ValidationError({"after": ["not a cursor from this API"]})
        page = _messages_from_rows(_page_rows(_PAGE_AFTER, session=session, number=number, after=cursor))
    else:
        page = _messages_from_rows(_page_rows(_PAGE_NEWEST, session=session, number=number))[::-1]
    next_cursor = str(page[-1].id) if page else after
    return {"results": _messages_payload(page), "next_cursor": next_cursor}


def message_add(*, session, number: int, content: str, idempotency_key: str | None) -> tuple[dict, bool]:
    """The customer's message added to the session's conversation `number`: (its payload,
    whether it is new; False for a retry with the same Idempotency-Key)."""
    try:
        # The session's contact and inbox find the conversation inside the service's one
        # statement (no query of its own first).
        message, created = services.message_add_incoming_by_number(
            number=number, contact_id=session.contact_id, inbox_id=session.inbox_id, content=content,
            idempotency_key=idempotency_key,
        )
    except Conversation.DoesNotExist as error:
        raise Http404("No conversation matches the given query.") from error
    return _messages_payload([message])[0], created


CSATOutput = inline_serializer("WidgetCSAT", {"rating": serializers.IntegerField(), "comment": serializers.CharField()})


class CSATCreateApi(WidgetApi):
    @extend_schema(operation_id="widget_csat_create", request=CSATInput, responses={201: CSATOutput, **error_responses(400, 401, 403, 404, 409, 413, 415, 429)}, tags=["widget"])
    def post(self, request, number: int):
        conversation = self.conversation(number)
        data = CSATInput(data=request.data)
        data.is_valid(raise_exception=True)
        response = services.csat_record(conversation=conversation, rating=data.validated_data["rating"], comment=data.validated_data.get("comment", ""))
        return Response({"rating": response.rating, "comment": response.comment}, status=status.HTTP_201_CREATED)


FeedbackOutput = inline_serializer("WidgetFeedback", {"message_id": serializers.IntegerField(), "rating": serializers.CharField()})


class MessageFeedbackApi(WidgetApi):
    @extend_schema(operation_id="widget_message_feedback", request=FeedbackInput, responses={200: FeedbackOutput, **error_responses(400, 401, 403, 404, 413, 415, 429)}, tags=["widget"])
    def post(self, request, message_id: int):
        message = get_object_or_404(
            Message, pk=message_id, kind__in=VISIBLE_KINDS, sender_type=Message.SenderType.AI,
            conversation__contact=self.session.contact, conversation__inbox=self.session.inbox,
        )
        data = FeedbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        feedback = message_feedback_set(message=message, rating=data.validated_data["rating"])
        return Response({"message_id": message.pk, "rating": feedback.rating})


HandoffOutput = inline_serializer("WidgetHandoff", {
    "number": serializers.IntegerField(), "handed_off_at": serializers.DateTimeField(), "reason": serializers.CharField(),
})


class ConversationHandoffApi(WidgetApi):
    """The widget's "Talk to a person": the conversation goes to the team's queue and the AI
    stops answering it. Asking again changes nothing and answers the same."""

    @extend_schema(operation_id="widget_conversation_handoff", request=HandoffInput,
                   responses={200: HandoffOutput, **error_responses(400, 401, 403, 404, 413, 415, 429)}, tags=["widget"])
    def post(self, request, number: int):
        conversation = self.conversation(number)
        HandoffInput(data=request.data if request.data else {}).is_valid(raise_exception=True)
        conversation = conversation_handoff_by_customer(conversation=conversation)
        return Response({"number": conversation.number, "handed_off_at": conversation.ai_handoff_at, "reason": conversation.ai_handoff_reason})


ConfigOutput = inline_serializer("WidgetConfig", {
    "inbox": serializers.CharField(), "greeting": serializers.CharField(), "color": serializers.CharField(),
    "timezone": serializers.CharField(), "business_hours": serializers.DictField(), "open_now": serializers.BooleanField(),
    "ai_answers": serializers.BooleanField(),
})


class ConfigApi(APIView):
    """Works with a session or, before one exists, with `?widget_token=`."""

    content_negotiation_class = WidgetContentNegotiation
    authentication_classes = [WidgetSessionAuthentication]
    permission_classes = []
    throttle_classes = [WidgetAddressThrottle]

    @extend_schema(operation_id="widget_config", parameters=[OpenApiParameter("widget_token", str, description="The inbox's widget token, when no session yet")],
                   responses={200: ConfigOutput, **error_responses(400, 401, 403, 429)}, tags=["widget"])
    def get(self, request):
        if request.auth is not None:
            inbox = request.auth.inbox
        else:
            token = request.query_params.get("widget_token", "")
            inbox = widget_inbox_for_token(token)
            if inbox is None:
                raise exceptions.NotAuthenticated("send a session token or ?widget_token=")
            if not origin_allowed(inbox, request):
                raise exceptions.PermissionDenied("this origin may not use this inbox's widget")
        return Response({
            "inbox": inbox.name, "greeting": inbox.greeting, "color": inbox.widget_color, "timezone": inbox.timezone,
            "business_hours": inbox.business_hours, "open_now": BusinessHours.of_inbox(inbox).is_open(timezone.now()),
            "ai_answers": inbox.ai_auto_reply,
        })
