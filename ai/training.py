"""Training a tenant's classifier from its own examples, and storing it versioned.

Everything here runs in the current tenant's schema: the examples read, the vectors stored and
the `ClassifierVersion` written are that tenant's only, so no model ever mixes tenants.

- Examples come from every source (imports, agents' corrections, the demo, the admin); only
  active categories are learnt. Vectors were stored when the examples were imported; examples
  without one (a correction recorded in a request) or embedded by another model are embedded
  here, and stored, so the next training does not pay for them again.
- The out-of-scope threshold is chosen per tenant at training time from its own held-out
  examples (`IntentClassifier` calibrates it, see docs/ai-models.md): `in_scope_target` of
  held-out in-scope messages must pass it. With few examples per category the held-out scores
  are noisy and low, so the target is lower there. A tenant's own
  `AISettings.out_of_scope_threshold` replaces the chosen value when set (stored on the
  version for the record, and applied at prediction, so changing the setting acts at once).
- A new version is the newest; workers compare version numbers per call and load it
  (`ai.providers.local.classifier_current`).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Callable

import numpy as np
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from ai.local.classifier import IntentClassifier
from ai.local.embedders import DEFAULT_EMBEDDER, ai_threads, embedder_get
from ai.models import AISettings, Category, ClassifierVersion, TrainingExample
from config.errors import ApplicationError

_EMBED_BATCH = 256
# Share of the tenant's held-out in-scope examples the out-of-scope threshold lets through, by
# the median number of examples per category (chosen on CLINC150's val split, never its test
# split; docs/ai-models.md):
# - under 10, a held-out fold holds two or three messages per category, their scores sit as
#   low as unrelated messages' and a high target lets everything through: 0.85 still rejects
#   what fits no category, at the price of more hand-offs;
# - from 10, 0.95 (10 per category on val: 89-90% right with out of scope counted wrong, about
#   80% of out-of-scope messages caught);
# - from 50, 0.98: a tenant's examples resemble each other more than its next messages do
#   (at 0.95 on val only 93% of new in-scope messages were kept against 95% held out), and
#   with that much data the nearest category is right 96% of the time, so rejecting less
#   pays (val: 94.5% right, 84% of out-of-scope caught; 0.95 gave 91.8% and 96%).
IN_SCOPE_TARGETS = ((50, 0.98), (10, 0.95), (0, 0.85))

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def _active_examples():
    return TrainingExample.objects.filter(category__is_active=True)


def examples_embed_missing(*, embedder: str = DEFAULT_EMBEDDER, progress: Progress | None = None) -> int:
    """Embed (and store) the active categories' examples that have no vector from `embedder`."""
    stale = _active_examples().filter(Q(embedding__isnull=True) | ~Q(embedding_model=embedder)).order_by("pk")
    total = stale.count()
    if not total:
        return 0
    model = embedder_get(embedder)
    done = 0
    while True:
        batch = list(stale.only("pk", "text")[:_EMBED_BATCH])
        if not batch:
            break
        for example, vector in zip(batch, model.encode([e.text for e in batch])):
            example.embedding, example.embedding_model = vector, model.name
        TrainingExample.objects.bulk_update(batch, ["embedding", "embedding_model"])
        done += len(batch)
        if progress:
            progress("embedding", done, total)
    return done


def in_scope_target_for(counts: Counter) -> float:
    median = float(np.median(list(counts.values()))) if counts else 0.0
    return next(target for least, target in IN_SCOPE_TARGETS if median >= least)


def _evidence_text(pk: int, text: str, source: str) -> str:
    """The text the classifier keeps to quote as evidence ("similar to ..."). An agent's
    correction is a customer's words from a conversation of some team, and the reasoning is
    shown to agents of every team: it is quoted by reference, never by its words."""
    if source == TrainingExample.Source.CORRECTION:
        return f"an agent's correction (example {pk})"
    return text


def classifier_train(*, embedder: str = DEFAULT_EMBEDDER, progress: Progress | None = None) -> ClassifierVersion:
    """Train the current tenant's classifier on its examples and store it as the newest version."""
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    embedded = examples_embed_missing(embedder=embedder, progress=progress)
    # An example recorded from here on is newer than this version: the nightly job sees it.
    read_at = timezone.now()
    rows = [
        (_evidence_text(pk, text, source), label, vector)
        for pk, text, source, label, vector in _active_examples().order_by("pk").values_list("pk", "text", "source", "category__name", "embedding")
    ]
    counts = Counter(label for _, label, _ in rows)
    if len(counts) < 2:
        raise ApplicationError(
            f"training needs examples of at least two active categories (this account has {len(counts)})",
            code="not_enough_examples",
        )
    if progress:
        progress("fitting", 0, 1)
    texts = [text for text, _, _ in rows]
    labels = [label for _, label, _ in rows]
    vectors = np.asarray([vector for _, _, vector in rows], dtype=np.float32)
    target = in_scope_target_for(counts)
    # scikit-learn's BLAS threads: as many as the process may use for AI (one in a worker
    # process, HEARTH_AI_THREADS for a command running alone), never one per core per process.
    with threadpool_limits(limits=ai_threads()):
        classifier = IntentClassifier(embedder=embedder, in_scope_target=target).fit(texts, labels, vectors=vectors)
    if progress:
        progress("fitting", 1, 1)
    override = AISettings.objects.values_list("out_of_scope_threshold", flat=True).first()
    metrics = {
        "held_out": classifier.held_out,
        "in_scope_target": target,
        "calibrated_threshold": round(classifier.threshold, 4),
        "examples_per_category": {"min": min(counts.values()), "median": float(np.median(list(counts.values()))), "max": max(counts.values())},
        "embedded_now": embedded,
        "fit_seconds": classifier.fit_seconds,
    }
    blob = classifier.to_bytes()
    with transaction.atomic():
        # One training at a time per tenant (the nightly job and a command may overlap): the
        # version number is max + 1 under this lock, keyed by the tenant's schema.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"hearth-ai-train:{connection.schema_name}"])
        newest = ClassifierVersion.objects.aggregate(newest=Max("version"))["newest"] or 0
        return ClassifierVersion.objects.create(
            version=newest + 1,
            blob=blob,
            embedding_model=embedder,
            categories=classifier.labels,
            example_count=len(rows),
            out_of_scope_threshold=override if override is not None else classifier.threshold,
            metrics=metrics,
            training_seconds=round(time.perf_counter() - started, 3),
            trained_at=read_at,
        )


def classifier_needs_training() -> bool:
    """True when the current tenant has examples (corrections included) or active categories
    that its newest classifier has not learnt: the nightly retrain's test."""
    learnable = set(
        Category.objects.filter(is_active=True, examples__isnull=False).distinct().values_list("name", flat=True)
    )
    if len(learnable) < 2:
        return False
    newest = ClassifierVersion.objects.order_by("-version").only("trained_at", "categories").first()
    if newest is None:
        return True
    if set(newest.categories) != learnable:
        return True
    return _active_examples().filter(created_at__gt=newest.trained_at).exists()


def classifier_retrain_if_needed() -> int | None:
    """The nightly job's work for the current tenant: the new version number, or None when
    nothing was learnt since the newest version."""
    if not classifier_needs_training():
        return None
    return classifier_train().version
