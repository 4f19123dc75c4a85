"""The queue's rows, rendered in one pass by conversations/admin/queue_page.py, are the rows
Django's admin renders (`items_for_result`), byte for byte: every column, the links with the
list's filters preserved, the checkboxes, empty values, escaping, the account's time zone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django import forms
from django.contrib.admin.templatetags.admin_list import admin_list_filter, items_for_result
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.middleware import tenant_cache_clear
from accounts.models import Account, Membership
from conversations import services
from conversations.admin.queue_page import filter_panel, queue_results_context, queue_rows, results_table
from conversations.events import Actor
from config.widgets import QuickModelChoiceField
from conversations.models import Conversation, Team
from tests.accounts.factories import PASSWORD
from tests.conftest import admin_login
from tests.conversations.factories import ContactFactory, InboxFactory, LabelFactory, TeamFactory

pytestmark = pytest.mark.usefixtures("in_alpha")
QUEUE = "/admin/conversations/conversation/"
ROW = re.compile(r"<tr>(.*?)</tr>", re.S)


@pytest.fixture
def kolkata(alpha):
    """The account in a time zone of its own (half an hour off UTC), for the rows' tooltips."""
    Account.objects.filter(pk=alpha.pk).update(timezone="Asia/Kolkata")
    tenant_cache_clear()
    yield
    tenant_cache_clear()  # the next test reads the account again (the update is rolled back)


