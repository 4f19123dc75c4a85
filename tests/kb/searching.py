"""What the search tests share: articles created and indexed through kbcore's services."""

from __future__ import annotations

from kb.evaluation import DEMO_HELPCENTRE, markdown_article_read
from kb.models import Article
from kb.services import article_chunks_sync, article_create


def article_add(*, title: str, body: str, slug: str = "", status: str = Article.Status.PUBLISHED, locale: str = "en",
                category: str = "", source_url: str = "") -> Article:
    article = article_create(title=title, body=body, slug=slug, status=status, locale=locale, category=category, source_url=source_url)
    article_chunks_sync(article=article)
    return article


def demo_articles_add(*slugs: str) -> list[Article]:
    """Articles of the demo help centre (kb/demo_helpcentre), published and indexed."""
    out = []
    for slug in slugs:
        source = markdown_article_read(DEMO_HELPCENTRE / f"{slug}.md")
        out.append(article_add(title=source.title, body=source.body, slug=slug, category=source.category))
    return out
