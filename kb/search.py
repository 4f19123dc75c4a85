"""Searching the tenant's knowledge base: passages for drafts, articles for people.

CONTRACT (lead): first cut, vector nearest neighbours only. The `search` engineer replaces the
bodies with the hybrid search (HNSW cosine + full text + trigram, fused with measured weights);
the dataclasses, signatures and `RELEVANCE_FLOOR`'s meaning stay.
"""

from __future__ import annotations

from dataclasses import dataclass

from pgvector.django import CosineDistance

from ai import calls
from kb.models import Article, Chunk

# A passage whose cosine similarity to the question is below this answers nothing: drafts say
# so ("no source") and record a knowledge gap. (E5 similarities of unrelated texts sit around
# 0.7-0.8; the `search` engineer measures and sets the value.)
RELEVANCE_FLOOR = 0.82


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    article_id: int
    slug: str
    title: str
    heading_path: str
    text: str
    score: float  # the fused score: only for ordering
    similarity: float  # cosine similarity of question and passage, 0..1: compare with RELEVANCE_FLOOR


@dataclass(frozen=True)
class SearchResult:
    article_id: int
    slug: str
    title: str
    snippet: str  # the best passage, words of the query highlighted (<mark>), HTML-escaped otherwise
    score: float
    locale: str
    category: str
    heading_path: str


def _query_vector(query: str) -> list[float] | None:
    outcome = calls.embed(texts=[query])
    vector = outcome.value[0] if outcome.value else None
    return vector if vector is not None and len(vector) == 384 else None


def passages_retrieve(*, query: str, locale: str | None = None, limit: int = 5) -> list[Passage]:
    """The passages of published articles closest to `query`, best first."""
    vector = _query_vector(query)
    if vector is None:
        return []
    chunks = Chunk.objects.filter(article__status=Article.Status.PUBLISHED, embedding__isnull=False)
    if locale:
        chunks = chunks.filter(article__locale=locale)
    rows = chunks.select_related("article").annotate(distance=CosineDistance("embedding", vector)).order_by("distance")[:limit]
    return [
        Passage(
            chunk_id=c.pk, article_id=c.article_id, slug=c.article.slug, title=c.article.title,
            heading_path=c.heading_path, text=c.text, score=1 - c.distance, similarity=1 - c.distance,
        )
        for c in rows
    ]


def articles_search(*, query: str, locale: str | None = None, category: str | None = None, limit: int = 10) -> list[SearchResult]:
    """One result per published article, best first."""
    results: dict[int, SearchResult] = {}
    for passage in passages_retrieve(query=query, locale=locale, limit=limit * 4):
        if passage.article_id in results:
            continue
        article = Article.objects.get(pk=passage.article_id)
        if category and article.category != category:
            continue
        results[passage.article_id] = SearchResult(
            article_id=article.pk, slug=article.slug, title=article.title, snippet=passage.text[:300],
            score=passage.score, locale=article.locale, category=article.category, heading_path=passage.heading_path,
        )
    return list(results.values())[:limit]
