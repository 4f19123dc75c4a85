"""Writes to the knowledge base.

CONTRACT (lead): first cut. The `kbcore` engineer replaces the bodies (Markdown rendering and
sanitising, chunking by headings with overlap, only changed chunks re-embedded, the rebuild in
Celery after commit); the signatures stay.
"""

from __future__ import annotations

import hashlib

from django.contrib.postgres.search import SearchVector
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from ai import calls
from kb.models import Article, Chunk, search_config_for


@transaction.atomic
def article_create(
    *, title: str, body: str, slug: str = "", status: str = Article.Status.PUBLISHED, locale: str = "en",
    category: str = "", tags: list[str] | tuple = (), source_url: str = "", author=None,
) -> Article:
    """A new article. Its chunks are built after commit (`article_chunks_sync` in Celery);
    tests that need them at once call `article_chunks_sync` themselves."""
    at = timezone.now()
    return Article.objects.create(
        title=title, body=body, slug=slug or slugify(title)[:200], status=status, locale=locale,
        category=category, tags=list(tags), source_url=source_url, author=author,
        published_at=at if status == Article.Status.PUBLISHED else None, created_at=at, updated_at=at,
    )


def article_chunks_sync(*, article: Article) -> int:
    """Rebuild the article's chunks from its body; returns how many chunks were embedded."""
    paragraphs = [p.strip() for p in article.body.split("\n\n") if p.strip()]
    config = search_config_for(article.locale)
    outcome = calls.embed(texts=paragraphs) if paragraphs else None
    with transaction.atomic():
        Chunk.objects.filter(article=article).delete()
        for position, (text, vector) in enumerate(zip(paragraphs, outcome.value if outcome else [])):
            Chunk.objects.create(
                article=article, position=position, heading_path=article.title, text=text,
                content_hash=hashlib.sha256(text.encode()).hexdigest(), search_config=config,
                embedding=vector, embedding_model=outcome.model,
            )
        Chunk.objects.filter(article=article).update(search_vector=SearchVector("heading_path", "text", config=config))
        Article.objects.filter(pk=article.pk).update(indexed_version=article.version, indexed_at=timezone.now())
    return len(paragraphs)
