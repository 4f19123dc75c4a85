"""Routing rules and suggestions, on classifications as the pipeline stores them: first match in
position order, conditions, the confidence threshold, the AI never overriding an agent, every
automatic change on the timeline with the AI as actor and the rule as reason; the suggested
agent; the rule admin by role. (End to end through a worker: test_pipeline.py.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import Membership
from ai import routing, suggestions
from ai.models import AISettings, Category, Classification, RoutingRule
from conversations import services
from conversations.events import Actor, describe
from conversations.models import Conversation, ConversationEvent, Priority
from tests.accounts.factories import PASSWORD, MembershipFactory
from tests.conftest import admin_login
from tests.conversations.factories import ContactFactory, InboxFactory, LabelFactory, TeamFactory, TeamMemberFactory

Role = Membership.Role
AI = ConversationEvent.ActorType.AI


@pytest.fixture
def in_alpha(db, alpha):
    with tenant_context(alpha):
        yield alpha


@pytest.fixture
def member(alpha):
    def make(role=Role.AGENT, availability=Membership.Availability.ONLINE, team=None, full_name="Dana Reyes"):
        user = MembershipFactory(account=alpha, role=role, availability=availability, user__full_name=full_name).user
        if team is not None:
            TeamMemberFactory(team=team, user=user)
        return user

    return make


def _conversation(inbox=None, content="Hello"):
    return services.conversation_open(inbox=inbox or InboxFactory(auto_assign=False), contact=ContactFactory(), content=content)


def _classified(conversation, *, category="billing", confidence=0.91, priority=Priority.NONE, language="en", out_of_scope=False):
    """The row the pipeline stores for the conversation's newest message."""
    return Classification.objects.create(
        message=conversation.messages.order_by("-created_at", "-id").first(), conversation=conversation,
        category="" if out_of_scope else category, is_out_of_scope=out_of_scope, confidence=confidence, priority=priority,
        language=language, provider="local", model="test",
    )


def _route(conversation, **classification):
    rule = routing.conversation_route(conversation=conversation, classification=_classified(conversation, **classification))
    conversation.refresh_from_db()
    return rule


def _ai_events(conversation):
    return list(ConversationEvent.objects.filter(conversation=conversation, actor_type=AI).order_by("id"))


@pytest.fixture
def categories(in_alpha):
    return {name: Category.objects.create(name=name) for name in ("billing", "login", "shipping")}


# ----------------------------------------------------------------------------- which rule


@pytest.mark.usefixtures("in_alpha")
def test_the_first_matching_rule_by_position_acts_and_the_timeline_says_why(categories):
    finance, general = TeamFactory(name="Finance"), TeamFactory(name="General")
    RoutingRule.objects.create(name="Everything to General", position=2, team=general)
    RoutingRule.objects.create(name="Billing to Finance", position=1, category=categories["billing"], team=finance)
    conversation = _conversation()

    rule = _route(conversation, category="billing", confidence=0.91)

    assert rule.name == "Billing to Finance"
    assert conversation.team == finance
    [event] = _ai_events(conversation)
    assert (event.action, event.actor_name, event.new_value) == ("team_changed", "AI", "Finance")
    assert event.reason == "rule 'Billing to Finance' matched category billing (0.91)"
    assert describe(event) == "AI assigned this to Finance: rule 'Billing to Finance' matched category billing (0.91)"


@pytest.mark.usefixtures("in_alpha")
def test_reordering_the_rules_changes_which_one_acts(categories):
    finance, general = TeamFactory(name="Finance"), TeamFactory(name="General")
    catch_all = RoutingRule.objects.create(name="Everything to General", position=1, team=general)
    RoutingRule.objects.create(name="Billing to Finance", position=2, category=categories["billing"], team=finance)

    first = _conversation()
    assert _route(first, category="billing").name == "Everything to General"
    assert first.team == general
    assert _ai_events(first)[0].reason == "rule 'Everything to General' matched every message"

    catch_all.position = 3
    catch_all.save()
    second = _conversation()
    assert _route(second, category="billing").name == "Billing to Finance"
    assert second.team == finance