@pytest.fixture
def varied_queue(make_member, open_conversation):
    """Rows with every kind of cell: HTML in subjects and names, long and empty subjects, no
    team, no assignee, labels, an AI category or none, waiting or not, SLA breached or due."""
    system = Actor.system()
    agent = make_member(role=Membership.Role.AGENT)
    type(agent).objects.filter(pk=agent.pk).update(full_name="Dana <b>Agent</b>")
    team = TeamFactory(name="Billing & Co")
    labels = [LabelFactory(name="<vip>"), LabelFactory(name="refund")]
    inbox = InboxFactory(name="Chat \"web\"", auto_assign=False)
    made = []
    for n, (subject, contact_name) in enumerate([
        ("<script>alert(1)</script>", "Ann & <i>Bo</i>"),
        ("A subject that is much longer than seventy characters, so the queue cuts it with an ellipsis", ""),
        ("", "Cy"),
        ("   ", "Dee"),
    ]):
        conversation = open_conversation(inbox=inbox, contact=ContactFactory(name=contact_name), content=f"Hello {n}")
        if n % 2 == 0:
            services.conversation_team_set(conversation=conversation, team=team, by=system)
            services.conversation_assign(conversation=conversation, assignee=agent, by=system)
            services.conversation_labels_add(conversation=conversation, labels=labels[: n // 2 + 1], by=system)
            services.conversation_classification_set(conversation=conversation, category="billing", confidence=0.9)
        made.append(conversation)
    # Times days away, so the relative times read the same to both renderings.
    now = timezone.now()
    Conversation.objects.filter(pk=made[0].pk).update(subject="<script>alert(1)</script>", first_response_breached=True,
                                                      last_activity_at=now - timedelta(days=3, hours=2))
    Conversation.objects.filter(pk=made[1].pk).update(waiting_since=now - timedelta(days=2, hours=5), first_response_due_at=now + timedelta(days=4),
                                                      last_activity_at=now - timedelta(days=2))
    Conversation.objects.filter(pk=made[2].pk).update(subject="", waiting_since=None, first_response_due_at=now - timedelta(days=1),
                                                      last_activity_at=now - timedelta(days=5))
    Conversation.objects.filter(pk=made[3].pk).update(subject="   ", status=Conversation.Status.PENDING, waiting_since=None,
                                                      first_response_due_at=None, last_activity_at=now - timedelta(days=6))
    return made


def _django_rows(cl) -> list[str]:
    """The rows as Django's own changelist renders them, in the account's time zone."""
    with timezone.override("Asia/Kolkata"):
        return ["".join(items_for_result(cl, result, None)) for result in cl.result_list]


def _queue_as_manager(client, make_member, query: str):
    """The queue as a manager sees it: the response and its changelist."""
    manager = make_member(role=Membership.Role.MANAGER)
    admin_login(client, manager.email, PASSWORD)
    response = client.get(QUEUE + query)
    assert response.status_code == 200
    return response, response.context["cl"]


@pytest.mark.parametrize("query", ["", "?status__exact=open&o=1&q=Hello", "?sla=breached"])
def test_queue_rows_are_the_rows_django_renders(alpha_client, make_member, varied_queue, kolkata, query):
    response, cl = _queue_as_manager(alpha_client, make_member, query)
    assert len(cl.result_list) >= 1
    shown = ROW.findall(response.content.decode().split('<tbody>', 1)[1].split("</tbody>", 1)[0])
    assert shown == _django_rows(cl)
    # What a reader notices, besides equality: the preserved filters in every row's links,
    # the tooltips in the account's time zone, customer text escaped.
    page = response.content.decode()
    if query:
        assert "_changelist_filters=" in page
    assert "IST" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


@pytest.mark.parametrize("query", ["", "?o=1", "?o=-1.5&sla=breached", "?status__exact=resolved&q=nothing-matches-this"])
def test_queue_table_is_the_table_djangos_template_renders(alpha_client, make_member, varied_queue, kolkata, query):
    """Headers (sorted by one or several columns, ascending and descending), rows, an empty
    page: results_table's HTML is admin/change_list_results.html's, byte for byte."""
    response, cl = _queue_as_manager(alpha_client, make_member, query)
    with timezone.override("Asia/Kolkata"):
        context = queue_results_context(cl, queue_rows(cl))
        expected = render_to_string("admin/change_list_results.html", context)
    assert results_table(context) == expected
    if cl.result_list:
        assert expected in response.content.decode()  # the page shows it
    if query == "?o=-1.5&sla=breached":
        assert 'class="sortpriority"' in expected and "descending" in expected and "ascending" in expected


def test_queue_pages_from_django_when_rows_cannot_be_rendered_in_one_pass(alpha_client, make_member, varied_queue):
    """A popup (a raw-id lookup) is rendered by Django's own tag: the popup's links are
    Django's, with the data-popup-opener this module does not make."""
    manager = make_member(role=Membership.Role.MANAGER)
    admin_login(alpha_client, manager.email, PASSWORD)
    response = alpha_client.get(QUEUE + "?_popup=1&_to_field=id")
    assert response.status_code == 200
    assert "queue_results" not in response.context
    assert response.content.decode().count("data-popup-opener=") == 2 * len(varied_queue)  # number and subject link


@pytest.mark.parametrize("query", ["", "?status__exact=open&q=Hello", "?sla=breached&assignee=none", "?ai_category__exact=billing&o=-1"])
def test_queue_filters_are_the_filters_django_renders(alpha_client, make_member, varied_queue, kolkata, query):
    response, cl = _queue_as_manager(alpha_client, make_member, query)
    with timezone.override("Asia/Kolkata"):
        expected = [admin_list_filter(cl, spec) for spec in cl.filter_specs]
        assert filter_panel(cl) == expected
    page = response.content.decode()
    assert "".join(expected) in page  # the page shows them, in order
    assert 'data-filter-title="labels"' in page and "&lt;vip&gt;" in page  # a label's name, escaped
    if "sla=breached" in query:
        assert '<li class="selected">\n    <a href="?assignee=none&amp;sla=breached">Breached</a></li>' in page


def test_the_action_bars_model_selects_show_djangos_choices_read_in_one_plain_query():
    billing = TeamFactory(name="Billing & <Co>")
    TeamFactory(name="Sales")

    class Quick(forms.Form):
        team = QuickModelChoiceField(queryset=Team.objects.all(), required=False, empty_label="team…")

    class Plain(forms.Form):
        team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False, empty_label="team…")

    for initial in ({}, {"team": billing.pk}):
        form = Quick(initial=initial)
        with CaptureQueriesContext(connection) as queries:
            first, again = str(form["team"]), str(form["team"])
        assert first == again == str(Plain(initial=initial)["team"])
        # One plain SELECT per form: Django's iterator() opens a server-side cursor (DECLARE,
        # FETCH, CLOSE) on every rendering.
        assert [q["sql"].split()[0] for q in queries.captured_queries] == ["SELECT"]
    assert Quick({"team": str(billing.pk)}).is_valid()
    assert not Quick({"team": "999999"}).is_valid()  # a choice is still checked against the database
