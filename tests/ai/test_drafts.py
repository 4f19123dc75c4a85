"""Drafts for customer messages, made as the follow-up makes them (ai.drafts.message_draft on a
stored, classified message) against a tiny knowledge base built with kb.services: the right
article cited, the greeting in the customer's language, no source -> a knowledge gap, an LLM
through the fake OpenAI-compatible server (its citations checked), its failure -> local."""

from __future__ import annotations

import pytest

from ai.drafts import citations_check, message_draft
from ai.models import AICall, Draft, KnowledgeGap
from conversations import services
from kb.services import article_chunks_sync, article_create
from tests.ai.desk_world import classification_add
from tests.ai.fake_openai import FakeOpenAI, fake_openai, fake_openai_server, openai_configure  # noqa: F401 (fixtures)
from tests.conversations.conftest import in_alpha, make_member, open_conversation  # noqa: F401 (fixtures)
from tests.conversations.factories import ContactFactory

pytestmark = pytest.mark.usefixtures("in_alpha")

REFUNDS = """Refunds go back to the card you paid with. A refund takes five to seven working days to appear on your statement after we approve it.

You can ask for a refund within 30 days of delivery from the Orders page. Items must be unused and in their original packaging."""
SHIPPING = """Standard delivery takes three to five working days in Europe. Express delivery arrives the next working day if you order before 2 pm.

Every parcel has a tracking number, sent by email when it leaves our warehouse. You can follow it on the carrier's website."""
PASSWORD = """To reset your password, click "Forgot password" on the sign-in page and enter your email address. We send a link that works for one hour.

If the email does not arrive, check your spam folder or ask us to send it again."""


@pytest.fixture
def knowledge():
    articles = {}
    for slug, title, body, category in [
        ("refunds", "Refunds", REFUNDS, "Billing"),
        ("delivery-times", "Delivery times and tracking", SHIPPING, "Shipping"),
        ("reset-password", "Resetting your password", PASSWORD, "Account"),
    ]:
        article = article_create(title=title, body=body, slug=slug, category=category)
        article_chunks_sync(article=article)
        articles[slug] = article
    return articles


def customer_message(open_conversation, text, *, category="billing", language="en", name="Camille Durand", **classification):
    conversation = open_conversation(content=text, contact=ContactFactory(name=name))
    message = conversation.messages.get(sender_type="contact")
    classification_add(message, category, language=language, **classification)
    return message


def test_a_local_draft_cites_the_article_that_answers_and_quotes_its_relevant_sentences(knowledge, open_conversation):
    message = customer_message(open_conversation, "How many days until my refund shows up on my card?")

    draft = message_draft(message)

    assert draft.status == Draft.Status.PENDING and not draft.no_source
    assert draft.sources[0]["slug"] == "refunds"
    assert "five to seven working days" in draft.content
    assert "original packaging" not in draft.content  # the sentences that answer, not the whole article
    assert draft.content.startswith("Hello Camille,")
    assert draft.provider == "local" and draft.language == "en"
    assert draft.confidence > 0.5 and "Refunds" in draft.reasoning
    assert message_draft(message).pk == draft.pk  # a second delivery of the follow-up: the same draft
    assert AICall.objects.filter(message=message, operation="embed").exists()  # on the ledger, linked


def test_a_french_customer_gets_a_french_greeting_and_closing(knowledge, open_conversation):
    message = customer_message(open_conversation, "Combien de jours faut-il pour recevoir mon remboursement ?", language="fr")

    draft = message_draft(message)

    assert draft.sources[0]["slug"] == "refunds"
    assert draft.content.startswith("Bonjour Camille,")
    assert "N'hésitez pas à nous écrire" in draft.content
    assert draft.language == "fr"


def test_a_question_the_knowledge_base_cannot_answer_is_a_no_source_draft_and_a_knowledge_gap(knowledge, open_conversation):
    message = customer_message(open_conversation, "Do you sponsor local football teams or charity runs?", category="partnerships")

    draft = message_draft(message)

    assert draft.no_source and draft.sources == [] and draft.confidence == 0.0
    assert "No article in the knowledge base answers this question" in draft.content
    gap = KnowledgeGap.objects.get(message=message)
    assert (gap.category, gap.question, gap.draft_id) == ("partnerships", message.content, draft.pk)
    assert gap.best_similarity is not None and gap.best_similarity < 0.82


