"""Races found in review, each played against the real database with threads (each thread
has its own connection and transaction, as two requests or a request and a task would)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import Account

from conversations import services
from conversations.events import Actor
from conversations.models import Contact, Conversation, ConversationEvent, Priority, SLATarget
from conversations.widget import identifier_hash_for, widget_session_open
from tests.conversations.factories import ContactFactory, InboxFactory, SLAPolicyFactory, TeamFactory, TeamMemberFactory

pytestmark = pytest.mark.usefixtures("committed_db")


def _alpha() -> Account:
    return Account.objects.get(schema_name="alpha")


def _in_alpha(function, errors: list):
    """Run `function` in a thread of its own, on its own connection, in alpha's schema."""

    def run():
        try:
            with tenant_context(_alpha()):
                function()
        except BaseException as error:  # noqa: BLE001: reported by the test
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _join(*threads):
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive(), "a thread hung"


# ----------------------------------------------------------------------------- SLA breaches vs a priority change


def test_a_conversation_made_on_time_while_breaches_are_marked_is_not_flagged():
    with tenant_context(_alpha()):
        policy = SLAPolicyFactory(business_hours_only=False)
        SLATarget.objects.create(policy=policy, priority=Priority.NONE, first_response_minutes=1, resolution_minutes=600)
        SLATarget.objects.create(policy=policy, priority=Priority.URGENT, first_response_minutes=600, resolution_minutes=6000)
        conversation = services.conversation_open(
            inbox=InboxFactory(auto_assign=False, sla_policy=policy), contact=ContactFactory(), content="Help",
            at=timezone.now() - timedelta(minutes=10),
        )
        assert conversation.first_response_due_at < timezone.now()  # late, as the marker first reads it

    locked, errors = threading.Event(), []

    def agent_raises_priority():
        with transaction.atomic():
            Conversation.objects.select_for_update().get(pk=conversation.pk)
            locked.set()
            time.sleep(0.5)  # the marker reads its candidates meanwhile and waits on this row
            services.conversation_priority_set(conversation=conversation, priority=Priority.URGENT, by=Actor.system())

    def marker():
        locked.wait(5)
        services.sla_breaches_mark()

    _join(_in_alpha(agent_raises_priority, errors), _in_alpha(marker, errors))
    assert not errors, errors
    with tenant_context(_alpha()):
        conversation.refresh_from_db()
        assert conversation.first_response_due_at > timezone.now()
        assert conversation.first_response_breached is False
        assert not ConversationEvent.objects.filter(conversation=conversation, action="sla_breached").exists()


# ----------------------------------------------------------------------------- first sessions of a new customer


def test_two_first_sessions_of_one_new_customer_share_one_contact():
    with tenant_context(_alpha()):
        inbox = InboxFactory(auto_assign=False)
    rounds = 5
    for round_number in range(rounds):
        identifier = f"customer-{round_number}"
        start, errors, contacts = threading.Barrier(2), [], []

        def open_session():
            start.wait(5)
            session, _token = widget_session_open(
                inbox=inbox, identifier=identifier, identifier_hash=identifier_hash_for(inbox=inbox, identifier=identifier),
                name="Ann",
            )
            contacts.append(session.contact_id)

        _join(_in_alpha(open_session, errors), _in_alpha(open_session, errors))
        assert not errors, errors
        assert len(contacts) == 2 and contacts[0] == contacts[1]
    with tenant_context(_alpha()):
        assert Contact.objects.filter(external_id__startswith="customer-").count() == rounds


# ----------------------------------------------------------------------------- classification


def test_concurrent_classifications_leave_the_row_and_the_timeline_agreeing():
    with tenant_context(_alpha()):
        conversation = services.conversation_open(inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content="Refund?")
    start, errors = threading.Barrier(4), []

    def classify(category, confidence):
        def run():
            start.wait(5)
            services.conversation_classification_set(conversation=conversation, category=category, confidence=confidence)
        return run

    threads = [_in_alpha(classify(category, confidence), errors)
               for category, confidence in [("billing", 0.82), ("refund", 0.91), ("shipping", 0.55), ("billing", 0.6)]]
    _join(*threads)
    assert not errors, errors
    with tenant_context(_alpha()):
        conversation.refresh_from_db()
        last = ConversationEvent.objects.filter(conversation=conversation, action="classified").order_by("created_at", "id").last()
        assert last is not None, "classifying wrote no event"
        assert last.actor_type == "ai"
        assert last.new_value == f"{conversation.ai_category} ({conversation.ai_confidence:.2f})"


# ----------------------------------------------------------------------------- auto-assignment queries


def _team_conversation(members: int) -> Conversation:
    from tests.accounts.factories import MembershipFactory

    team = TeamFactory(auto_assign=True)
    for _ in range(members):
        TeamMemberFactory(team=team, user=MembershipFactory(account=_alpha(), availability="online").user)
    return services.conversation_open(inbox=InboxFactory(auto_assign=False, default_team=team), contact=ContactFactory(), content="Hello")


def test_auto_assignment_costs_the_same_queries_for_3_or_20_members(django_assert_max_num_queries):
    with tenant_context(_alpha()):
        small, large = _team_conversation(3), _team_conversation(20)
        with CaptureQueriesContext(connection) as queries:
            assert services.conversation_auto_assign(conversation=small) is not None
        with django_assert_max_num_queries(len(queries)):
            assert services.conversation_auto_assign(conversation=large) is not None
