"""The demo tenant's classifier: `seed_demo` leaves categories, examples (its conversations'
openers plus written ones) and a trained model, quickly, and re-running it changes nothing."""

from __future__ import annotations

import time

import pytest
from django_tenants.utils import tenant_context

from ai.demo import DESCRIPTIONS, demo_ai_seed
from ai.models import Category, ClassifierVersion, TrainingExample
from ai.providers.base import CategoryOption, ClassifyRequest
from ai.providers.local import LocalProvider
from conversations import services
from tests.conversations.factories import ContactFactory, InboxFactory

pytestmark = pytest.mark.django_db


def test_the_demo_gets_a_trained_model_from_its_conversations_in_seconds(alpha):
    with tenant_context(alpha):
        opened = services.conversation_open(
            inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content="The gift card code is refused at checkout"
        )
        services.conversation_classification_set(conversation=opened, category="billing", confidence=0.9)

        started = time.perf_counter()
        version = demo_ai_seed()
        seconds = time.perf_counter() - started

        assert version == 1
        assert seconds < 60  # embedding ~80 short texts and a small fit, even on a busy machine
        assert sorted(Category.objects.values_list("name", flat=True)) == sorted(DESCRIPTIONS)
        assert TrainingExample.objects.filter(text="The gift card code is refused at checkout", category__name="billing").exists()
        categories = tuple(CategoryOption(name=name) for name in DESCRIPTIONS)
        answer = LocalProvider().classify(ClassifyRequest(text="my parcel never came, the tracking is stuck", categories=categories)).value
        assert answer.category == "shipping" and answer.classifier_version == 1

        assert demo_ai_seed() is None  # nothing new: no second version, no duplicate examples
        assert ClassifierVersion.objects.count() == 1


def test_the_demo_routes_each_topic_to_its_team(alpha):
    from ai.models import RoutingRule
    from conversations.models import Team

    with tenant_context(alpha):
        billing = Team.objects.create(name="Billing")
        demo_ai_seed()
        demo_ai_seed()

        rules = list(RoutingRule.objects.values_list("category__name", "team__name"))
        assert rules == [("billing", billing.name)]  # only teams that exist, once however often seeded