@pytest.mark.usefixtures("in_alpha")
def test_below_the_confidence_threshold_a_category_condition_does_not_match(categories):
    AISettings.objects.create(routing_confidence_threshold=0.6)
    finance, general = TeamFactory(name="Finance"), TeamFactory(name="General")
    RoutingRule.objects.create(name="Billing to Finance", position=1, category=categories["billing"], team=finance)
    RoutingRule.objects.create(name="Everything to General", position=2, team=general)

    unsure = _conversation()
    assert _route(unsure, category="billing", confidence=0.55).name == "Everything to General"
    sure = _conversation()
    assert _route(sure, category="billing", confidence=0.6).name == "Billing to Finance"
    out_of_scope = _conversation()
    assert _route(out_of_scope, out_of_scope=True, confidence=0.99).name == "Everything to General"


@pytest.mark.usefixtures("in_alpha")
def test_priority_language_and_inbox_conditions(categories):
    escalations, spanish, vip = TeamFactory(name="Escalations"), TeamFactory(name="Soporte"), TeamFactory(name="VIP")
    vip_inbox = InboxFactory(auto_assign=False)
    RoutingRule.objects.create(name="Urgent", position=1, priority=Priority.HIGH, team=escalations)
    RoutingRule.objects.create(name="Spanish", position=2, language="es", team=spanish)
    RoutingRule.objects.create(name="VIP inbox", position=3, inbox=vip_inbox, team=vip)

    assert _route(_conversation(), priority=Priority.URGENT).name == "Urgent"  # at or above
    assert _route(_conversation(), priority=Priority.MEDIUM, language="es").name == "Spanish"
    assert _route(_conversation(inbox=vip_inbox), priority=Priority.MEDIUM, language="en").name == "VIP inbox"
    assert _route(_conversation(), priority=Priority.MEDIUM, language="en") is None
    assert _ai_events(Conversation.objects.get(team=escalations))[0].reason == "rule 'Urgent' matched priority urgent"


@pytest.mark.usefixtures("in_alpha")
def test_an_inactive_rule_is_skipped(categories):
    RoutingRule.objects.create(name="Off", position=1, team=TeamFactory(), is_active=False)
    conversation = _conversation()
    assert _route(conversation) is None
    assert conversation.team is None and _ai_events(conversation) == []


# ----------------------------------------------------------------------------- what it does


@pytest.mark.usefixtures("in_alpha")
def test_the_rule_sets_priority_and_label_then_the_team_auto_assigns(categories, member):
    finance = TeamFactory(name="Finance", auto_assign=True)
    agent = member(team=finance)
    member(team=finance, availability=Membership.Availability.OFFLINE)
    label = LabelFactory(name="money")
    RoutingRule.objects.create(
        name="Billing to Finance", category=categories["billing"], team=finance, set_priority=Priority.HIGH, add_label=label,
    )
    conversation = _conversation(inbox=InboxFactory(auto_assign=True))

    _route(conversation, category="billing", confidence=0.8)

    assert (conversation.team, conversation.assignee, conversation.priority) == (finance, agent, Priority.HIGH)
    assert list(conversation.labels.all()) == [label]
    events = _ai_events(conversation)
    assert [e.action for e in events] == ["team_changed", "priority_changed", "label_added", "assigned"]
    assert {e.reason for e in events} == {"rule 'Billing to Finance' matched category billing (0.80)"}
    assert {e.actor_type for e in events} == {AI}


@pytest.mark.usefixtures("in_alpha")
def test_routing_twice_changes_nothing_the_second_time(categories, member):
    finance = TeamFactory(name="Finance")
    member(team=finance)
    RoutingRule.objects.create(name="Billing", category=categories["billing"], team=finance, add_label=LabelFactory())
    conversation = _conversation(inbox=InboxFactory(auto_assign=True))
    classification = _classified(conversation)
    routing.conversation_route(conversation=conversation, classification=classification)
    count = ConversationEvent.objects.filter(conversation=conversation).count()

    routing.conversation_route(conversation=conversation, classification=classification)

    assert ConversationEvent.objects.filter(conversation=conversation).count() == count


