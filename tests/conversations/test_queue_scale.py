"""The desk at a big tenant's size, in miniature: every queue page (default, each filter,
search), the conversation page and the contact page run a bounded number of queries, the same
for 5 rows as for 60 (no query per row); search finds conversations by a word of any message
(in any of its forms), the contact's e-mail or the #number; the count stops at a cap.

The timings at 100,000 conversations are bench/desk_scale.py's (docs/performance.md).
"""

from __future__ import annotations

import re
from importlib import import_module

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.middleware import tenant_cache_clear
from accounts.models import Membership
from config.pagination import CappedCountPaginator
from conversations import services
from conversations.events import Actor
from conversations.models import Conversation, Priority, SearchWords
from conversations.services._common import activity_add
from tests.accounts.factories import PASSWORD
from tests.conftest import admin_login
from tests.conversations.factories import ContactFactory, InboxFactory, LabelFactory, TeamFactory, TeamMemberFactory

pytestmark = pytest.mark.usefixtures("in_alpha")
Role = Membership.Role
QUEUE = "/admin/conversations/conversation/"
# Per request, each with django-tenants' SET search_path before it (13 + 13 today): session,
# user, role (once), the filters' choices (members, inboxes, teams, labels, AI categories),
# the capped count, the header's membership, the page, its labels, the action bar's choices.
MAX_QUEUE_QUERIES = 26
MAX_CONVERSATION_PAGE_QUERIES = 27
MAX_CONTACT_PAGE_QUERIES = 12


@pytest.fixture
def desk(make_member):
    billing, technical = TeamFactory(name="Billing"), TeamFactory(name="Technical")
    agent = make_member(role=Role.AGENT)
    TeamMemberFactory(team=billing, user=agent)
    others = [make_member(role=Role.AGENT) for _ in range(3)]
    return {
        "agent": agent, "manager": make_member(role=Role.MANAGER), "others": others, "teams": [billing, technical],
        "inbox": InboxFactory(auto_assign=False), "labels": [LabelFactory(name=name) for name in ("vip", "bug", "refund")],
        "made": 0,
    }


def _add_conversations(desk, count: int):
    """Conversations as they look in a busy desk: both teams, assignees, labels, categories,
    priorities, a few messages each, some with their own contact."""
    system = Actor.system()
    made = []
    for n in range(desk["made"], desk["made"] + count):
        conversation = services.conversation_open(
            inbox=desk["inbox"], contact=ContactFactory(email=f"scale{n}@customers.example"), content=f"Hello, question {n}",
        )
        services.message_add_incoming(conversation=conversation, content="The parcel has not arrived yet")
        services.message_add_reply(conversation=conversation, content="Sorry, looking into it", author=desk["others"][n % 3])
        services.conversation_team_set(conversation=conversation, team=desk["teams"][n % 2], by=system)
        services.conversation_assign(conversation=conversation, assignee=([desk["agent"]] + desk["others"])[n % 4], by=system)
        services.conversation_labels_add(conversation=conversation, labels=desk["labels"][: n % 3 + 1], by=system)
        services.conversation_priority_set(conversation=conversation, priority=n % 5, by=system)
        services.conversation_classification_set(conversation=conversation, category=["billing", "shipping", "returns"][n % 3], confidence=0.9)
        made.append(conversation)
    desk["made"] += count
    return made


def _queue_urls(desk, sample) -> dict[str, str]:
    billing = desk["teams"][0]
    return {
        "default": QUEUE,
        "page 2": f"{QUEUE}?p=2",
        "status": f"{QUEUE}?status__exact=open",
        "priority": f"{QUEUE}?priority__exact={Priority.URGENT}",
        "inbox": f"{QUEUE}?inbox__id__exact={desk['inbox'].pk}",
        "team": f"{QUEUE}?team__id__exact={billing.pk}",
        "assignee me": f"{QUEUE}?assignee=me",
        "assignee none": f"{QUEUE}?assignee=none",
        "label": f"{QUEUE}?labels__id__exact={desk['labels'][0].pk}",
        "SLA": f"{QUEUE}?sla=breached",
        "AI category": f"{QUEUE}?ai_category__exact=billing",
        "search word": f"{QUEUE}?q=parcel",
        "search e-mail": f"{QUEUE}?q={sample.contact.email}",
        "search number": f"{QUEUE}?q=%23{sample.number}",
    }


