"""Reads of the knowledge base (search itself is kb/search.py)."""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from kb.models import Article, Chunk


def articles_to_index(*, model: str) -> QuerySet[Article]:
    """Articles whose chunks are not current: never indexed or edited since, or (published)
    holding a passage embedded by another model than `model` or not at all. What `kb_reindex`
    works through; an interrupted run leaves the rest here for the next."""
    stale_chunk = Chunk.objects.filter(article=OuterRef("pk")).filter(~Q(embedding_model=model) | Q(embedding__isnull=True))
    current = Q(indexed_version=F("version")) & ~Q(Exists(stale_chunk))
    return Article.objects.exclude(current).order_by("pk")
