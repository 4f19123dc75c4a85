"""A conversation's messages as the conversation page shows them, rendered in one pass.

A thread of 500 messages through the template engine cost ~60% of the page's Python: per
message an if-chain, a `date` filter (a DateFormat object, translated month names) and a
`linebreaksbr`, ~130 template nodes each (bench/desk_profile.py, docs/performance.md). Here
each message is one string format with the same markup the template had; the text is escaped
and its line breaks kept as `linebreaksbr` does, the time is MessageTime's (Django's
"M j, H:i" in the active time zone, with the month names looked up once per page).
tests/conversations/test_conversation_thread.py compares the output with the template's.
"""

from __future__ import annotations

from html import escape

from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.safestring import SafeString, mark_safe

from conversations.models import Message

# The markup of each kind of message; "who" is the line above the text. Every value is
# escaped with html.escape, which is what Django's `escape` and `linebreaksbr` call.
_ACTIVITY = '<div class="msg activity">{} · {}</div>'
_MESSAGE = '<div class="msg {kind}" data-kind="{kind}"><div class="who">{who} · {when}</div>{text}</div>'


def _text(content: str) -> str:
    """Django's `linebreaksbr` filter, without its per-call wrappers (500 messages a page)."""
    return escape(content.replace("\r\n", "\n").replace("\r", "\n")).replace("\n", "<br>")


class MessageTime:
    """`{{ moment|date:"M j, H:i" }}` in the active time zone, for many moments of one page."""

    def __init__(self):
        self.zone = timezone.get_current_timezone()
        self.months = {number: str(name).title() for number, name in MONTHS_3.items()}  # what "M" shows

    def __call__(self, moment) -> str:
        local = moment.astimezone(self.zone)
        return f"{self.months[local.month]} {local.day}, {local.hour:02d}:{local.minute:02d}"


def thread_html(*, conversation, thread: list[tuple[Message, object]]) -> SafeString:
    """The thread's messages, oldest first; `thread` pairs each message (a Message, or a row
    with its kind, sender_type, content and created_at) with its agent (a User, or None when
    the sender is not an agent or no longer a member)."""
    time = MessageTime()
    contact = escape(str(conversation.contact))
    parts = []
    for message, agent in thread:
        when = time(message.created_at)
        kind = message.kind
        if kind == Message.Kind.ACTIVITY:
            parts.append(_ACTIVITY.format(escape(message.content), escape(when)))
            continue
        if kind == Message.Kind.NOTE:
            kind, who = "note", "Private note · " + escape((agent.get_full_name() if agent else "") or "agent")
        elif message.sender_type == Message.SenderType.CONTACT:
            kind, who = "contact", contact
        elif message.sender_type == Message.SenderType.AI:
            kind, who = "ai", "AI"
        else:
            kind, who = "agent", escape((agent.get_full_name() if agent else "") or "Agent")
        parts.append(_MESSAGE.format(kind=kind, who=who, when=escape(when), text=_text(message.content)))
    return mark_safe("\n".join(parts))