def _warm_up(client, url: str) -> None:
    """The tenant is looked up once per 30 s per process: begin a fresh 30 s with a warm-up
    request, so the measured request that follows is never the one that looks it up again."""
    tenant_cache_clear()
    client.get(url)


def _query_counts(client, urls: dict[str, str]) -> dict[str, int]:
    counts = {}
    for name, url in urls.items():
        _warm_up(client, url)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        counts[name] = len(queries)
    return counts


@pytest.mark.parametrize("role", ["agent", "manager"])
def test_every_queue_page_runs_the_same_bounded_queries_for_5_and_60_conversations(desk, alpha_client, role, django_assert_max_num_queries):
    admin_login(alpha_client, desk[role].email, PASSWORD)
    sample = _add_conversations(desk, 5)[0]
    urls = _queue_urls(desk, sample)
    with_5 = _query_counts(alpha_client, urls)
    _add_conversations(desk, 55)
    with_60 = _query_counts(alpha_client, urls)

    assert with_60 == with_5  # nothing is queried per row
    for name, url in urls.items():
        _warm_up(alpha_client, url)
        with django_assert_max_num_queries(MAX_QUEUE_QUERIES, info=name):
            alpha_client.get(url)


def test_conversation_and_contact_pages_run_the_same_bounded_queries_for_5_and_60_messages(desk, alpha_client, django_assert_max_num_queries):
    admin_login(alpha_client, desk["agent"].email, PASSWORD)
    conversation = _add_conversations(desk, 1)[0]
    services.conversation_team_set(conversation=conversation, team=desk["teams"][0], by=Actor.system())
    urls = {"conversation": f"{QUEUE}{conversation.pk}/change/", "contact": f"/admin/conversations/contact/{conversation.contact_id}/change/"}
    with_few = _query_counts(alpha_client, urls)
    for n in range(55):
        services.message_add_incoming(conversation=conversation, content=f"And another thing, number {n}")
    with_many = _query_counts(alpha_client, urls)

    assert with_many == with_few
    for name, url in urls.items():
        _warm_up(alpha_client, url)
        with django_assert_max_num_queries(MAX_CONVERSATION_PAGE_QUERIES if name == "conversation" else MAX_CONTACT_PAGE_QUERIES, info=name):
            alpha_client.get(url)


def test_the_queue_reads_the_members_own_membership_once_per_request(desk, alpha_client):
    admin_login(alpha_client, desk["agent"].email, PASSWORD)
    _add_conversations(desk, 2)
    _warm_up(alpha_client, QUEUE)
    with CaptureQueriesContext(connection) as queries:
        alpha_client.get(QUEUE)
    # The member's own row, read once: its role for every permission check and its availability
    # for the header's menu.
    own_membership_lookups = [q["sql"] for q in queries.captured_queries if '"accounts_membership"."user_id" = ' in q["sql"]]
    assert len(own_membership_lookups) == 1, own_membership_lookups


# ----------------------------------------------------------------------------- search


def _numbers_found(client, term: str) -> set[int]:
    page = client.get(QUEUE, {"q": term}).content.decode()
    return {int(number) for number in re.findall(r">#(\d+)<", page)}


@pytest.fixture
def searchable(desk, alpha_client):
    admin_login(alpha_client, desk["manager"].email, PASSWORD)
    conversations = _add_conversations(desk, 3)
    refund, late, other = conversations
    services.message_add_incoming(conversation=refund, content="Could I get a refund for the blue kettle?")
    services.message_add_incoming(conversation=late, content="Any news? It is my anniversary on Friday.")
    return {"refund": refund, "late": late, "other": other}


def test_search_finds_a_word_of_a_later_message(searchable, alpha_client):
    assert _numbers_found(alpha_client, "anniversary") == {searchable["late"].number}


