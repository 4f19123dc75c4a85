"""Erasing a contact: nothing of their words or identity is left in any table of the tenant
(found by scanning every text, JSON, array, tsvector and bytea column, so a table added later is
covered too), no search finds them, reports count the same, other tenants are untouched, and
only owners may do it."""

import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.management import CommandError, call_command
from django.db import connection
from django.forms.models import model_to_dict
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts.models import Membership
from accounts.services import api_token_create
from ai.models import AICall, CachedResponse, Category, Classification, Draft, KnowledgeGap, Operation, TrainingExample
from analytics.rollups import account_today, days_compute
from conversations import events, selectors, services
from conversations.models import Contact, Conversation, ConversationEvent, Message, WidgetSession
from tests.accounts.factories import PASSWORD, UserFactory
from tests.conftest import REPO_DIR, admin_login
from tests.conversations.factories import InboxFactory

pytestmark = pytest.mark.usefixtures("in_alpha")
Role = Membership.Role
# A word no fixture or migration writes: wherever it is found, it came from this customer.
MARKER = "zorblatt4417"
# Column types that can hold text; bytea is searched for the marker's bytes (a pickle, a blob).
TEXT_TYPES = ["text", "character varying", "character", "json", "jsonb", "tsvector", "ARRAY"]


def columns_holding(schema: str, marker: str = MARKER) -> set[str]:
    """Every `table.column` of the schema's tables where some row holds the marker."""
    found = set()
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
               JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
               WHERE c.table_schema = %s AND t.table_type = 'BASE TABLE' AND (c.data_type = ANY(%s) OR c.data_type = 'bytea')""",
            [schema, TEXT_TYPES],
        )
        for table, column, data_type in cursor.fetchall():
            if data_type == "bytea":
                condition, value = f'position(convert_to(%s, \'UTF8\') in "{column}") > 0', marker
            else:
                condition, value = f'"{column}"::text ILIKE %s', f"%{marker}%"
            cursor.execute(f'SELECT 1 FROM "{schema}"."{table}" WHERE {condition} LIMIT 1', [value])
            if cursor.fetchone():
                found.add(f"{table}.{column}")
    return found


def customer_with_history(marker: str = MARKER):
    """A contact whose words are everywhere a desk keeps them: messages both ways, a note,
    attachments, the subject, CSAT, a widget session, and the AI's artefacts."""
    contact = services.contact_create(
        name=f"Ann {marker}", email=f"{marker}@example.org", phone="+44 20 7946 0101", external_id=f"crm-{marker}",
        custom_attributes={"plan": f"gold-{marker}"},
    )
    inbox = InboxFactory(auto_assign=False)
    conversation = services.conversation_open(
        inbox=inbox, contact=contact, content=f"My parcel {marker} never came", subject=f"Parcel {marker}",
        attachments=[{"name": f"receipt-{marker}.pdf", "size": 10, "content_type": "application/pdf", "url": f"https://files.example/{marker}"}],
    )
    incoming = Message.objects.get(conversation=conversation)
    services.message_add_reply(conversation=conversation, content=f"Sorry about {marker}, we are on it", by_ai=True)
    services.message_add_note(conversation=conversation, content=f"Customer {marker} is upset", by_ai=True)
    services.message_add_incoming(conversation=conversation, content=f"Still waiting for {marker}")
    services.conversation_status_set(conversation=conversation, status=Conversation.Status.RESOLVED, by=events.Actor.system())
    services.csat_record(conversation=conversation, rating=2, comment=f"slow about {marker}")
    Conversation.objects.filter(pk=conversation.pk).update(ai_handoff_reason=f"asked for a person about {marker}")
    events.handed_off(conversation, rule="asked_for_person", reason=f"asked for a person about {marker}")
    WidgetSession.objects.create(inbox=inbox, contact=contact, expires_at=timezone.now() + timedelta(days=1))

    category, _ = Category.objects.get_or_create(name="delivery")
    Classification.objects.create(
        message=incoming, conversation=conversation, category="delivery", confidence=0.9, provider="local", model="m",
        reasoning=f"mentions {marker}", evidence={"nearest": [f"parcel {marker}"]},
    )
    draft = Draft.objects.create(conversation=conversation, message=incoming, content=f"Dear Ann, about {marker}", reasoning=f"{marker}", provider="local", model="m")
    KnowledgeGap.objects.create(category="delivery", question=f"Where is {marker}?", conversation=conversation, message=incoming, draft=draft)
    AICall.objects.create(operation=Operation.GENERATE, provider="openai", model="m", input_tokens=120, output_tokens=40, cost=Decimal("0.002"),
                          error=f"400: bad prompt '{marker}'", conversation=conversation, message=incoming)
    CachedResponse.objects.create(key=f"k-{marker}", operation=Operation.GENERATE, provider="openai", model="m",
                                  response={"text": f"about {marker}"}, expires_at=timezone.now() + timedelta(hours=1))
    TrainingExample.objects.create(category=category, text=f"parcel {marker} lost", text_hash=f"h-{marker}",
                                   source=TrainingExample.Source.CORRECTION, message=incoming)
    # The admin's history of changes to the contact, the conversation and a message, as Django writes it.
    editor = UserFactory()
    for row in (contact, conversation, incoming):
        LogEntry.objects.log_actions(
            user_id=editor.pk, queryset=[row], action_flag=CHANGE,
            change_message=[{"added": {"name": "note", "object": f"about {marker}"}}], single_object=True,
        )
    return contact, conversation


