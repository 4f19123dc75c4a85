"""Training a tenant's classifier: a new version is used by the same process without a
restart, tenants never see each other's models or examples, an agent's example without a
vector is embedded at training, the tenant's threshold setting acts at once, and the nightly
job retrains only when something new was learnt."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from ai.examples import example_add, example_text_hash, examples_import
from ai.models import AISettings, Category, ClassifierVersion, TrainingExample
from ai.providers.base import CategoryOption, ClassifyRequest
from ai.providers.local import LocalProvider, classifier_current
from ai.tasks import classifiers_retrain
from ai.training import classifier_train
from tests.ai.test_local_models import EXAMPLES

pytestmark = pytest.mark.django_db


def _import(*labels):
    return examples_import([(text, label) for label in labels for text in EXAMPLES[label]])


def _classify(text):
    categories = tuple(CategoryOption(name=name) for name in Category.objects.filter(is_active=True).values_list("name", flat=True))
    return LocalProvider().classify(ClassifyRequest(text=text, categories=categories))


def test_the_text_hash_ignores_case_width_and_spacing():
    assert example_text_hash("  Where is\tmy ORDER? ") == example_text_hash("where is my order?")
    assert example_text_hash("ＡＢＣ") == example_text_hash("abc")  # NFKC: full-width letters
    assert example_text_hash("where is my order?") != example_text_hash("where is my order")


def test_a_new_version_is_used_by_the_same_process_without_a_restart(alpha):
    with tenant_context(alpha):
        _import("billing", "login")
        v1 = classifier_train()
        answer = _classify("My parcel was delivered to the wrong address").value
        assert (v1.version, answer.classifier_version) == (1, 1)
        assert answer.category != "shipping"

        _import("shipping")
        v2 = classifier_train()
        classifier, version = classifier_current()
        answer = _classify("My parcel was delivered to the wrong address").value

    assert v2.version == 2 and version == 2
    assert classifier.labels == ["billing", "login", "shipping"]
    assert (answer.category, answer.classifier_version) == ("shipping", 2)
    assert "similar to" in answer.reasoning and answer.evidence["nearest"][0]["label"] == "shipping"


def test_tenants_classify_into_their_own_categories_only(alpha, beta):
    with tenant_context(alpha):
        _import("billing", "login")
        classifier_train()
    with tenant_context(beta):
        _import("shipping", "bug")
        classifier_train()

    with tenant_context(alpha):
        classifier, _ = classifier_current()
        assert classifier.labels == ["billing", "login"]
        assert set(TrainingExample.objects.values_list("category__name", flat=True)) == {"billing", "login"}
        answer = _classify("The app crashes every time I open the settings page").value
        assert answer.category in {"billing", "login", None}
        assert all(e["label"] in {"billing", "login"} for e in answer.evidence["nearest"])
    with tenant_context(beta):
        classifier, _ = classifier_current()
        assert classifier.labels == ["bug", "shipping"]
        answer = _classify("The app crashes every time I open the settings page").value
        assert answer.category == "bug"
        assert all(e["label"] in {"bug", "shipping"} for e in answer.evidence["nearest"])
        assert ClassifierVersion.objects.count() == 1


def test_an_agents_example_is_embedded_at_training_and_inactive_categories_are_not_learnt(alpha):
    with tenant_context(alpha):
        _import("billing", "login", "bug")
        bug = Category.objects.get(name="bug")
        example, created = example_add(category=Category.objects.get(name="login"), text="Magic link login says expired", source="correction")
        assert created and example.embedding is None
        again, created = example_add(category=Category.objects.get(name="login"), text="magic link  LOGIN says expired", source="correction")
        assert not created and again.pk == example.pk
        bug.is_active = False
        bug.save()

        trained = classifier_train()

        example.refresh_from_db()
        assert example.embedding_model == "e5-small" and len(example.embedding) == 384
        assert trained.categories == ["billing", "login"]
        assert trained.example_count == 17
        assert trained.metrics["held_out"]["accuracy"] > 0.8


def test_the_tenants_out_of_scope_setting_acts_without_retraining(alpha):
    with tenant_context(alpha):
        _import("billing", "login")
        classifier_train()
        assert _classify("Please refund the duplicate charge on my credit card").value.category == "billing"

        AISettings.objects.create(out_of_scope_threshold=1.01)  # nothing can reach it
        answer = _classify("Please refund the duplicate charge on my credit card").value

    assert answer.category is None and answer.evidence["out_of_scope"]
    assert answer.reasoning.startswith("out of scope")


def test_the_nightly_job_retrains_only_a_tenant_with_something_new(alpha):
    with tenant_context(alpha):
        assert classifiers_retrain() is None  # nothing to learn from
        _import("billing", "login")
        assert classifiers_retrain() == 1
        assert classifiers_retrain() is None  # nothing new since v1

        example_add(category=Category.objects.get(name="billing"), text="Why did my invoice double?", source="correction")
        assert classifiers_retrain() == 2
        assert ClassifierVersion.objects.get(version=2).example_count == 17


def test_a_corrected_customers_words_are_never_quoted_as_evidence(alpha):
    """An agent's correction is a customer's message from some team's conversation, while the
    classifier's reasoning is shown to agents of every team: it is cited by reference only."""
    with tenant_context(alpha):
        _import("billing", "login")
        secret = "Refund my order 7781 to Jane Roe's card ending 4242"
        example_add(category=Category.objects.get(name="billing"), text=secret, source="correction")
        classifier_train()

        result = _classify("Refund my order 7781 to my card please").value

        assert result.category == "billing"
        quoted = " ".join(item["text"] for item in result.evidence["nearest"])
        assert "Jane Roe" not in result.reasoning and "Jane Roe" not in quoted
        assert "an agent's correction" in result.reasoning