def test_search_finds_other_forms_of_the_word(searchable, alpha_client):
    assert _numbers_found(alpha_client, "refunds") == {searchable["refund"].number}
    assert _numbers_found(alpha_client, "kettles refunded") == {searchable["refund"].number}


def test_search_finds_the_contact_by_email_or_part_of_it_and_by_number(searchable, alpha_client):
    late = searchable["late"]
    assert _numbers_found(alpha_client, late.contact.email) == {late.number}
    assert _numbers_found(alpha_client, late.contact.email.split("@")[0].upper()) == {late.number}
    assert _numbers_found(alpha_client, f"#{late.number}") == {late.number}
    assert _numbers_found(alpha_client, str(late.number)) == {late.number}


def test_search_finds_the_contact_by_name_and_the_subject_by_a_substring(desk, alpha_client):
    admin_login(alpha_client, desk["manager"].email, PASSWORD)
    conversation = services.conversation_open(inbox=desk["inbox"], contact=ContactFactory(name="Philippa Okonkwo"), content="Hi", subject="Broken hinge")
    assert _numbers_found(alpha_client, "konkw") == {conversation.number}
    assert _numbers_found(alpha_client, "roken hin") == {conversation.number}


def test_hostile_search_terms_find_nothing_and_fail_nothing(searchable, alpha_client):
    for term in ['"', "'; DROP TABLE x; --", "a & | ! (", "-", "#", "#99999999999999999999", "the", "%", "_"]:
        response = alpha_client.get(QUEUE, {"q": term})
        assert response.status_code == 200, term


def test_an_agent_searching_finds_only_their_teams_conversations(desk, alpha_client):
    admin_login(alpha_client, desk["agent"].email, PASSWORD)
    mine, theirs = _add_conversations(desk, 2)  # Billing, then Technical (assigned to someone else)
    services.conversation_assign(conversation=mine, assignee=None, by=Actor.system())
    assert _numbers_found(alpha_client, "parcel") == {mine.number}
    assert _numbers_found(alpha_client, f"#{theirs.number}") == set()


# ----------------------------------------------------------------------------- counts and filters


def test_the_queue_count_stops_at_the_cap_and_says_so(desk, alpha_client, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 3)
    admin_login(alpha_client, desk["manager"].email, PASSWORD)
    _add_conversations(desk, 5)
    assert "3+ conversations" in alpha_client.get(QUEUE).content.decode()
    assert "1 conversation\n" in alpha_client.get(QUEUE, {"priority__exact": "1"}).content.decode()  # under the cap: exact


def test_a_search_counts_its_matches_to_a_lower_cap_than_the_queue(desk, alpha_client, monkeypatch):
    from conversations.admin.queue import ConversationAdmin

    monkeypatch.setattr(ConversationAdmin, "search_count_cap", 2)
    admin_login(alpha_client, desk["manager"].email, PASSWORD)
    _add_conversations(desk, 4)  # every one has "parcel" in a message
    searched = alpha_client.get(QUEUE, {"q": "parcel"}).content.decode()
    assert "2+ results" in searched and "2+ conversations" in searched
    assert "4 conversations" in alpha_client.get(QUEUE).content.decode()  # the queue itself: counted to its own cap
    one = alpha_client.get(QUEUE, {"q": "scale1@customers.example"}).content.decode()  # under the cap: exact
    assert "1 result " in one and "1+" not in one


def test_the_ai_category_filter_offers_the_categories_in_use_and_filters_by_one(desk, alpha_client):
    admin_login(alpha_client, desk["manager"].email, PASSWORD)
    billing, shipping, _ = _add_conversations(desk, 3)
    page = alpha_client.get(QUEUE).content.decode()
    assert all(f"ai_category__exact={name}" in page for name in ("billing", "shipping", "returns"))
    filtered = alpha_client.get(QUEUE, {"ai_category__exact": "shipping"}).content.decode()
    assert f">#{shipping.number}<" in filtered and f">#{billing.number}<" not in filtered


