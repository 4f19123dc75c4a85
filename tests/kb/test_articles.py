"""Articles and their passages: version and sanitised HTML on every edit, only changed
passages re-embedded (the others keep their row and vector), nothing searchable once an
article is archived, full text in the article's language, and the rebuild after commit in the
right tenant through a real Celery worker."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction
from django_tenants.utils import schema_context, tenant_context

from ai.models import AICall, Operation
from kb import services
from kb.models import Article, Chunk
from tests.ai.fake_openai import fake_openai, fake_openai_server, openai_configure  # noqa: F401 (fixtures)
from tests.conftest import wait_for
from tests.conversations.conftest import in_alpha  # noqa: F401 (fixture)

REFUNDS = """# Refunds

We refund any order returned within 30 days of delivery.

## Card payments

Refunds to a card reach your account within 5 to 10 business days.

## PayPal

PayPal refunds appear in your balance within 24 hours.
"""


def _embed_rows() -> int:
    return AICall.objects.filter(operation=Operation.EMBED).count()


def _chunks(article) -> dict[str, Chunk]:
    return {chunk.heading_path: chunk for chunk in Chunk.objects.filter(article=article)}


@pytest.mark.usefixtures("in_alpha")
def test_editing_one_section_re_embeds_only_its_passage():
    article = services.article_create(title="Refunds", body=REFUNDS, category="Billing")
    assert services.article_chunks_sync(article=article) == 3
    before = _chunks(article)
    assert set(before) == {"Refunds", "Refunds > Card payments", "Refunds > PayPal"}
    assert all(chunk.embedding is not None and chunk.embedding_model == "e5-small" for chunk in before.values())

    article = services.article_update(article=article, body=REFUNDS.replace("24 hours", "two days"))
    assert article.version == 2 and article.indexed_version is None
    assert services.article_chunks_sync(article=article) == 1

    after = _chunks(article)
    for path in ("Refunds", "Refunds > Card payments"):
        assert after[path].pk == before[path].pk
        assert list(after[path].embedding) == list(before[path].embedding)
    assert after["Refunds > PayPal"].pk != before["Refunds > PayPal"].pk
    assert "two days" in after["Refunds > PayPal"].text
    article.refresh_from_db()
    assert article.indexed_version == 2

    # Nothing changed: nothing embedded, no embedding call at all.
    calls = _embed_rows()
    assert services.article_chunks_sync(article=article) == 0
    assert _embed_rows() == calls


@pytest.mark.usefixtures("in_alpha")
def test_a_new_section_in_the_middle_keeps_the_others_and_their_order():
    article = services.article_create(title="Refunds", body=REFUNDS)
    services.article_chunks_sync(article=article)
    before = _chunks(article)
    body = REFUNDS.replace("## PayPal", "## Bank transfer\n\nTransfers take 3 days.\n\n## PayPal")
    services.article_chunks_sync(article=services.article_update(article=article, body=body))
    chunks = list(Chunk.objects.filter(article=article).order_by("position"))
    assert [c.heading_path for c in chunks] == ["Refunds", "Refunds > Card payments", "Refunds > Bank transfer", "Refunds > PayPal"]
    assert chunks[3].pk == before["Refunds > PayPal"].pk


@pytest.mark.usefixtures("in_alpha")
def test_version_html_and_publication_follow_the_edits():
    article = services.article_create(title="Draft", body="Hello <script>alert(1)</script>**there**", status=Article.Status.DRAFT)
    assert article.version == 1 and article.published_at is None
    assert "<script" not in article.body_html and "<strong>there</strong>" in article.body_html
    assert services.article_chunks_sync(article=article) == 0 and not Chunk.objects.filter(article=article).exists()

    article = services.article_update(article=article, category="Billing")  # not the words: same version
    assert article.version == 1
    article = services.article_update(article=article, title="Published")
    assert article.version == 2
    article = services.article_publish(article=article)
    assert article.published_at is not None and article.version == 2
    assert services.article_chunks_sync(article=article) == 1


@pytest.mark.usefixtures("in_alpha")
def test_an_archived_article_has_no_passages_left():
    article = services.article_create(title="Refunds", body=REFUNDS)
    services.article_chunks_sync(article=article)
    assert Chunk.objects.filter(article=article).count() == 3
    article = services.article_archive(article=article)
    services.article_chunks_sync(article=article)
    assert not Chunk.objects.filter(article=article).exists()
    article.refresh_from_db()
    assert article.indexed_version == article.version  # nothing left to index: current

    # Published again: indexed again (not skipped as "current").
    services.article_chunks_sync(article=services.article_publish(article=article))
    assert Chunk.objects.filter(article=article).count() == 3


@pytest.mark.usefixtures("in_alpha")
def test_full_text_uses_the_articles_language():
    article = services.article_create(title="Remboursements", body="Les remboursements arrivent en cinq jours.", locale="fr")
    services.article_chunks_sync(article=article)
    chunk = Chunk.objects.get(article=article)
    assert chunk.search_config == "french"
    # French stemming: "remboursement" finds "remboursements".
    assert Chunk.objects.filter(pk=chunk.pk).extra(
        where=["search_vector @@ websearch_to_tsquery('french', %s)"], params=["remboursement"]
    ).exists()


@pytest.mark.usefixtures("in_alpha")
def test_a_duplicate_slug_is_refused_with_the_reason():
    from config.errors import ApplicationError

    services.article_create(title="Refunds", body="x")
    with pytest.raises(ApplicationError, match="slug"):
        services.article_create(title="Refunds!", body="y")


@pytest.mark.usefixtures("in_alpha")
def test_remote_vectors_of_another_length_are_not_stored_and_the_kb_is_embedded_locally(fake_openai, caplog):  # noqa: F811
    openai_configure(fake_openai)  # its embeddings are 8 numbers long
    article = services.article_create(title="Refunds", body="Refunds take five days.")
    with caplog.at_level(logging.WARNING, logger="kb.embedding"):
        services.article_chunks_sync(article=article)
    assert "embed-fake gives vectors of 8 numbers" in caplog.text
    chunk = Chunk.objects.get(article=article)
    assert chunk.embedding_model == "e5-small" and len(chunk.embedding) == 384
    remote_calls = sum(1 for r in fake_openai.requests if r.path.endswith("/embeddings"))
    assert remote_calls == 1
    # Remembered: the next article does not pay the remote model for vectors it cannot keep.
    services.article_chunks_sync(article=services.article_create(title="Shipping", body="Parcels take three days."))
    assert sum(1 for r in fake_openai.requests if r.path.endswith("/embeddings")) == remote_calls


@pytest.mark.usefixtures("committed_db", "celery_worker")
def test_the_rebuild_runs_after_commit_in_the_articles_tenant(alpha, beta):
    with tenant_context(alpha):
        with transaction.atomic():
            article = services.article_create(title="Refunds", body=REFUNDS)
            assert not Chunk.objects.exists()  # nothing before commit
    with schema_context("alpha"):
        wait_for(lambda: Article.objects.filter(pk=article.pk, indexed_version=1).exists(), timeout=60, what="alpha's chunks")
        assert Chunk.objects.filter(article_id=article.pk).count() == 3
    with schema_context("beta"):
        assert not Chunk.objects.exists() and not Article.objects.exists()


@pytest.mark.usefixtures("in_alpha")
def test_the_sweep_requeues_articles_whose_rebuild_never_ran():
    from datetime import timedelta

    from django.utils import timezone

    stale = services.article_create(title="Stale", body="Never indexed.")
    services.article_create(title="Fresh", body="Just saved: its own rebuild is on the way.")
    Article.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert services.articles_pending_requeue() == 1
    services.article_chunks_sync(article=stale)
    assert services.articles_pending_requeue() == 0
