"""The tenant's knowledge base: articles and the passages (chunks) search and drafts read.

- `Article`: what a help-centre page is: Markdown body (the source of truth) and its rendered,
  sanitised HTML, a status (only published articles are searched), a locale and a category.
- `Chunk`: a passage of a published article, a few hundred tokens cut at headings and
  paragraphs, with its heading path, a full-text vector (in the article's language) and a
  pgvector embedding (HNSW index, cosine). Chunks are rebuilt after an article is saved, in
  Celery after commit; a chunk whose text did not change keeps its embedding.

The `vector` type and pg_trgm live in the public schema (accounts migration 0002) and every
tenant schema's search path includes public, so tenant tables can use both.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models.functions import Upper
from django.utils.timezone import now
from pgvector.django import HnswIndex, VectorField

# The local embedder (E5-small) gives 384 numbers; a remote model with another length is not
# stored here (kb/services.py embeds the knowledge base locally then, and says so).
EMBEDDING_DIMENSIONS = 384

# Article locale -> PostgreSQL text search configuration (stemming and stop words). Locales
# without a configuration use "simple" (lower-cased words, no stemming).
SEARCH_CONFIGS = {
    "en": "english", "fr": "french", "de": "german", "es": "spanish", "it": "italian",
    "pt": "portuguese", "nl": "dutch", "sv": "swedish", "da": "danish", "fi": "finnish",
    "no": "norwegian", "ru": "russian", "tr": "turkish", "hu": "hungarian", "ro": "romanian",
}


def search_config_for(locale: str) -> str:
    return SEARCH_CONFIGS.get((locale or "").split("-")[0].lower(), "simple")


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"

    title = models.CharField(max_length=300)
    slug = models.SlugField(max_length=200, unique=True)
    body = models.TextField(help_text="Markdown.")
    # Rendered from `body` on save (kb/markdown.py), sanitised: safe to show customers.
    body_html = models.TextField(blank=True, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    locale = models.CharField(max_length=16, default="en", help_text="Language of the article, e.g. en, fr, de.")
    category = models.CharField(max_length=100, blank=True, help_text="Help-centre section, e.g. Billing.")
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    source_url = models.URLField(max_length=500, blank=True, help_text="Where the article is published, if anywhere.")
    # Keys to the public user table are declared db_constraint=False: each database constraint
    # from a tenant schema puts two triggers on accounts_user, and at 1,000 tenants their number
    # made every sign-up slower (docs/performance.md, "Tenants at scale"). The ORM still applies
    # on_delete within a schema; accounts.services.user_delete applies it in every schema.
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False)
    # +1 on every edit of the title or body (kb/services.py): drafts cite the version they read.
    version = models.PositiveIntegerField(default=1, editable=False)
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(default=now, editable=False)
    # When the chunks were last rebuilt for `version` (None: pending; search shows old chunks).
    indexed_version = models.PositiveIntegerField(null=True, blank=True, editable=False)
    indexed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["title", "id"]
        indexes = [
            models.Index(fields=["status", "locale"], name="kb_article_status_locale"),
            GinIndex(OpClass(Upper("title"), name="gin_trgm_ops"), name="kb_article_title_trgm"),
        ]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField(help_text="Order within the article, from 0.")
    # "Refunds > Card payments": the headings above the passage, shown with a search result.
    heading_path = models.CharField(max_length=500, blank=True)
    text = models.TextField()
    # sha256 of what was embedded (heading path + text): an unchanged chunk keeps its embedding.
    content_hash = models.CharField(max_length=64)
    token_count = models.PositiveIntegerField(default=0)
    # The article's locale's text search configuration (search_config_for), kept per row so a
    # query is parsed with the same configuration its rows were indexed with.
    search_config = models.CharField(max_length=32, default="simple")
    search_vector = SearchVectorField(null=True, editable=False)
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["article", "position"]
        constraints = [models.UniqueConstraint(fields=["article", "position"], name="kb_chunk_position_unique")]
        indexes = [
            GinIndex(fields=["search_vector"], name="kb_chunk_search_vector"),
            GinIndex(OpClass(Upper("text"), name="gin_trgm_ops"), name="kb_chunk_text_trgm"),
            HnswIndex(
                # m=32/ef_construction=128: at 100,000 chunks m=16 could not reach recall@10
                # 0.95 within 1/10 of exact search's time; this can (bench/kb_search.py).
                name="kb_chunk_embedding_hnsw", fields=["embedding"], m=32, ef_construction=128,
                opclasses=["vector_cosine_ops"],
            ),
            models.Index(fields=["content_hash"], name="kb_chunk_content_hash"),
        ]

    def __str__(self) -> str:
        return f"{self.article} #{self.position}"
