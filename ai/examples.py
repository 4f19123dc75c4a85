"""Training examples: the labelled texts a tenant's classifier learns from.

Two rules live here and nowhere else:
- What makes two examples "the same text" (`example_text_hash`): re-importing a file, or an
  agent correcting the same message twice, adds nothing.
- When an example is embedded: once, when it is imported (in batches, with the default offline
  embedder) and the vector is stored on the row with the embedder's name. Embedding is the
  expensive part of training (about 25-30 ms of CPU per text with E5, 15,000 texts about 7
  minutes on one core), so `ai_train` and the nightly retrain only fit. A single example added
  by an agent (`example_add`) is stored without a vector, because it is recorded inside a
  request and AI work never runs there; the next training embeds it (one text, milliseconds).
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterable

from django.db import transaction

from ai.local.embedders import DEFAULT_EMBEDDER, embedder_get
from ai.models import Category, TrainingExample
from config.errors import ApplicationError

# Texts embedded per database transaction: large enough that the embedder batches well, small
# enough that an interrupted import of thousands keeps most of its work (re-running it skips
# what is stored).
IMPORT_BATCH = 256
CATEGORY_NAME_MAX = Category._meta.get_field("name").max_length
# An example is a customer message; a longer text is almost certainly a file mix-up, and the
# embedder reads only its first 256 tokens anyway.
EXAMPLE_TEXT_MAX = 10_000


def example_text_normalise(text: str) -> str:
    """The form two texts are compared in: NFKC (full-width letters and ligatures become plain
    ones), case-folded, runs of white space made one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def example_text_hash(text: str) -> str:
    """The one hash of an example's text (TrainingExample.text_hash, unique per category):
    importing, correcting and adding by hand all go through it. "Where is  my ORDER?" and
    "where is my order?" are one example."""
    return hashlib.sha256(example_text_normalise(text).encode("utf-8", "surrogatepass")).hexdigest()


def example_problem(*, text: str, label: str) -> str | None:
    """Why (text, label) cannot be an example, or None. Commands report it with the line number."""
    if "\x00" in text or "\x00" in label:
        return "contains a NUL character"
    if not text.strip():
        return "text is empty"
    if not label.strip():
        return "label is empty"
    if len(label.strip()) > CATEGORY_NAME_MAX:
        return f"label is longer than {CATEGORY_NAME_MAX} characters"
    if len(text) > EXAMPLE_TEXT_MAX:
        return f"text is longer than {EXAMPLE_TEXT_MAX} characters"
    return None


@dataclass
class ImportSummary:
    rows: int = 0
    created: int = 0
    duplicates: int = 0
    categories_created: int = 0
    embedding_model: str = DEFAULT_EMBEDDER


def _category_for(label: str, known: dict[str, Category], summary: ImportSummary) -> Category:
    # Labels match existing categories case-insensitively ("Billing" is the category "billing"):
    # a hand-made CSV should not split a category in two.
    key = label.strip().casefold()
    category = known.get(key)
    if category is None:
        category = Category.objects.filter(name__iexact=label.strip()).first()
        if category is None:
            category = Category.objects.create(name=label.strip())
            summary.categories_created += 1
        known[key] = category
    return category


def examples_import(
    rows: Iterable[tuple[str, str]],
    *,
    source: str = TrainingExample.Source.IMPORT,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Store (text, label) rows as examples of the current tenant, embedding the new ones.

    Unknown labels become categories; a row whose text is already an example of its category
    is skipped (so re-importing a file is a no-op). `progress(n)` is called after each batch
    with the number of rows it handled. Rows must be valid (`example_problem`): commands
    report bad rows with their line numbers before calling this.
    """
    summary = ImportSummary()
    known: dict[str, Category] = {}
    batch: list[tuple[str, str]] = []
    for text, label in rows:
        problem = example_problem(text=text, label=label)
        if problem:
            raise ApplicationError(f"example {text[:40]!r} ({label!r}): {problem}", code="invalid_example")
        batch.append((text, label))
        if len(batch) >= IMPORT_BATCH:
            _import_batch(batch, source=source, known=known, summary=summary)
            if progress:
                progress(len(batch))
            batch = []
    if batch:
        _import_batch(batch, source=source, known=known, summary=summary)
        if progress:
            progress(len(batch))
    return summary


@transaction.atomic
def _import_batch(batch: list[tuple[str, str]], *, source: str, known: dict[str, Category], summary: ImportSummary) -> None:
    summary.rows += len(batch)
    fresh: dict[tuple[int, str], tuple[Category, str]] = {}
    for text, label in batch:
        category = _category_for(label, known, summary)
        key = (category.pk, example_text_hash(text))
        if key in fresh:
            summary.duplicates += 1  # the same text twice in one batch
            continue
        fresh[key] = (category, text.strip())
    stored = set(
        TrainingExample.objects.filter(
            category_id__in={k[0] for k in fresh}, text_hash__in={k[1] for k in fresh}
        ).values_list("category_id", "text_hash")
    )
    new = [(key, value) for key, value in fresh.items() if key not in stored]
    summary.duplicates += len(fresh) - len(new)
    if not new:
        return
    embedder = embedder_get(DEFAULT_EMBEDDER)
    vectors = embedder.encode([text for _, (_, text) in new])
    made = TrainingExample.objects.bulk_create(
        [
            TrainingExample(
                category=category, text=text, text_hash=key[1], source=source,
                embedding=vector, embedding_model=embedder.name,
            )
            for (key, (category, text)), vector in zip(new, vectors)
        ],
        # A concurrent import of the same file: the unique constraint decides, nothing doubles.
        ignore_conflicts=True,
    )
    summary.created += len(made)


def example_add(
    *,
    category: Category,
    text: str,
    source: str = TrainingExample.Source.MANUAL,
    message=None,
    created_by=None,
) -> tuple[TrainingExample, bool]:
    """One example for `category` (an agent's correction, the admin): the existing one when
    the same text is already an example of that category. Returns (example, created).

    Not embedded here (this runs inside requests): training embeds examples without a vector.
    """
    problem = example_problem(text=text, label=category.name)
    if problem:
        raise ApplicationError(f"the example {problem}", code="invalid_example", fields={"text": [problem]})
    return TrainingExample.objects.get_or_create(
        category=category,
        text_hash=example_text_hash(text),
        defaults={"text": text.strip(), "source": source, "message": message, "created_by": created_by},
    )