def _facts():
    """What reports are made of: the rows' counts, times and states, and today's rollups."""
    conversations = list(Conversation.objects.order_by("pk").values("pk", "number", "status", "created_at", "first_response_at", "resolved_at", "priority"))
    messages = list(Message.objects.order_by("pk").values("pk", "conversation_id", "direction", "kind", "sender_type", "created_at"))
    today = account_today()
    rollups, usage = days_compute(since=today - timedelta(days=1), until=today)
    strip = lambda row: {k: v for k, v in model_to_dict(row).items() if k not in {"id", "computed_at"}}  # noqa: E731
    return conversations, messages, sorted(map(str, map(strip, rollups))), sorted(map(str, map(strip, usage))), AICall.objects.values_list("input_tokens", "output_tokens", "cost").get()


def test_erasure_leaves_no_trace_in_any_table_and_keeps_the_rows_reports_count(alpha, beta, make_member):
    contact, conversation = customer_with_history()
    with schema_context(beta.schema_name):
        twin, _ = customer_with_history()  # another tenant's customer with the very same data
    before = columns_holding(alpha.schema_name)
    # The scan sees the words where the desk put them (so finding none afterwards means something).
    assert {"conversations_contact.name", "conversations_message.content", "conversations_message.attachments",
            "conversations_conversation.search_document", "conversations_conversation.subject",
            "conversations_conversationevent.actor_name", "conversations_csatresponse.comment", "ai_draft.content",
            "ai_classification.reasoning", "ai_knowledgegap.question", "ai_aicall.error", "ai_cachedresponse.response",
            "ai_trainingexample.text", "django_admin_log.object_repr", "django_admin_log.change_message"} <= before
    facts = _facts()
    owner = make_member(role=Role.OWNER)

    erasure = services.contact_erase(contact=contact, by=owner)

    assert (erasure.conversations, erasure.messages, erasure.already_erased) == (1, 5, False)
    assert columns_holding(alpha.schema_name) == set()
    assert _facts() == facts
    contact.refresh_from_db()
    assert (contact.name, contact.email, contact.phone, contact.external_id, contact.custom_attributes) == ("[erased]", "", "", None, {})
    assert contact.erased_by == owner and contact.erased_at is not None
    assert set(Message.objects.values_list("content", flat=True)) == {"[erased]"}
    assert not WidgetSession.objects.filter(contact=contact, revoked_at__isnull=True).exists()
    erased = ConversationEvent.objects.get(conversation=conversation, action="contact_erased")
    assert (erased.actor_id, erased.actor_name) == (owner.pk, owner.get_full_name())
    assert events.describe(erased).endswith("erased the customer's personal data and this conversation's messages")
    with schema_context(beta.schema_name):
        assert "conversations_message.content" in columns_holding(beta.schema_name)
        twin.refresh_from_db()
        assert twin.erased_at is None and MARKER in twin.name


def test_no_search_finds_the_erased_words(alpha, alpha_client, make_member):
    contact, conversation = customer_with_history()
    owner = make_member(role=Role.OWNER)
    key = api_token_create(user=owner, account=alpha, name="tests")[1]
    queue_search = lambda: list(selectors.conversation_search(Conversation.objects.all(), MARKER))  # noqa: E731
    api_contacts = lambda: alpha_client.get(f"/api/v1/contacts/?q={MARKER}", HTTP_AUTHORIZATION=f"Token {key}").json()["results"]  # noqa: E731
    assert queue_search() == [conversation] and len(api_contacts()) == 1
    for word in ("parcel", "waiting"):  # the messages' other words too, stemmed
        assert list(selectors.conversation_search(Conversation.objects.all(), word)) == [conversation]

    services.contact_erase(contact=contact, by=owner)

    assert queue_search() == [] and api_contacts() == []
    for word in ("parcel", "waiting", "Ann", f"{MARKER}@example.org"):
        assert list(selectors.conversation_search(Conversation.objects.all(), word)) == []
    admin_login(alpha_client, owner.email, PASSWORD)
    queue = alpha_client.get("/admin/conversations/conversation/", {"q": MARKER}).content.decode()
    assert f"#{conversation.number}<" not in queue
    thread = alpha_client.get(f"/api/v1/conversations/{conversation.number}/", HTTP_AUTHORIZATION=f"Token {key}").content.decode()
    assert MARKER not in thread and "[erased]" in thread
    assert MARKER not in alpha_client.get(f"/api/v1/kb/search?q={MARKER}", HTTP_AUTHORIZATION=f"Token {key}").content.decode()


