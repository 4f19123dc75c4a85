"""Writes to the knowledge base: articles, and the passages (chunks) rebuilt from them.

- An article's body is Markdown; `body_html` is rendered and sanitised on every save
  (kb/markdown.py), so whatever reads it (widget, help centre, admin preview) shows safe HTML.
- `version` goes up by one on each edit of the title or body: drafts cite the version they read.
- Anything that changes what is searched (title, body, locale, status) marks the article
  "not indexed" (`indexed_version = None`) and, after commit, queues the chunk rebuild in the
  article's tenant (kb/tasks.py). Commands that index at once pass `index_later=False`.
- `article_chunks_sync` re-embeds only the passages whose text changed, outside any
  transaction (embedding takes time), then swaps the chunks in one short transaction: search
  keeps answering from the old chunks until the new ones are in place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.contrib.postgres.search import SearchVector
from django.db import connection, transaction
from django.db.models import F, Value
from django.utils import timezone
from django.utils.text import slugify

from config.errors import ApplicationError
from kb.chunking import ChunkText, article_split
from kb.embedding import passage_model, passage_tokens_count, passages_embed
from kb.markdown import markdown_render
from kb.models import Article, Chunk, search_config_for

logger = logging.getLogger(__name__)

# Positions of kept chunks move out of the way before they take their new places (the
# (article, position) constraint is checked per row, not at the end of the statement).
_POSITION_SHIFT = 1_000_000


def _chunks_rebuild_queue(article: Article) -> None:
    """After commit, in this tenant: rebuild the article's chunks. A broker that cannot be
    reached does not fail the edit: the article stays "not indexed" and `kb_reindex` (or the
    next save) picks it up."""
    from kb import tasks  # tasks call these services

    article_id, schema = article.pk, connection.schema_name

    def send():
        try:
            tasks.article_chunks_rebuild.delay(article_id)
        except Exception:  # noqa: BLE001: any broker failure; kb_reindex is the safety net
            logger.exception("could not queue the chunk rebuild of article %s in %s", article_id, schema)

    transaction.on_commit(send)


def _slug_check(slug: str, *, article: Article | None = None) -> str:
    if not slug:
        raise ApplicationError("An article needs a title or slug made of letters or digits.", fields={"slug": ["Required."]})
    taken = Article.objects.filter(slug=slug).exclude(pk=article.pk if article else None).exists()
    if taken:
        raise ApplicationError(f"Another article already has the slug “{slug}”.", code="duplicate", fields={"slug": ["Already in use."]})
    return slug


@transaction.atomic
def article_create(
    *, title: str, body: str, slug: str = "", status: str = Article.Status.PUBLISHED, locale: str = "en",
    category: str = "", tags: list[str] | tuple = (), source_url: str = "", author=None, index_later: bool = True,
) -> Article:
    """A new article. Its chunks are built after commit (`article_chunks_sync` in Celery);
    tests that need them at once call `article_chunks_sync` themselves."""
    at = timezone.now()
    article = Article.objects.create(
        title=title, body=body, body_html=markdown_render(body), slug=_slug_check(slug or slugify(title)[:200]),
        status=status, locale=locale, category=category, tags=list(tags), source_url=source_url, author=author,
        published_at=at if status == Article.Status.PUBLISHED else None, created_at=at, updated_at=at,
    )
    if index_later:
        _chunks_rebuild_queue(article)
    return article


# What an edit may change; the first two are the article's words (version +1).
_WORDS = ("title", "body")
_SEARCHED = ("title", "body", "locale", "status")


@transaction.atomic
def article_update(
    *, article: Article, title: str | None = None, body: str | None = None, slug: str | None = None,
    locale: str | None = None, category: str | None = None, tags: list[str] | tuple | None = None,
    source_url: str | None = None, status: str | None = None, index_later: bool = True,
) -> Article:
    """Change what is given (None: unchanged). Returns the article, saved only if anything changed."""
    wanted = {
        "title": title, "body": body, "slug": slug, "locale": locale, "category": category,
        "tags": list(tags) if tags is not None else None, "source_url": source_url, "status": status,
    }
    changed = [name for name, value in wanted.items() if value is not None and getattr(article, name) != value]
    if not changed:
        return article
    if "slug" in changed:
        _slug_check(slug, article=article)
    for name in changed:
        setattr(article, name, wanted[name])
    at = timezone.now()
    fields = [*changed, "updated_at"]
    article.updated_at = at
    if any(name in _WORDS for name in changed):
        article.version = F("version") + 1
        fields.append("version")
    if "body" in changed:
        article.body_html = markdown_render(article.body)
        fields.append("body_html")
    if "status" in changed and article.status == Article.Status.PUBLISHED:
        article.published_at = at
        fields.append("published_at")
    if any(name in _SEARCHED for name in changed):
        article.indexed_version = None
        fields.append("indexed_version")
    article.save(update_fields=fields)
    article.refresh_from_db(fields=["version"])
    if index_later and any(name in _SEARCHED for name in changed):
        _chunks_rebuild_queue(article)
    return article


def article_publish(*, article: Article) -> Article:
    return article_update(article=article, status=Article.Status.PUBLISHED)


def article_unpublish(*, article: Article) -> Article:
    """Back to draft: customers and drafts stop finding it; nothing is lost."""
    return article_update(article=article, status=Article.Status.DRAFT)


def article_archive(*, article: Article) -> Article:
    return article_update(article=article, status=Article.Status.ARCHIVED)


@transaction.atomic
def article_reindex(*, article: Article) -> None:
    """Rebuild the article's passages in the background even though nothing changed (after a
    failed rebuild, or to pick up a new embedding model)."""
    Article.objects.filter(pk=article.pk).update(indexed_version=None)
    _chunks_rebuild_queue(article)


# Articles saved less than this ago are left to the rebuild queued when they were saved.
REQUEUE_GRACE_SECONDS = 300
REQUEUE_BATCH = 200


def articles_pending_requeue() -> int:
    """Queue the rebuild of articles whose passages are not current (a rebuild that was never
    queued or failed, or passages of another embedding model); a batch per run, so a model
    change re-embeds a large knowledge base over a few runs instead of all at once."""
    from datetime import timedelta

    from kb import tasks
    from kb.selectors import articles_to_index

    cutoff = timezone.now() - timedelta(seconds=REQUEUE_GRACE_SECONDS)
    pending = articles_to_index(model=passage_model()).filter(updated_at__lt=cutoff).values_list("pk", flat=True)[:REQUEUE_BATCH]
    queued = 0
    for article_id in pending:
        try:
            tasks.article_chunks_rebuild.delay(article_id)
            queued += 1
        except Exception:  # noqa: BLE001: the broker is down; the next run tries again
            logger.exception("could not queue the chunk rebuild of article %s in %s", article_id, connection.schema_name)
            break
    return queued


# ----------------------------------------------------------------------------- chunks


def _search_vector(config: str):
    # Words of the heading path weigh more than the body's (ts_rank_cd reads the weights).
    return SearchVector("heading_path", weight="A", config=Value(config)) + SearchVector("text", weight="B", config=Value(config))


def article_chunks_sync(*, article: Article) -> int:
    """Rebuild the article's chunks from its body; returns how many chunks were embedded.

    Only passages whose embedded text (heading path + text) changed are embedded; the others
    keep their row, id and embedding. An article that is not published has no chunks. If the
    article was edited again meanwhile, nothing is written: that edit's own rebuild follows.
    Never call inside a transaction (embedding takes time)."""
    article = Article.objects.filter(pk=article.pk).first()
    if article is None:
        return 0
    if article.status != Article.Status.PUBLISHED:
        with transaction.atomic():
            Chunk.objects.filter(article=article).delete()
            Article.objects.filter(pk=article.pk, version=article.version, status=article.status).update(
                indexed_version=article.version, indexed_at=timezone.now()
            )
        return 0

    pieces = article_split(title=article.title, body=article.body, count_tokens=passage_tokens_count)
    model = passage_model()
    stored: dict[str, list[int]] = {}
    for pk, digest in Chunk.objects.filter(article=article, embedding_model=model, embedding__isnull=False).values_list("pk", "content_hash"):
        stored.setdefault(digest, []).append(pk)

    plan = _Plan()
    for piece in pieces:
        reusable = stored.get(piece.content_hash)
        if reusable:
            plan.kept.append((piece, reusable.pop(0)))
        else:
            plan.new.append(piece)
    embedded = passages_embed([piece.embedding_text for piece in plan.new])
    if plan.new and embedded.model != model:
        # The paid model failed and local answered (or the reverse): one vector space per
        # article, so the kept ones are embedded again with the model that answered.
        plan = _Plan(new=list(pieces))
        embedded = passages_embed([piece.embedding_text for piece in plan.new])

    config = search_config_for(article.locale)
    with transaction.atomic():
        current = Article.objects.select_for_update().filter(pk=article.pk).values_list("version", "status").first()
        if current != (article.version, Article.Status.PUBLISHED):
            return 0  # edited (or unpublished) meanwhile: its own rebuild is queued
        kept_ids = [pk for _, pk in plan.kept]
        Chunk.objects.filter(article=article).exclude(pk__in=kept_ids).delete()
        Chunk.objects.filter(pk__in=kept_ids).update(position=F("position") + _POSITION_SHIFT)
        for piece, pk in plan.kept:
            Chunk.objects.filter(pk=pk).update(position=piece.position, token_count=piece.token_count)
        Chunk.objects.bulk_create([
            Chunk(
                article=article, position=piece.position, heading_path=piece.heading_path[:500], text=piece.text,
                content_hash=piece.content_hash, token_count=piece.token_count, embedding=vector,
                embedding_model=embedded.model,
            )
            for piece, vector in zip(plan.new, embedded.vectors)
        ])
        Chunk.objects.filter(article=article).update(search_config=config, search_vector=_search_vector(config))
        Article.objects.filter(pk=article.pk).update(indexed_version=article.version, indexed_at=timezone.now())
    return len(plan.new)


@dataclass
class _Plan:
    new: list[ChunkText] = field(default_factory=list)
    kept: list[tuple[ChunkText, int]] = field(default_factory=list)


# ----------------------------------------------------------------------------- import

IMPORT_CREATED, IMPORT_UPDATED, IMPORT_UNCHANGED = "created", "updated", "unchanged"


def article_import(*, source, index_later: bool = True) -> tuple[Article, str]:
    """One article of an imported help centre (kb.importing.ArticleSource), matched by slug:
    new ones are published; an existing one takes the source's words and fields (its status
    stays: an article archived here is not brought back by re-importing the old export)."""
    article = Article.objects.filter(slug=source.slug).first()
    if article is None:
        article = article_create(
            title=source.title, body=source.body, slug=source.slug, locale=source.locale, category=source.category,
            tags=source.tags, source_url=source.source_url, index_later=index_later,
        )
        return article, IMPORT_CREATED
    before = article.updated_at
    article = article_update(
        article=article, title=source.title, body=source.body, locale=source.locale, category=source.category,
        tags=list(source.tags), source_url=source.source_url, index_later=index_later,
    )
    return article, (IMPORT_UNCHANGED if article.updated_at == before else IMPORT_UPDATED)
