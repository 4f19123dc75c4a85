"""The widget's message payload is built as plain dicts on the hot path (poll and POST); it
must stay exactly what WidgetMessageSerializer, the documented schema, would return."""

from __future__ import annotations

import json

import pytest
from django.db.models import F
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer

from conversations import services
from conversations.api.serializers import ContentInput, WidgetMessageSerializer
from conversations.api.widget import _agent_first_names, _messages_payload
from conversations.models import Message, MessageFeedback

pytestmark = pytest.mark.usefixtures("in_alpha")


def test_plain_payload_matches_the_serializer(open_conversation, make_member):
    conversation = open_conversation(content="My parcel is late")
    agent = make_member(user__full_name="Dana Reyes")
    services.message_add_reply(conversation=conversation, content="On it", author=agent)
    ai = services.message_add_reply(conversation=conversation, content="Try the tracking page", by_ai=True)
    MessageFeedback.objects.create(message=ai, rating="up")
    gone = make_member(user__full_name="Former Agent")
    services.message_add_reply(conversation=conversation, content="Hello", author=gone)
    services.message_add_incoming(conversation=conversation, content="Thanks", attachments=[{"name": "receipt.pdf", "size": 10}])
    gone.delete()  # an agent who left: "Support"

    messages = list(Message.objects.filter(conversation=conversation).annotate(feedback_rating=F("feedback__rating")).order_by("id"))
    expected = WidgetMessageSerializer(messages, many=True, context={"agent_names": _agent_first_names(messages)}).data
    plain = _messages_payload(messages)

    render = JSONRenderer().render
    assert render(plain) == render(expected)
    names = {m["content"]: m["sender_name"] for m in json.loads(render(plain))}
    assert names == {"My parcel is late": "", "On it": "Dana", "Try the tracking page": "Assistant", "Hello": "Support", "Thanks": ""}


CONTENTS = [
    {"content": "Where is my parcel?"}, {"content": "  padded  "}, {"content": ""}, {"content": "   "}, {"content": None},
    {"content": 42}, {"content": 4.5}, {"content": True}, {"content": ["a"]}, {"content": {"a": 1}}, {},
    {"content": "x" * 10000}, {"content": "x" * 10001}, {"content": "nul \x00 inside"}, {"content": "surrogate \ud800"},
    {"content": "ok", "extra": "ignored"}, ["not", "an", "object"], "text",
]


@pytest.mark.parametrize("data", CONTENTS, ids=range(len(CONTENTS)))
def test_the_posts_content_check_answers_as_the_serializer(data):
    """The POST message validates with ContentInput.content_of: the same content, or the same
    errors (field, message and code), as the ContentInput serializer it documents."""
    serializer = ContentInput(data=data)
    if serializer.is_valid():
        assert ContentInput.content_of(data) == serializer.validated_data["content"]
        return
    with pytest.raises(ValidationError) as raised:
        ContentInput.content_of(data)
    assert raised.value.detail == serializer.errors  # the fields and their messages
    assert raised.value.get_codes() == {field: [error.code for error in errors] for field, errors in serializer.errors.items()}
