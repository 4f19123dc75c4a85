"""One visibility rule, no side doors: an agent of team A walks every page of the desk admin
and every route of the agents' API and never meets anything of team B's conversations.

Nothing here lists models or URLs by hand: the admin walk iterates `desk_admin_site._registry`
and the API walk iterates the URL resolver, so a model or route added later is walked too.
"""

from __future__ import annotations

import json
import re

import pytest
from django.apps import apps
from django.urls import URLResolver, get_resolver, reverse

from accounts.models import Membership
from accounts.services import api_token_create
from accounts.sites import desk_admin_site
from conversations import services
from conversations.events import Actor
from conversations.models import Conversation, Message
from tests.accounts.factories import PASSWORD
from tests.conftest import admin_login
from tests.conversations.factories import ContactFactory, InboxFactory, TeamFactory, TeamMemberFactory

pytestmark = pytest.mark.usefixtures("in_alpha")
Role = Membership.Role

# What team B's conversations hold; none of it may reach an agent of team A.
B_MARKERS = [
    "mkb-subject", "mkb-message", "mkb-note", "mkb-csat-comment", "Mkbcontact", "mkbmailbox",
    "mkb-shared-subject", "mkb-shared-message",
]
# What team A's conversations hold; the agent must see it, or the walk proves nothing.
A_MARKERS = ["mka-subject", "mka-csat-comment", "Mkacontact"]


@pytest.fixture
def teams(make_member, alpha):
    team_a, team_b = TeamFactory(name="Team A"), TeamFactory(name="Team B")
    agent_a, agent_b = make_member(role=Role.AGENT), make_member(role=Role.AGENT)
    TeamMemberFactory(team=team_a, user=agent_a)
    TeamMemberFactory(team=team_b, user=agent_b)
    inbox = InboxFactory(auto_assign=False)

    def conversation(team, *, contact, subject, content, csat=None, note=None):
        conv = services.conversation_open(inbox=inbox, contact=contact, content=content, subject=subject)
        services.conversation_team_set(conversation=conv, team=team, by=Actor.system())
        if note:
            services.message_add_note(conversation=conv, content=note, author=agent_b if team == team_b else agent_a)
        if csat:
            services.conversation_status_set(conversation=conv, status=Conversation.Status.RESOLVED, by=Actor.system())
            services.csat_record(conversation=conv, rating=2, comment=csat)
        return conv

    a_contact = ContactFactory(name="Mkacontact Reed", email="mkamailbox@example.org")
    b_contact = ContactFactory(name="Mkbcontact Quill", email="mkbmailbox@example.org")
    shared = ContactFactory(name="Shared Customer", email="shared@example.org")
    a_conv = conversation(team_a, contact=a_contact, subject="mka-subject", content="mka-message", csat="mka-csat-comment")
    b_conv = conversation(team_b, contact=b_contact, subject="mkb-subject", content="mkb-message", csat="mkb-csat-comment", note="mkb-note")
    # The shared customer wrote to both teams: A's page must not list B's conversation.
    shared_a = conversation(team_a, contact=shared, subject="shared-a-subject", content="shared-a-message")
    shared_b = conversation(team_b, contact=shared, subject="mkb-shared-subject", content="mkb-shared-message")
    token = api_token_create(user=agent_a, account=alpha, name="walk")[1]
    return {"agent_a": agent_a, "token": token, "a": [a_conv, shared_a], "b": [b_conv, shared_b], "b_contact": b_contact}


def _leaks(text: str) -> list[str]:
    return [marker for marker in B_MARKERS if marker.lower() in text.lower()]


class Walk:
    def __init__(self, client):
        self.client = client
        self.seen: list[str] = []
        self.leaks: dict[str, list[str]] = {}
        self.errors: dict[str, int] = {}

    def get(self, path: str, **kwargs):
        response = self.client.get(path, **kwargs)
        self.record(f"GET {path}", response)
        return response

    def record(self, what: str, response):
        if response.status_code >= 500:
            self.errors[what] = response.status_code
        text = response.content.decode("utf-8", "replace")
        self.seen.append(text)
        if leaks := _leaks(text):
            self.leaks[what] = leaks


def _autocomplete_sources(remote_model):
    """Every (model, field) whose field points at remote_model: what the autocomplete view accepts."""
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete and getattr(field.remote_field, "model", None) is remote_model:
                yield model, field


