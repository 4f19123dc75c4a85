"""The widget's POST and poll as statements prepared on the server connection
(config/tenant_postgresql/base.py, PreparingCursor): each tenant still reads and writes only its
own tables when one connection serves several tenants; the poll's page (a LATERAL subquery on
the (conversation, id) index, conversations/api/widget.py) is the conversation's visible
messages in order, newest page first, then everything after a cursor, with nothing skipped or
repeated."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from conversations import services
from conversations.api.widget import PAGE_SIZE, message_page
from conversations.models import Conversation, Message
from tests.conversations.factories import ContactFactory, InboxFactory


def _session_of(conversation) -> SimpleNamespace:
    return SimpleNamespace(contact_id=conversation.contact_id, inbox_id=conversation.inbox_id)


def _post(conversation, content: str):
    return services.message_add_incoming_by_number(
        number=conversation.number, contact_id=conversation.contact_id, inbox_id=conversation.inbox_id, content=content)


def _prepared_widget_statements() -> dict[str, int]:
    """The widget's statements prepared on this connection: their first words -> generic plans used."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans FROM pg_prepared_statements")
        return {statement[:40]: plans for statement, plans in cursor.fetchall()}


@pytest.mark.django_db
def test_prepared_post_and_poll_keep_each_tenant_in_its_own_schema(alpha, beta):
    # One connection (this test's) serves alpha, then beta, then alpha again with the same
    # prepared statements: PostgreSQL analyses them again under each tenant's search path.
    opened = {}
    for account in (alpha, beta):
        with tenant_context(account):
            opened[account.schema_name] = services.conversation_open(
                inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content=f"{account.schema_name} opens")
    for round_ in range(3):
        for account in (alpha, beta, alpha):
            with tenant_context(account):
                conversation = opened[account.schema_name]
                message, created = _post(conversation, f"{account.schema_name} writes {round_}")
                assert created and Message.objects.filter(pk=message.pk, content=f"{account.schema_name} writes {round_}").exists()
                page = message_page(session=_session_of(conversation), number=conversation.number, after=None)
                assert {m["content"].split()[0] for m in page["results"]} == {account.schema_name}
    for account, other, written in ((alpha, beta, 6), (beta, alpha, 3)):
        with tenant_context(account):
            contents = list(Message.objects.values_list("content", flat=True))
            assert contents and not any(content.startswith(other.schema_name) for content in contents)
            assert Message.objects.filter(content__startswith=f"{account.schema_name} writes").count() == written
    # The statements did run prepared, with one plan kept each (else this test proves nothing).
    prepared = _prepared_widget_statements()
    assert any(s.startswith("WITH target") for s in prepared) and any(s.startswith('SELECT conversation."id"') for s in prepared)
    assert all(plans > 0 for plans in prepared.values())


@pytest.mark.usefixtures("in_alpha")
def test_poll_pages_a_long_conversation_in_order_without_notes(open_conversation, make_member):
    agent = make_member()
    conversation = open_conversation(content="first")
    for n in range(2 * PAGE_SIZE + 7):
        _post(conversation, f"customer {n}")
        if n % 10 == 0:
            services.message_add_note(conversation=conversation, content=f"note {n}", author=agent)
    other = open_conversation(contact=ContactFactory(), content="someone else")  # interleaved ids of another thread
    _post(other, "not in the page")
    visible = list(
        Message.objects.filter(conversation=conversation, kind=Message.Kind.TEXT).order_by("id").values_list("id", "content"))
    session = _session_of(conversation)

    newest = message_page(session=session, number=conversation.number, after=None)
    assert [(m["id"], m["content"]) for m in newest["results"]] == visible[-PAGE_SIZE:]
    assert newest["next_cursor"] == str(visible[-1][0])

    seen, cursor = [], str(visible[0][0] - 1)
    while True:
        page = message_page(session=session, number=conversation.number, after=cursor)
        if not page["results"]:
            break
        assert len(page["results"]) <= PAGE_SIZE
        seen += [(m["id"], m["content"]) for m in page["results"]]
        cursor = page["next_cursor"]
    assert seen == visible  # every visible message once, in order; no note, nothing of the other thread
    assert message_page(session=session, number=conversation.number, after=cursor) == {"results": [], "next_cursor": cursor}

    with pytest.raises(Exception) as missing:
        message_page(session=_session_of(other), number=conversation.number, after=None)  # not that contact's
    assert missing.typename == "Http404"
    assert Conversation.objects.filter(number=conversation.number).exists()