def test_the_label_filter_lists_each_labelled_conversation_once(desk, alpha_client):
    admin_login(alpha_client, desk["manager"].email, PASSWORD)
    one_label, two_labels, three_labels = _add_conversations(desk, 3)  # vip; vip, bug; vip, bug, refund
    bug = desk["labels"][1]
    page = alpha_client.get(QUEUE, {"labels__id__exact": bug.pk}).content.decode()
    assert page.count(f">#{two_labels.number}<") == 1 and page.count(f">#{three_labels.number}<") == 1
    assert f">#{one_label.number}<" not in page


def test_search_finds_the_words_of_replies_and_notes_but_not_activity_lines(searchable, desk, alpha_client):
    refund, late = searchable["refund"], searchable["late"]
    services.message_add_reply(conversation=refund, content="The courier collects the toaster tomorrow", author=desk["manager"])
    services.message_add_note(conversation=late, content="Escalated to the warehouse supervisor", author=desk["manager"])
    activity_add(late, "Marmalade rearranged by the system", timezone.now())
    assert _numbers_found(alpha_client, "toaster") == {refund.number}
    assert _numbers_found(alpha_client, "supervisors") == {late.number}
    assert _numbers_found(alpha_client, "marmalade") == set()
    # A customer writing after a reply and a reopen adds to the same document.
    services.conversation_status_set(conversation=refund, status="resolved", by=Actor.agent(desk["manager"]))
    services.message_add_incoming(conversation=refund, content="The toaster never came, reopening")
    assert _numbers_found(alpha_client, "toaster courier") == {refund.number}
    assert _numbers_found(alpha_client, "reopening") == {refund.number}


def test_the_migration_fills_the_search_document_of_conversations_made_before_it(searchable, desk, alpha_client):
    late = searchable["late"]
    services.message_add_note(conversation=late, content="Customer prefers a phone call", author=desk["manager"])
    activity_add(late, "Marmalade rearranged by the system", timezone.now())
    Conversation.objects.filter(pk=late.pk).update(search_document=None)  # as before migration 0007
    SearchWords.objects.filter(conversation=late).delete()  # (no waiting words before it either)
    assert _numbers_found(alpha_client, "anniversary") == set()
    with connection.schema_editor() as editor:
        import_module("conversations.migrations.0007_conversation_search_document").backfill(None, editor)
    assert Conversation.objects.filter(search_document__isnull=True).count() == 0
    assert _numbers_found(alpha_client, "anniversary") == {late.number}  # a customer message
    assert _numbers_found(alpha_client, "phone") == {late.number}  # a note
    assert _numbers_found(alpha_client, "marmalade") == set()  # an activity line
    assert _numbers_found(alpha_client, "question") == {c.number for c in searchable.values()}  # untouched ones kept theirs


def test_later_pages_show_the_next_rows_in_the_queues_order(desk, alpha_client, monkeypatch):
    """Pages past the first find their rows by their ids first (config.pagination): together
    the pages list each conversation the agent sees once, in the queue's order, the last one
    short; a filter narrows the later pages the same way."""
    from conversations import selectors
    from conversations.admin.queue import ConversationAdmin

    monkeypatch.setattr(ConversationAdmin, "list_per_page", 3)
    agent = desk["agent"]
    admin_login(alpha_client, agent.email, PASSWORD)
    _add_conversations(desk, 12)
    expected = [c.number for c in selectors.conversation_queue(user=agent, account=connection.tenant)]
    shown = []
    for page in (1, 2):
        html = alpha_client.get(QUEUE, {"p": page}).content.decode()
        shown += [int(number) for number in re.findall(r">#(\d+)<", html)]
    assert len(expected) == 6  # of 12: their team's (half) and their own (in it)
    assert shown == expected
    team_page = alpha_client.get(QUEUE, {"p": 2, "team__id__exact": desk["teams"][0].pk}).content.decode()
    assert [int(n) for n in re.findall(r">#(\d+)<", team_page)] == [
        c.number for c in selectors.conversation_queue(user=agent, account=connection.tenant).filter(team=desk["teams"][0])][3:6]