@pytest.mark.usefixtures("in_alpha")
def test_a_team_an_agent_chose_is_never_overridden(categories, member):
    finance, technical = TeamFactory(name="Finance"), TeamFactory(name="Technical")
    RoutingRule.objects.create(name="Billing to Finance", category=categories["billing"], team=finance, add_label=LabelFactory(name="money"))
    human = member(role=Role.MANAGER)
    conversation = _conversation()
    services.conversation_team_set(conversation=conversation, team=technical, by=Actor.agent(human))

    _route(conversation, category="billing")

    assert conversation.team == technical
    assert not any(e.field == "team" for e in _ai_events(conversation))
    assert [label.name for label in conversation.labels.all()] == ["money"]  # adding a label overrides nothing


@pytest.mark.usefixtures("in_alpha")
def test_an_agent_who_replied_keeps_the_conversation(categories, member):
    RoutingRule.objects.create(name="Billing to Finance", category=categories["billing"], team=TeamFactory(name="Finance"))
    agent = member()
    conversation = _conversation()
    services.message_add_reply(conversation=conversation, content="On it", author=agent)

    _route(conversation, category="billing")

    assert conversation.team is None and conversation.assignee == agent


@pytest.mark.usefixtures("in_alpha")
def test_the_inbox_default_team_is_not_a_human_choice(categories):
    finance, front_desk = TeamFactory(name="Finance"), TeamFactory(name="Front desk")
    RoutingRule.objects.create(name="Billing to Finance", category=categories["billing"], team=finance)
    conversation = _conversation(inbox=InboxFactory(auto_assign=False, default_team=front_desk))
    assert conversation.team == front_desk

    _route(conversation, category="billing")

    assert conversation.team == finance


@pytest.mark.usefixtures("in_alpha")
def test_a_priority_an_agent_set_and_a_label_an_agent_removed_stay(categories, member):
    label = LabelFactory(name="money")
    RoutingRule.objects.create(name="Billing", category=categories["billing"], set_priority=Priority.URGENT, add_label=label)
    human = member()
    conversation = _conversation()
    services.conversation_priority_set(conversation=conversation, priority=Priority.LOW, by=Actor.agent(human))
    services.conversation_labels_add(conversation=conversation, labels=[label], by=Actor.system())
    services.conversation_labels_remove(conversation=conversation, labels=[label], by=Actor.agent(human))

    _route(conversation, category="billing")

    assert conversation.priority == Priority.LOW
    assert list(conversation.labels.all()) == []
    assert _ai_events(conversation) == []


# ----------------------------------------------------------------------------- suggestions


def _resolved_by(agent, team, *, category, days_ago=1):
    conversation = _conversation()
    services.conversation_classification_set(conversation=conversation, category=category, confidence=0.9)
    services.conversation_assignment_set(conversation=conversation, team=team, assignee=agent, by=Actor.system())
    at = timezone.now() - timedelta(days=days_ago)
    services.conversation_status_set(conversation=conversation, status=Conversation.Status.RESOLVED, by=Actor.agent(agent), at=at)


@pytest.mark.usefixtures("in_alpha")
def test_the_suggested_agent_resolved_the_most_of_that_category_lately_and_is_available(categories, member):
    finance, technical = TeamFactory(name="Finance"), TeamFactory(name="Technical")
    star = member(team=finance, full_name="Star Offline", availability=Membership.Availability.OFFLINE)
    steady = member(team=finance, full_name="Steady Online")
    other = member(team=finance, full_name="Other Online")
    outsider = member(team=technical, full_name="Not In Finance")
    for _ in range(3):
        _resolved_by(star, finance, category="billing")
        _resolved_by(outsider, technical, category="billing", days_ago=40)  # too long ago to count
    for _ in range(2):
        _resolved_by(steady, finance, category="billing")
    _resolved_by(other, finance, category="billing")
    _resolved_by(other, finance, category="login")
    _resolved_by(other, finance, category="login")

    classification = Classification(category="billing", confidence=0.9)
    suggestions.classification_suggest(classification=classification, rule=None)

    # Finance resolved the most billing conversations in the last 30 days; its best resolver
    # is offline, so the next one who is online.
    assert classification.suggested_team == finance
    assert classification.suggested_agent == steady


