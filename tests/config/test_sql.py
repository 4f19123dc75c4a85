"""config/sql.py: a query compiled once runs in whichever tenant is current, with new values."""

from __future__ import annotations

import pytest
from django.db import connection

from config.sql import CompiledQuery
from conversations.models import Inbox
from tests.conversations.factories import InboxFactory

_NAMED = CompiledQuery(lambda name: Inbox.objects.filter(name=name).values_list("name", "channel"), "name")


def test_one_compiled_query_reads_each_tenant_s_own_rows(db, alpha, beta):
    connection.set_tenant(alpha)
    InboxFactory(name="Front desk", channel=Inbox.Channel.EMAIL)
    connection.set_tenant(beta)
    InboxFactory(name="Front desk", channel=Inbox.Channel.API)
    assert _NAMED.rows(name="Front desk") == [("Front desk", Inbox.Channel.API)]
    connection.set_tenant(alpha)
    assert _NAMED.rows(name="Front desk") == [("Front desk", Inbox.Channel.EMAIL)]
    assert _NAMED.rows(name="Back office") == []


def test_a_name_the_queryset_does_not_use_is_refused(db):
    with pytest.raises(ValueError, match="does not use"):
        CompiledQuery(lambda name, channel: Inbox.objects.filter(name=name).values_list("id"), "name", "channel").rows(name="x", channel="y")
