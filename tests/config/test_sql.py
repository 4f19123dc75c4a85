"""config/sql.py: a query compiled once runs in whichever tenant is current, with new values."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from config.sql import CompiledQuery
from conversations.models import Inbox
from tests.conversations.factories import ContactFactory, InboxFactory

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


# ----------------------------------------------------------------------------- writes


def test_a_compiled_insert_stores_what_create_stores_in_the_current_tenant(db, alpha, beta):
    from config.sql import CompiledInsert
    from conversations import services
    from conversations.models import Message

    insert = CompiledInsert(Message)
    made = {}
    for tenant in (alpha, beta):
        connection.set_tenant(tenant)
        conversation = services.conversation_open(inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content="hello")
        fields = dict(conversation=conversation, direction=Message.Direction.INCOMING, sender_type=Message.SenderType.CONTACT,
                      sender_id=conversation.contact_id, content=f"parcel in {tenant.schema_name}",
                      attachments=[{"name": "a.png", "size": 3}], idempotency_key="k-1")
        ours, orms = insert.create(**fields), Message.objects.create(**{**fields, "idempotency_key": "k-2"})
        made[tenant.schema_name] = ours.pk
        assert ours.pk is not None and not ours._state.adding
        stored, by_orm = Message.objects.get(pk=ours.pk), Message.objects.get(pk=orms.pk)
        columns = [f.attname for f in Message._meta.concrete_fields if f.attname not in ("id", "idempotency_key", "created_at")]
        assert [getattr(stored, c) for c in columns] == [getattr(by_orm, c) for c in columns]
        assert stored.attachments == [{"name": "a.png", "size": 3}]  # JSON, not its text
        assert stored.created_at is not None
    connection.set_tenant(alpha)
    assert Message.objects.get(pk=made["alpha"]).content == "parcel in alpha"


def test_a_compiled_insert_sends_the_model_s_signals(db, alpha):
    from django.db.models.signals import post_save, pre_save

    from config.sql import CompiledInsert

    connection.set_tenant(alpha)
    seen = []

    def pre(sender, instance, **kwargs):
        seen.append(("pre_save", instance.pk, kwargs["update_fields"]))

    def post(sender, instance, created, **kwargs):
        seen.append(("post_save", instance.pk, created))

    pre_save.connect(pre, sender=Inbox)
    post_save.connect(post, sender=Inbox)
    try:
        inbox = CompiledInsert(Inbox).create(name="Front desk")
    finally:
        pre_save.disconnect(pre, sender=Inbox)
        post_save.disconnect(post, sender=Inbox)
    assert seen == [("pre_save", None, None), ("post_save", inbox.pk, True)]
    assert Inbox.objects.get(pk=inbox.pk).widget_token == inbox.widget_token  # the model's defaults, stored


def test_a_compiled_update_binds_datetimes_texts_and_expressions(db, alpha):
    from datetime import timedelta

    from django.db.models import F, Value
    from django.utils import timezone

    from config.sql import update_query

    connection.set_tenant(alpha)
    first, second = InboxFactory(name="One"), InboxFactory(name="Two")
    rename = CompiledQuery(lambda pk, name: update_query(Inbox.objects.filter(pk=pk), name=Value(name), greeting=F("name")),
                           "pk", texts=("name",))
    assert rename.execute(pk=first.pk, name="Uno'; --") == 1
    assert rename.execute(pk=second.pk + first.pk + 1000, name="nobody") == 0
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.name, first.greeting, second.name) == ("Uno'; --", "One", "Two")

    from conversations import services
    from conversations.models import Conversation

    conversation = services.conversation_open(inbox=first, contact=ContactFactory(), content="hello")
    later = timezone.now() + timedelta(hours=2)
    touch = CompiledQuery(lambda pk, at: update_query(Conversation.objects.filter(pk=pk), last_activity_at=Value(at)), "pk", "at")
    assert touch.execute(pk=conversation.pk, at=later) == 1
    assert Conversation.objects.get(pk=conversation.pk).last_activity_at == later


def _stored_row(pk: int) -> dict:
    """The row as PostgreSQL holds it (JSON of every column but the id), not as the ORM reads it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT (to_jsonb(m) - 'id')::text FROM conversations_message m WHERE id = %s", [pk])
        return json.loads(cursor.fetchone()[0])