@pytest.mark.usefixtures("in_alpha")
def test_the_rule_team_is_the_suggested_team_and_nobody_is_suggested_without_evidence(categories, member):
    finance = TeamFactory(name="Finance")
    member(team=finance)
    rule = RoutingRule.objects.create(name="Billing", category=categories["billing"], team=finance)

    classification = Classification(category="billing", confidence=0.9)
    suggestions.classification_suggest(classification=classification, rule=rule)

    assert classification.suggested_team == finance and classification.suggested_agent is None


@pytest.mark.usefixtures("in_alpha")
def test_without_history_an_llm_s_suggested_agent_counts_only_if_available_in_the_team(categories, member):
    finance = TeamFactory(name="Finance")
    online, offline, elsewhere = member(team=finance), member(team=finance, availability=Membership.Availability.OFFLINE), member()
    rule = RoutingRule.objects.create(name="Billing", category=categories["billing"], team=finance)

    def suggested(provider_agent_id):
        classification = Classification(category="billing", confidence=0.9)
        suggestions.classification_suggest(classification=classification, rule=rule, provider_agent_id=provider_agent_id)
        return classification.suggested_agent

    assert suggested(online.pk) == online
    assert suggested(offline.pk) is None
    assert suggested(elsewhere.pk) is None


# ----------------------------------------------------------------------------- the rule admin

RULES = "/admin/ai/routingrule/"


def _rule_form(**fields):
    return {"name": "Billing to Finance", "position": "1", "is_active": "on", "category": "", "priority": "", "language": "",
            "inbox": "", "team": "", "set_priority": "", "add_label": "", **fields}


@pytest.mark.usefixtures("in_alpha")
def test_admins_write_rules_listed_in_position_order(categories, member, alpha_client):
    admin_login(alpha_client, member(role=Role.ADMIN).email, PASSWORD)
    finance = TeamFactory(name="Finance")
    RoutingRule.objects.create(name="Second", position=5)

    response = alpha_client.post(f"{RULES}add/", _rule_form(category=categories["billing"].pk, team=finance.pk, priority=Priority.HIGH))

    assert response.status_code == 302, response.content.decode()[:3000]
    rule = RoutingRule.objects.get(name="Billing to Finance")
    assert (rule.category, rule.team, rule.priority) == (categories["billing"], finance, Priority.HIGH)
    page = alpha_client.get(RULES).content.decode()
    assert page.index("Billing to Finance") < page.index("Second")


@pytest.mark.usefixtures("in_alpha")
def test_managers_read_rules_but_cannot_change_them(categories, member, alpha_client):
    rule = RoutingRule.objects.create(name="Billing to Finance", category=categories["billing"])
    admin_login(alpha_client, member(role=Role.MANAGER).email, PASSWORD)

    assert alpha_client.get(RULES).status_code == 200
    assert alpha_client.post(f"{RULES}add/", _rule_form(name="Sneaky")).status_code == 403
    alpha_client.post(f"{RULES}{rule.pk}/change/", _rule_form(name="Renamed"))
    assert RoutingRule.objects.get(pk=rule.pk).name == "Billing to Finance"


@pytest.mark.usefixtures("in_alpha")
def test_agents_do_not_see_rules_and_another_tenant_s_rules_are_not_listed(categories, member, alpha_client, beta):
    RoutingRule.objects.create(name="Alpha rule")
    agent = member(role=Role.AGENT)
    with tenant_context(beta):
        RoutingRule.objects.create(name="Beta secret rule")
    admin_login(alpha_client, agent.email, PASSWORD)
    assert alpha_client.get(RULES).status_code == 403

    owner = member(role=Role.OWNER)
    alpha_client.logout()
    admin_login(alpha_client, owner.email, PASSWORD)
    page = alpha_client.get(RULES).content.decode()
    assert "Alpha rule" in page and "Beta secret rule" not in page