def test_an_agent_of_team_a_never_sees_team_b_in_any_desk_admin_page(teams, alpha_client):
    admin_login(alpha_client, teams["agent_a"].email, PASSWORD)
    walk = Walk(alpha_client)
    walk.get(reverse("admin:index"))
    for model, model_admin in desk_admin_site._registry.items():
        opts = model._meta
        walk.get(reverse("admin:app_list", args=[opts.app_label]))
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        walk.get(changelist)
        for term in ["mkb", "quill", "mailbox"]:
            walk.get(changelist, data={"q": term})
        for obj in model._default_manager.all():
            for view in ["change", "history", "delete"]:
                walk.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[obj.pk]))
        if model_admin.search_fields:
            for source, field in _autocomplete_sources(model):
                for term in ["", "mkb", "quill"]:
                    walk.get(reverse("admin:autocomplete"), data={
                        "app_label": source._meta.app_label, "model_name": source._meta.model_name,
                        "field_name": field.name, "term": term,
                    })

    assert walk.errors == {}
    assert walk.leaks == {}
    everything = "\n".join(walk.seen)
    assert [marker for marker in A_MARKERS if marker not in everything] == []


def _agent_routes():
    """(route, pattern) of every agents'-API URL, read from the tenant URL conf."""
    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern)

    return [route for route in walk(get_resolver("config.urls_tenant").url_patterns, "") if route.startswith("api/v1/")]


def test_an_agent_of_team_a_never_sees_team_b_through_the_agents_api(teams, alpha_client):
    routes = _agent_routes()
    assert routes, "the agents' API has no routes?"
    b_conversations = teams["b"]
    b_values = sorted(
        {c.number for c in b_conversations} | {c.pk for c in b_conversations} | {c.contact_id for c in b_conversations}
        | set(Message.objects.filter(conversation__in=b_conversations).values_list("pk", flat=True))
    )
    b_messages_before = Message.objects.filter(conversation__in=b_conversations).count()
    headers = {"HTTP_AUTHORIZATION": f"Token {teams['token']}"}
    walk = Walk(alpha_client)
    for route in routes:
        parameters = re.findall(r"<(?:\w+:)?(\w+)>", route)
        paths = [route] if not parameters else [re.sub(r"<[^>]+>", str(value), route) for value in b_values]
        for path in paths:
            url = f"/{path}"
            walk.get(url, **headers)
            if not parameters:  # a list: search it too
                for term in ["mkb", "quill"]:
                    walk.get(url, data={"q": term, "search": term}, **headers)
            else:
                for method in ["post", "patch", "put", "delete"]:
                    body = json.dumps({"content": "from team A", "status": "resolved", "name": "changed by A"})
                    walk.record(f"{method.upper()} {url}", getattr(alpha_client, method)(url, data=body, content_type="application/json", **headers))

    assert walk.errors == {}
    assert walk.leaks == {}
    everything = "\n".join(walk.seen)
    assert [marker for marker in A_MARKERS if marker not in everything] == ["mka-csat-comment"]  # the API has no CSAT route
    # Nor did any write reach team B's conversations.
    assert Message.objects.filter(conversation__in=b_conversations).count() == b_messages_before
    teams["b_contact"].refresh_from_db()
    assert teams["b_contact"].name == "Mkbcontact Quill"
    assert not Conversation.objects.filter(pk__in=[c.pk for c in b_conversations], status=Conversation.Status.RESOLVED).exclude(pk=b_conversations[0].pk).exists()


def test_an_admin_of_conversation_data_without_a_path_fails_the_system_check():
    from accounts.sites import DeskAdminSite
    from config.admin import HearthModelAdmin
    from conversations.models import ConversationEvent, CSATResponse, Label

    class Forgetful(HearthModelAdmin):
        pass

    class Scoped(HearthModelAdmin):
        conversation_path = "conversation"

    site = DeskAdminSite(name="check")
    assert [error.id for error in Forgetful(ConversationEvent, site).check()] == ["hearth.E001"]
    assert [error.id for error in Forgetful(CSATResponse, site).check()] == ["hearth.E001"]
    assert Scoped(CSATResponse, site).check() == []
    assert Forgetful(Label, site).check() == []  # setup data: no conversation in it
