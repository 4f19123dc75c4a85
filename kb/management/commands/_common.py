"""What the knowledge-base commands share: indexing with progress."""

from __future__ import annotations

from tqdm import tqdm

from kb.services import article_chunks_sync


def articles_index(articles, *, total: int, stderr, label: str) -> tuple[int, int, list[str]]:
    """Rebuild each article's chunks now (the command embeds, not Celery), with a progress
    bar. Returns (articles indexed, passages embedded, problems); one article that fails is
    reported and the rest go on (a later `kb_reindex` retries it)."""
    indexed, embedded, problems = 0, 0, []
    with tqdm(total=total, desc=label, unit="article", file=stderr, disable=None, leave=False) as bar:
        for article in articles:
            try:
                embedded += article_chunks_sync(article=article)
                indexed += 1
            except Exception as error:  # noqa: BLE001: reported, the others still indexed
                problems.append(f"{article.slug}: could not index ({type(error).__name__}: {str(error)[:200]})")
            bar.update(1)
    return indexed, embedded, problems