def test_a_compiled_insert_stores_the_row_create_stores_for_every_kind_of_value(db, alpha):
    """The INSERT's parameters come from a plan made once per model (config.sql._InsertPlan):
    text, moments and JSON as the ORM would pass them, anything else through the ORM's own
    preparation. Whatever the path, the stored row is the one Message.objects.create stores."""
    from datetime import datetime, timedelta, timezone as fixed_zone
    from zoneinfo import ZoneInfo

    from django.utils.translation import gettext_lazy

    from config.sql import CompiledInsert
    from conversations import services
    from conversations.models import Message

    connection.set_tenant(alpha)
    conversation = services.conversation_open(inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content="hello")
    insert = CompiledInsert(Message)
    new_york = datetime(2026, 3, 8, 1, 59, 30, 123456, tzinfo=ZoneInfo("America/New_York"))  # the night clocks change
    cases = [
        # the widget's message: choices (str subclasses), None, an aware datetime in another zone
        dict(direction=Message.Direction.INCOMING, sender_type=Message.SenderType.CONTACT, sender_id=conversation.contact_id,
             content="Where is my parcel? ü 😀 'quoted' \\ back", attachments=[], created_at=new_york),
        # JSON of every shape, a moment in a fixed offset, the id-sized integer, plain strings for choices
        dict(direction="outgoing", kind="note", sender_type="agent", sender_id=2**40, content="x",
             attachments=[{"name": "ä.png", "size": 3, "ratio": 0.1, "ok": True, "none": None, "nested": {"a": [1, "2"]}}],
             sources=[{"slug": "returns", "title": "Returns"}], created_at=datetime(2026, 12, 3, 12, 0, tzinfo=fixed_zone(timedelta(hours=5, minutes=30))),
             read_at=datetime(2026, 12, 3, 13, 0, tzinfo=fixed_zone.utc)),
        # values the plan leaves to the ORM: a lazy string, a dict where a list is usual, a string for an integer
        dict(direction=Message.Direction.INCOMING, sender_type=Message.SenderType.CONTACT, sender_id="17",
             content=gettext_lazy("Thank you"), attachments={"one": 1}, created_at=datetime(2026, 1, 1, tzinfo=fixed_zone.utc)),
    ]
    attributes = [f.attname for f in Message._meta.concrete_fields if f.attname not in ("id", "idempotency_key")]
    for i, fields in enumerate(cases):
        # By the relation (the model's keyword form) and by its column (the plan's positional form).
        for way, relation in [("object", {"conversation": conversation}), ("id", {"conversation_id": conversation.pk})]:
            ours = insert.create(idempotency_key=f"compiled-{i}-{way}", **relation, **fields)
            orms = Message.objects.create(idempotency_key=f"orm-{i}-{way}", **relation, **fields)
            stored, by_orm = _stored_row(ours.pk), _stored_row(orms.pk)
            assert stored.pop("idempotency_key") == f"compiled-{i}-{way}" and by_orm.pop("idempotency_key") == f"orm-{i}-{way}"
            assert stored == by_orm, (i, way)
            assert [getattr(ours, name) for name in attributes] == [getattr(orms, name) for name in attributes], (i, way)
            assert (ours._state.adding, ours._state.db) == (orms._state.adding, orms._state.db) == (False, "default")
    assert Message.objects.get(idempotency_key="compiled-0-id").created_at == new_york  # the instant, whatever the zone
    assert _stored_row(Message.objects.get(idempotency_key="compiled-1-id").pk)["attachments"][0]["nested"] == {"a": [1, "2"]}


def test_a_compiled_insert_takes_a_naive_moment_as_the_orm_does(db, alpha, settings):
    """A naive datetime is the ORM's case (a warning, then the default time zone), not the plan's."""
    from datetime import datetime

    from config.sql import CompiledInsert
    from conversations import services
    from conversations.models import Message

    settings.TIME_ZONE = "Europe/Paris"
    connection.set_tenant(alpha)
    conversation = services.conversation_open(inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content="hello")
    fields = dict(conversation=conversation, direction="incoming", sender_type="contact", content="naive", created_at=datetime(2026, 7, 1, 9, 0))
    with pytest.warns(RuntimeWarning, match="naive datetime"):
        ours = CompiledInsert(Message).create(idempotency_key="compiled", **fields)
    with pytest.warns(RuntimeWarning, match="naive datetime"):
        orms = Message.objects.create(idempotency_key="orm", **fields)
    stored, by_orm = _stored_row(ours.pk), _stored_row(orms.pk)
    assert stored["created_at"] == by_orm["created_at"]
    assert stored["created_at"].startswith("2026-07-01T07:00:00")  # 09:00 in Paris (the server's zone is UTC)