def test_erasing_twice_changes_nothing_and_says_so(capsys):
    contact, conversation = customer_with_history()
    call_command("contact_erase", account="alpha", contact=str(contact.pk))
    first = capsys.readouterr().out
    assert f"contact {contact.pk} erased: 1 conversation(s), 5 message(s)" in first
    erased_at = Contact.objects.get(pk=contact.pk).erased_at
    event = ConversationEvent.objects.get(conversation=conversation, action="contact_erased")
    assert (event.actor_type, event.actor_name) == ("system", "Hearth operator")

    call_command("contact_erase", account="alpha", contact=str(contact.pk))

    assert "was already erased" in capsys.readouterr().out
    assert Contact.objects.get(pk=contact.pk).erased_at == erased_at
    assert ConversationEvent.objects.filter(action="contact_erased").count() == 1


def test_the_command_records_who_asked(make_member):
    contact, _ = customer_with_history()
    owner = make_member(role=Role.OWNER)
    call_command("contact_erase", account="alpha", contact=str(contact.pk), by=owner.email.upper())
    assert Contact.objects.get(pk=contact.pk).erased_by == owner


@pytest.mark.parametrize(("arguments", "error"), [
    ({"account": "nosuch"}, "no account 'nosuch'"),
    ({"contact": "abc"}, "--contact 'abc' is not a contact id"),
    ({"contact": "-3"}, "--contact '-3' is not a contact id"),
    ({"contact": "999999"}, "no contact 999999 in account 'alpha'"),
    ({"by": "nobody@example.org"}, "--by 'nobody@example.org': no login"),
])
def test_bad_input_is_one_line_and_changes_nothing(arguments, error):
    contact, _ = customer_with_history()
    with pytest.raises(CommandError, match=error):
        call_command("contact_erase", **{"account": "alpha", "contact": str(contact.pk), **arguments})
    contact.refresh_from_db()
    assert contact.erased_at is None and MARKER in contact.name
    assert not Message.objects.filter(content="[erased]").exists()


def test_a_bad_contact_id_exits_1_with_one_line():
    result = subprocess.run(
        [sys.executable, "manage.py", "contact_erase", "--account", "alpha", "--contact", "12x"],
        cwd=REPO_DIR, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "DATABASE_URL": _database_url()},
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["CommandError: --contact '12x' is not a contact id (a whole number)"]


def _database_url() -> str:
    from tests.conftest import database_url_of_test_db

    return database_url_of_test_db()


# ----------------------------------------------------------------------------- the desk


CONTACTS = "/admin/conversations/contact/"


def test_an_owner_erases_from_the_contact_list_after_confirming(alpha_client, make_member):
    contact, _ = customer_with_history()
    owner = make_member(role=Role.OWNER)
    admin_login(alpha_client, owner.email, PASSWORD)
    assert 'value="erase"' in alpha_client.get(CONTACTS).content.decode()

    asked = alpha_client.post(CONTACTS, {"action": "erase", "_selected_action": [contact.pk]})
    assert asked.status_code == 200 and "This cannot be undone" in asked.content.decode()
    contact.refresh_from_db()
    assert contact.erased_at is None  # nothing yet: it asked first

    done = alpha_client.post(CONTACTS, {"action": "erase", "_selected_action": [contact.pk], "erase_confirmed": "yes"}, follow=True)
    assert f"Contact {contact.pk} erased: 1 conversation(s), 5 message(s)" in done.content.decode()
    contact.refresh_from_db()
    assert contact.erased_by == owner and contact.name == "[erased]"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.AGENT])
def test_nobody_but_an_owner_can_erase(alpha_client, make_member, role):
    contact, _ = customer_with_history()
    member = make_member(role=role)
    admin_login(alpha_client, member.email, PASSWORD)
    assert 'value="erase"' not in alpha_client.get(CONTACTS).content.decode()

    alpha_client.post(CONTACTS, {"action": "erase", "_selected_action": [contact.pk], "erase_confirmed": "yes"})

    contact.refresh_from_db()
    assert contact.erased_at is None and MARKER in contact.name
    assert not Message.objects.filter(content="[erased]").exists()