def test_a_new_customer_message_supersedes_the_pending_draft_of_the_previous_one(knowledge, open_conversation):
    first = customer_message(open_conversation, "How long does a refund take?")
    first_draft = message_draft(first)
    second, _ = services.message_add_incoming(conversation=first.conversation, content="Also, how many days does standard delivery take for my parcel?")
    classification_add(second, "shipping", language="en")

    second_draft = message_draft(second)

    first_draft.refresh_from_db()
    assert (first_draft.status, second_draft.status) == (Draft.Status.SUPERSEDED, Draft.Status.PENDING)
    assert second_draft.sources[0]["slug"] == "delivery-times"


def test_a_vague_follow_up_is_searched_with_the_customer_s_earlier_messages(knowledge, open_conversation):
    first = customer_message(open_conversation, "I clicked forgot password but the reset link email never came")
    follow_up, _ = services.message_add_incoming(conversation=first.conversation, content="Still nothing, what now?")
    classification_add(follow_up, "login", language="en")

    draft = message_draft(follow_up)

    assert not draft.no_source and draft.sources[0]["slug"] == "reset-password"
    assert "earlier customer message" in draft.reasoning
    assert "check your spam folder" in draft.content


def test_sentences_from_two_passages_of_one_article_read_in_the_article_s_order(knowledge, open_conversation):
    message = customer_message(open_conversation, "I never got the password reset email", category="login")

    draft = message_draft(message)

    # The second paragraph matches best, but the answer reads as the article tells it.
    assert draft.content.index("Forgot password") < draft.content.index("check your spam folder")


def _llm(fake, answer):
    # Local embeddings (the knowledge base's 384 dimensions); the chat model is the fake's.
    openai_configure(fake, embedding_model="", max_retries=0)
    fake.script(FakeOpenAI.chat_text(answer) if isinstance(answer, str) else answer)


def test_an_llm_draft_keeps_citations_of_the_passages_it_was_given_and_removes_the_others(open_conversation, fake_openai):
    # Two sections: two passages (a section's paragraphs would share one).
    sections = REFUNDS.split("\n\n")
    refunds = article_create(title="Refunds", body=f"## How long it takes\n\n{sections[0]}\n\n## Asking for one\n\n{sections[1]}", slug="refunds")
    article_chunks_sync(article=refunds)
    _llm(fake_openai, "Hello! Refunds take five to seven working days [1] and go back to your card [2]. See also our policy [3].")
    message = customer_message(open_conversation, "How many days until my refund shows up on my card? Can I ask for it from the Orders page?")

    draft = message_draft(message)

    prompt = fake_openai.requests[-1].body["messages"][-1]["content"]
    assert "[1] Refunds" in prompt and "[2] Refunds" in prompt and "[3]" not in prompt
    assert len(draft.sources) == 2 and {s["slug"] for s in draft.sources} == {"refunds"}
    assert draft.citations_removed == 1
    assert "[3]" not in draft.content and "[1]" in draft.content and "[2]" in draft.content
    assert draft.content.endswith("See also our policy.")
    assert (draft.provider, draft.model) == ("openai", "gpt-fake")
    assert "1 citation(s) of passages it was not given removed" in draft.reasoning
    assert AICall.objects.filter(message=message, operation="generate", provider="openai", status="ok").exists()


def test_the_provider_failing_falls_back_to_the_local_extractive_draft(knowledge, open_conversation, fake_openai):
    _llm(fake_openai, FakeOpenAI.status(500))
    message = customer_message(open_conversation, "How many days until my refund shows up on my card?")

    draft = message_draft(message)

    assert draft.provider == "local" and draft.sources[0]["slug"] == "refunds"
    assert "five to seven working days" in draft.content
    assert "chat model failed" in draft.reasoning
    assert AICall.objects.filter(message=message, operation="generate", provider="openai", status="error").exists()


def test_citations_check_counts_each_number_outside_the_given_passages():
    assert citations_check("A [1, 4]. B [2][5]. C [7].", passages=2) == ("A [1]. B [2]. C.", {1, 2}, 3)


def test_every_ledger_row_of_a_draft_names_the_message_it_answers(knowledge, open_conversation):
    message = customer_message(open_conversation, "How many days until my refund shows up on my card?")
    before = AICall.objects.count()

    message_draft(message)

    made = AICall.objects.all().order_by("id")[before:]
    assert [call.operation for call in made] and all(call.operation == "embed" for call in made)
    assert {(call.message_id, call.conversation_id) for call in made} == {(message.pk, message.conversation_id)}
