"""Priority from the words of a customer message (ai/local/urgency.py), and the offline
provider putting it on the classification it returns."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from ai.local.urgency import urgency_assess
from ai.providers.base import ClassifyRequest
from ai.providers.local import LocalProvider
from conversations.models import Priority


@pytest.mark.parametrize(
    ("text", "sentiment", "priority"),
    [
        ("Where is my parcel?", "neutral", Priority.NONE),
        ("Thanks, that solved it", "positive", Priority.NONE),
        ("I can't log in since this morning", "neutral", Priority.HIGH),
        ("Your site is down for everyone", "neutral", Priority.HIGH),
        ("The export is not working!!", "neutral", Priority.URGENT),  # shouted
        ("I was charged twice for the same order", "neutral", Priority.URGENT),
        ("Please fix this ASAP", "neutral", Priority.URGENT),
        ("I think my account was hacked", "neutral", Priority.URGENT),
        ("Still waiting, this is ridiculous", "frustrated", Priority.MEDIUM),  # mood alone
        ("Still can't log in, third time I write", "frustrated", Priority.URGENT),
        ("Es urgente, no puedo entrar a mi cuenta", "neutral", Priority.URGENT),
        ("No puedo entrar a mi cuenta", "neutral", Priority.HIGH),
        ("Je n'arrive pas à me connecter", "neutral", Priority.HIGH),
        ("Ich kann mich nicht anmelden", "neutral", Priority.HIGH),
        ("Mein Konto wurde gehackt", "neutral", Priority.URGENT),
    ],
)
def test_urgency_from_the_customer_s_words_and_mood(text, sentiment, priority):
    urgency = urgency_assess(text, sentiment=sentiment)
    assert urgency.priority == priority
    assert bool(urgency.cues) == (priority != Priority.NONE)


def test_words_inside_other_words_are_not_cues():
    assert urgency_assess("Downtown store opening hours?").priority == Priority.NONE
    assert urgency_assess("Is the hackathon open to customers?").priority == Priority.NONE


def test_the_offline_provider_returns_the_priority_with_or_without_a_trained_model(db, alpha):
    with tenant_context(alpha):
        urgent = LocalProvider().classify(ClassifyRequest(text="URGENT: I was charged twice this month")).value
        calm = LocalProvider().classify(ClassifyRequest(text="What are your opening hours?")).value
    assert (urgent.priority, calm.priority) == (Priority.URGENT, Priority.NONE)
