"""Handoff: each rule alone, then the handoff itself (team queue, note, event, ledger, once)."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from ai import handoff
from ai.models import AICall, Classification, Operation, Sentiment
from conversations import services
from conversations.events import Actor
from conversations.models import Conversation, ConversationEvent, Message, Team
from tests.conversations.conftest import in_alpha, make_member, open_conversation  # noqa: F401 (fixtures)
from tests.conversations.factories import ContactFactory, InboxFactory, TeamFactory, TeamMemberFactory

pytestmark = pytest.mark.usefixtures("in_alpha")


# ----------------------------------------------------------------------------- asks for a person

ASKING = [
    ("en", "talk to a human"),
    ("en", "Agent please"),
    ("en", "Can I speak with a real person?"),
    ("en", "HUMAN!"),
    ("fr", "Je voudrais parler à un conseiller"),
    ("fr", "un humain svp"),
    ("de", "Ich möchte mit einem Menschen sprechen"),
    ("de", "Einen Mitarbeiter bitte"),
    ("es", "Quiero hablar con una persona"),
    ("es", "un agente por favor"),
    ("it", "Vorrei parlare con un operatore"),
    ("pt", "Quero falar com um atendente"),
    ("nl", "Ik wil een medewerker spreken"),
    ("sv", "Jag vill prata med en människa"),
    ("pl", "Chcę rozmawiać z człowiekiem"),
    ("ru", "Хочу поговорить с человеком"),
    ("tr", "Bir insanla konuşmak istiyorum"),
    ("ja", "オペレーターと話したい"),
    ("zh", "请转人工"),
]


@pytest.mark.parametrize(("language", "text"), ASKING)
def test_asking_for_a_person_is_understood_in_each_language(language, text):
    assert handoff.asks_for_person(text, language=language) == language


def test_the_request_is_found_whatever_language_the_message_was_detected_in():
    # Short messages are often mis-detected: the phrase decides, not the detector.
    assert handoff.asks_for_person("parler à un conseiller", language="en") == "fr"
    assert handoff.asks_for_person("Parler A UN Conseiller", language="") == "fr"  # case and accents do not matter


@pytest.mark.parametrize("text", [
    "Where is my parcel?",
    "The agent told me it ships on Monday",
    "How do I add people to my account?",
    "Comment changer mon adresse de livraison ?",
    "Wann kommt meine Bestellung an?",
    "¿Cuánto cuesta el envío a Madrid?",
    "人工智能可以帮我吗",  # "artificial intelligence": 人工 alone is not a request
])
def test_ordinary_questions_do_not_ask_for_a_person(text):
    assert handoff.asks_for_person(text) is None


def test_every_language_hearth_reads_has_phrases():
    assert {"en", "fr", "de", "es", "it", "pt", "nl"} <= set(handoff.PERSON_REQUEST_LANGUAGES)


# ----------------------------------------------------------------------------- the other rules


def _classification(**fields):
    return Classification(category=fields.pop("category", ""), confidence=0.9, provider="local", model="test", **fields)


@pytest.mark.parametrize(("sentiment", "score", "fires"), [
    (Sentiment.FRUSTRATED, -0.3, True),  # cues of escalation, in any language
    (Sentiment.NEGATIVE, -0.73, True),
    (Sentiment.NEGATIVE, -0.5, True),
    (Sentiment.NEGATIVE, -0.42, False),  # "My parcel is late, sadly": the AI may answer that
    (Sentiment.NEUTRAL, 0.0, False),
    (Sentiment.POSITIVE, 0.6, False),
])
def test_only_strongly_negative_sentiment_hands_off(sentiment, score, fires):
    assert handoff.sentiment_strongly_negative(_classification(sentiment=sentiment, sentiment_score=score)) is fires


def test_no_classification_is_not_negative():
    assert handoff.sentiment_strongly_negative(None) is False


def test_never_automatic_category_of_the_message_or_the_conversation(open_conversation):
    conversation = open_conversation(inbox=InboxFactory(auto_assign=False, ai_never_auto_categories=["Refunds", "legal"]))
    assert handoff.category_never_automatic(conversation=conversation, classification=_classification(category="refunds")) == "refunds"
    assert handoff.category_never_automatic(conversation=conversation, classification=_classification(category="shipping")) is None
    conversation.ai_category = "legal"  # e.g. an agent's correction
    assert handoff.category_never_automatic(conversation=conversation, classification=_classification(category="shipping")) == "legal"
    assert handoff.category_never_automatic(conversation=conversation, classification=None) == "legal"


def _customer_writes(conversation, text):
    return services.message_add_incoming(conversation=conversation, content=text)[0]


def test_two_ai_answers_in_a_row_then_the_customer_again_is_unsettled(open_conversation):
    conversation = open_conversation(content="How do I reset my password?")
    services.message_add_reply(conversation=conversation, content="Use the link on the login page.", by_ai=True)
    once = _customer_writes(conversation, "I did, nothing came")
    assert not handoff.ai_answers_unsettled(message=once)  # one AI answer: it may try again
    services.message_add_reply(conversation=conversation, content="Check your spam folder.", by_ai=True)
    twice = _customer_writes(conversation, "Not there either")
    assert handoff.ai_answers_unsettled(message=twice)


def test_an_agent_reply_between_ai_answers_resets_the_count(open_conversation, make_member):
    conversation = open_conversation(content="How do I reset my password?")
    services.message_add_reply(conversation=conversation, content="Use the link on the login page.", by_ai=True)
    _customer_writes(conversation, "I did, nothing came")
    services.message_add_reply(conversation=conversation, content="I resent it for you.", author=make_member())
    _customer_writes(conversation, "Got it, and how do I change my email?")
    services.message_add_reply(conversation=conversation, content="Settings > Profile.", by_ai=True)
    latest = _customer_writes(conversation, "Thanks, and my phone number?")
    assert not handoff.ai_answers_unsettled(message=latest)


def test_notes_do_not_count_as_answers(open_conversation, make_member):
    conversation = open_conversation(content="How do I reset my password?")
    services.message_add_reply(conversation=conversation, content="Use the link on the login page.", by_ai=True)
    _customer_writes(conversation, "I did, nothing came")
    services.message_add_note(conversation=conversation, content="Watching this one", author=make_member())
    services.message_add_reply(conversation=conversation, content="Check your spam folder.", by_ai=True)
    assert handoff.ai_answers_unsettled(message=_customer_writes(conversation, "Not there either"))


def test_rule_order_and_reasons(open_conversation):
    conversation = open_conversation(inbox=InboxFactory(auto_assign=False, ai_never_auto_categories=["refunds"]),
                                     content="I want a refund, let me talk to a human")
    message = conversation.messages.get()
    fired = handoff.handoff_rule_fired(message=message, classification=_classification(category="refunds", language="en"))
    assert fired == handoff.Handoff(handoff.RULE_ASKED_FOR_PERSON, "the customer asked for a person (en)")
    quiet = open_conversation(content="How long does shipping take?")
    assert handoff.handoff_rule_fired(message=quiet.messages.get(), classification=_classification(category="shipping")) is None


# ----------------------------------------------------------------------------- the handoff


def test_handoff_sends_to_the_inbox_team_assigns_and_says_why(make_member):
    agent = make_member(availability=Membership.Availability.ONLINE)
    team = TeamFactory(name="Support", auto_assign=True, strategy=Team.Strategy.LEAST_LOADED)
    TeamMemberFactory(team=team, user=agent)
    inbox = InboxFactory(auto_assign=True, default_team=team)
    conversation = services.conversation_open(inbox=inbox, contact=ContactFactory(), content="Hi")
    # As if routing had cleared the team and the AI had answered (no one waiting, nobody assigned).
    services.conversation_assignment_set(conversation=conversation, team=None, assignee=None, by=Actor.system())
    services.message_add_reply(conversation=conversation, content="Hello! How can I help?", by_ai=True)

    assert handoff.conversation_handoff(conversation=conversation, reason="the customer asked for a person (en)", rule=handoff.RULE_ASKED_FOR_PERSON)

    conversation = Conversation.objects.get(pk=conversation.pk)
    assert conversation.ai_handoff_at is not None and conversation.ai_handoff_reason == "the customer asked for a person (en)"
    assert conversation.team == team and conversation.assignee == agent
    assert conversation.waiting_since == conversation.ai_handoff_at  # in the queue as waiting for a person
    note = conversation.messages.get(kind=Message.Kind.NOTE)
    assert note.sender_type == Message.SenderType.AI and "the customer asked for a person" in note.content
    event = ConversationEvent.objects.get(conversation=conversation, action="handed_off")
    assert (event.actor_type, event.new_value, event.reason) == ("ai", "asked_for_person", "the customer asked for a person (en)")
    assert AICall.objects.filter(operation=Operation.HANDOFF, conversation=conversation).count() == 1


def test_handoff_happens_once(open_conversation):
    conversation = open_conversation()
    assert handoff.conversation_handoff(conversation=conversation, reason="first", rule=handoff.RULE_UNSETTLED)
    assert not handoff.conversation_handoff(conversation=conversation, reason="second", rule=handoff.RULE_ASKED_FOR_PERSON)
    conversation.refresh_from_db()
    assert conversation.ai_handoff_reason == "first"
    assert conversation.messages.filter(kind=Message.Kind.NOTE).count() == 1
    assert ConversationEvent.objects.filter(conversation=conversation, action="handed_off").count() == 1


def test_handoff_of_a_resolved_conversation_reopens_it(open_conversation, make_member):
    conversation = open_conversation()
    services.conversation_status_set(conversation=conversation, status=Conversation.Status.RESOLVED, by=Actor.agent(make_member()))
    handoff.conversation_handoff(conversation=conversation, reason=handoff.REASON_CUSTOMER_BUTTON)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN and conversation.waiting_since is not None
