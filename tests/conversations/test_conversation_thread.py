"""The conversation page's thread, rendered in one pass by conversations/admin/thread.py,
shows what the template loop it replaced showed: each kind of message with its author, its
time in the account's time zone and its text escaped with line breaks kept."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.template import Context, Template
from django.utils import timezone

from accounts.middleware import tenant_cache_clear
from accounts.models import Account, Membership
from conversations import services
from conversations.admin.thread import MessageTime, thread_html
from conversations.models import Message
from tests.accounts.factories import PASSWORD
from tests.conftest import admin_login
from tests.conversations.factories import ContactFactory

pytestmark = pytest.mark.usefixtures("in_alpha")

# The template loop the page had before (templates/admin/conversations/conversation/page.html).
TEMPLATE_LOOP = """{% for message, agent in thread %}
{% if message.kind == "activity" %}<div class="msg activity">{{ message.content }} · {{ message.created_at|date:"M j, H:i" }}</div>
{% elif message.kind == "note" %}<div class="msg note" data-kind="note"><div class="who">Private note · {{ agent.get_full_name|default:"agent" }} · {{ message.created_at|date:"M j, H:i" }}</div>{{ message.content|linebreaksbr }}</div>
{% elif message.sender_type == "contact" %}<div class="msg contact" data-kind="contact"><div class="who">{{ conversation.contact }} · {{ message.created_at|date:"M j, H:i" }}</div>{{ message.content|linebreaksbr }}</div>
{% elif message.sender_type == "ai" %}<div class="msg ai" data-kind="ai"><div class="who">AI · {{ message.created_at|date:"M j, H:i" }}</div>{{ message.content|linebreaksbr }}</div>
{% else %}<div class="msg agent" data-kind="agent"><div class="who">{{ agent.get_full_name|default:"Agent" }} · {{ message.created_at|date:"M j, H:i" }}</div>{{ message.content|linebreaksbr }}</div>
{% endif %}{% endfor %}"""


def _lines(html: str) -> list[str]:
    return [line.strip() for line in html.splitlines() if line.strip()]


@pytest.fixture
def every_kind_of_message(make_member, open_conversation):
    agent = make_member(role=Membership.Role.AGENT)
    type(agent).objects.filter(pk=agent.pk).update(full_name="Dana <b>Agent</b>")
    agent.refresh_from_db()
    conversation = open_conversation(contact=ContactFactory(name="Ann & <i>Bo</i>"), content="Hello,\nmy <order> is late\n\nplease")
    services.message_add_reply(conversation=conversation, content="Sorry!\nLooking into it", author=agent)
    services.message_add_note(conversation=conversation, content="Check the <warehouse>", author=agent)
    common = {"conversation": conversation, "direction": Message.Direction.OUTGOING}
    Message.objects.create(**common, kind=Message.Kind.TEXT, sender_type=Message.SenderType.AI, content="An AI answer & a link")
    Message.objects.create(**common, kind=Message.Kind.ACTIVITY, sender_type=Message.SenderType.SYSTEM, content="Resolved by <Dana>")
    Message.objects.create(**common, kind=Message.Kind.TEXT, sender_type=Message.SenderType.SYSTEM, content="A system line")
    Message.objects.create(**common, kind=Message.Kind.TEXT, sender_type=Message.SenderType.AGENT, sender_id=None, content="From a member who left")
    Message.objects.create(**common, kind=Message.Kind.NOTE, sender_type=Message.SenderType.AGENT, sender_id=None, content="A note of a member who left")
    thread = [(m, agent if m.sender_type == "agent" and m.sender_id == agent.pk else None)
              for m in Message.objects.filter(conversation=conversation).select_related("conversation__contact")]
    return conversation, thread


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_thread_shows_what_the_template_showed(every_kind_of_message, zone):
    conversation, thread = every_kind_of_message
    with timezone.override(zone):
        expected = Template(TEMPLATE_LOOP).render(Context({"thread": thread, "conversation": conversation}))
        shown = thread_html(conversation=conversation, thread=thread)
    assert _lines(shown) == _lines(expected)
    assert len(_lines(shown)) == 8
    assert "my &lt;order&gt; is late<br><br>please" in shown and "Ann &amp; &lt;i&gt;Bo&lt;/i&gt;" in shown


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/St_Johns", "Australia/Lord_Howe"])
def test_message_time_is_djangos_date_format_in_the_time_zone(zone):
    """Every month, and the hours around daylight-saving changes."""
    moments = [datetime(2026, month, day, hour, minute, tzinfo=dt_timezone.utc)
               for month in range(1, 13) for day, hour, minute in [(1, 0, 5), (15, 13, 59), (28, 23, 30)]]
    moments += [datetime(2026, 3, 29, 0, 0, tzinfo=dt_timezone.utc) + timedelta(minutes=15 * n) for n in range(16)]
    moments += [datetime(2026, 10, 4, 14, 0, tzinfo=dt_timezone.utc) + timedelta(minutes=15 * n) for n in range(16)]
    with timezone.override(zone):
        template = Template('{% for m in moments %}{{ m|date:"M j, H:i" }}\n{% endfor %}')
        expected = template.render(Context({"moments": moments})).splitlines()
        assert [MessageTime()(moment) for moment in moments] == expected


def test_conversation_page_shows_the_thread_in_the_accounts_time_zone(alpha, alpha_client, make_member, every_kind_of_message):
    conversation, thread = every_kind_of_message
    Account.objects.filter(pk=alpha.pk).update(timezone="Asia/Kolkata")
    tenant_cache_clear()
    try:
        manager = make_member(role=Membership.Role.MANAGER)
        admin_login(alpha_client, manager.email, PASSWORD)
        page = alpha_client.get(f"/admin/conversations/conversation/{conversation.pk}/change/").content.decode()
    finally:
        tenant_cache_clear()
    first = thread[0][0].created_at.astimezone(timezone.get_fixed_timezone(330))
    assert re.search(rf'<div class="msg contact" data-kind="contact"><div class="who">Ann &amp; &lt;i&gt;Bo&lt;/i&gt; · \w+ {first.day}, {first:%H:%M}</div>Hello,<br>', page)
    assert '<div class="who">Dana &lt;b&gt;Agent&lt;/b&gt; · ' in page and "Private note · Dana &lt;b&gt;Agent&lt;/b&gt;" in page
    assert '<div class="msg activity">Resolved by &lt;Dana&gt; · ' in page
    with timezone.override("Asia/Kolkata"):  # the page reads rows, not Message instances: the same thread
        assert thread_html(conversation=conversation, thread=thread) in page
