"""config/sql.py: a query compiled once runs in whichever tenant is current, with new values."""

from __future__ import annotations

import pytest
from django.db import connection

from config.sql import CompiledQuery
from conversations.models import Inbox
from tests.conversations.factories import InboxFactory

_FRONT_DESK = CompiledQuery(lambda after: Inbox.objects.filter(name="Front desk", pk__gt=after).values_list("channel"), "after")


def test_one_compiled_query_reads_each_tenant_s_own_rows(db, alpha, beta):
    connection.set_tenant(alpha)
    InboxFactory(name="Front desk", channel=Inbox.Channel.EMAIL)
    connection.set_tenant(beta)
    InboxFactory(name="Front desk", channel=Inbox.Channel.API)
    assert _FRONT_DESK.rows(after=0) == [(Inbox.Channel.API,)]
    connection.set_tenant(alpha)
    assert _FRONT_DESK.rows(after=0) == [(Inbox.Channel.EMAIL,)]
    assert _FRONT_DESK.rows(after=Inbox.objects.get(name="Front desk").pk) == []


def test_a_name_the_queryset_does_not_use_is_refused(db):
    with pytest.raises(ValueError, match="does not use"):
        CompiledQuery(lambda after, before: Inbox.objects.filter(pk__gt=after).values_list("id"), "after", "before").rows(after=1, before=2)


def test_a_text_value_is_bound_like_a_number(db, alpha):
    connection.set_tenant(alpha)
    inbox = InboxFactory(name="Front desk")
    named = CompiledQuery(lambda after, name: Inbox.objects.filter(name=name, pk__gt=after).values_list("id"), "after", texts=("name",))
    assert named.rows(after=0, name="Front desk") == [(inbox.pk,)]
    assert named.rows(after=0, name="Back office'; --") == []


def test_instances_are_the_rows_models_with_the_orm_s_conversions(db, alpha):
    from conversations import services
    from conversations.models import Conversation

    connection.set_tenant(alpha)
    contact = services.contact_create(name="Ada", email="ada@example.org", custom_attributes={"plan": "gold"})
    opened = services.conversation_open(inbox=InboxFactory(auto_assign=False), contact=contact, content="hello")
    with_contact = CompiledQuery(lambda pk: Conversation.objects.select_related("contact").filter(pk=pk), "pk")
    [(conversation, found_contact)] = with_contact.instances(pk=opened.pk)
    assert (conversation.pk, conversation.number, conversation.contact_id) == (opened.pk, opened.number, contact.pk)
    assert found_contact.custom_attributes == {"plan": "gold"}  # JSON, not its text
    assert with_contact.instances(pk=opened.pk + 1000) == []
