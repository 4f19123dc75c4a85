"""The knowledge base's admin pages: managers write articles (through the services: version,
sanitised HTML), preview Markdown safely, filter and search; agents only read (the rendered
article, its passages); one tenant's articles never show in another's admin."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from accounts.models import Membership
from kb import services
from kb.models import Article, Chunk
from tests.accounts.factories import PASSWORD
from tests.conftest import admin_login
from tests.conversations.conftest import in_alpha, make_member  # noqa: F401 (fixtures)

Role = Membership.Role
ADMIN = "/admin/kb/article/"
MARK = "Zqkbalphamark"


def _client_as(user, host="alpha.localhost") -> Client:
    client = Client(HTTP_HOST=host)
    admin_login(client, user.email, PASSWORD)
    return client


def _form(**overrides) -> dict:
    data = {
        "title": f"Refunds {MARK}", "slug": "", "status": "published", "locale": "en", "category": "Billing", "tags": "refunds",
        "source_url": "", "body": "## Card payments\n\nFive days. <script>alert(1)</script>[x](javascript:alert(1))",
        "chunks-TOTAL_FORMS": "0", "chunks-INITIAL_FORMS": "0", "chunks-MIN_NUM_FORMS": "0", "chunks-MAX_NUM_FORMS": "1000",
    }
    return {**data, **overrides}


@pytest.mark.usefixtures("in_alpha")
def test_a_manager_writes_articles_and_each_edit_is_a_new_version(make_member):  # noqa: F811
    client = _client_as(make_member(role=Role.MANAGER))
    response = client.post(f"{ADMIN}add/", _form())
    assert response.status_code == 302, response.content.decode()[:3000]
    article = Article.objects.get()
    assert article.slug == f"refunds-{MARK.lower()}" and article.version == 1 and article.author is not None
    assert "<h2>Card payments</h2>" in article.body_html
    assert "<script" not in article.body_html and "alert(1)</" not in article.body_html
    assert 'href="javascript' not in article.body_html  # left as visible text, never a link

    response = client.post(f"{ADMIN}{article.pk}/change/", _form(slug=article.slug, body="## Card payments\n\nTen days."))
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.version == 2 and "Ten days" in article.body_html and article.indexed_version is None

    # A duplicate slug is a form error, not a 500.
    response = client.post(f"{ADMIN}add/", _form(title="Other", slug=article.slug))
    assert response.status_code == 200 and "Another article already has this slug" in response.content.decode()


@pytest.mark.usefixtures("in_alpha")
def test_the_preview_renders_markdown_sanitised_and_only_for_writers(make_member):  # noqa: F811
    manager = _client_as(make_member(role=Role.MANAGER))
    response = manager.post(f"{ADMIN}preview/", {"body": "**bold** <img src=x onerror=alert(1)> [a](javascript:alert(1))"})
    html = response.content.decode()
    assert response.status_code == 200 and "<strong>bold</strong>" in html
    assert "onerror" not in html and "javascript:alert" not in html.split("[a]")[0] and 'href="javascript' not in html
    assert manager.get(f"{ADMIN}preview/").status_code == 405
    assert manager.post(f"{ADMIN}preview/", {"body": "x" * 300_000}).status_code == 400
    assert 'id="kb-preview-button"' in manager.get(f"{ADMIN}add/").content.decode()

    agent = _client_as(make_member(role=Role.AGENT))
    assert agent.post(f"{ADMIN}preview/", {"body": "**bold**"}).status_code == 403


@pytest.mark.usefixtures("in_alpha")
def test_agents_read_the_rendered_article_and_its_passages_but_cannot_change_it(make_member):  # noqa: F811
    article = services.article_create(title=f"Refunds {MARK}", body="## Card payments\n\nRefunds take **five** days.", category="Billing")
    services.article_chunks_sync(article=article)
    agent = _client_as(make_member(role=Role.AGENT))

    listing = agent.get(ADMIN).content.decode()
    assert MARK in listing and "indexed (version 1)" in listing
    page = agent.get(f"{ADMIN}{article.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Refunds take <strong>five</strong> days." in html  # the rendered article
    assert "Refunds " + MARK + " &gt; Card payments" in html  # its passage's heading path
    assert 'name="body"' not in html and "kb-preview-button" not in html
    assert agent.get(f"{ADMIN}add/").status_code == 403

    agent.post(f"{ADMIN}{article.pk}/change/", _form(slug=article.slug, body="changed by an agent"))
    agent.post(ADMIN, {"action": "archive", "_selected_action": [article.pk]})
    article.refresh_from_db()
    assert article.body.endswith("**five** days.") and article.status == "published" and article.version == 1


@pytest.mark.usefixtures("in_alpha")
def test_list_filters_search_and_actions(make_member):  # noqa: F811
    refunds = services.article_create(title="Refunds", body="Five days.", category="Billing")
    services.article_create(title="Remboursements", body="Cinq jours.", locale="fr", category="Billing")
    services.article_create(title="Parcels", body="Three days.", category="Shipping", status=Article.Status.DRAFT)
    services.article_chunks_sync(article=refunds)
    owner = _client_as(make_member(role=Role.OWNER))

    def titles(query: str) -> set[str]:
        response = owner.get(f"{ADMIN}?{query}")
        assert response.status_code == 200, query
        html = response.content.decode()
        return {t for t in ("Refunds", "Remboursements", "Parcels") if f">{t}</a>" in html}

    assert titles("status__exact=draft") == {"Parcels"}
    assert titles("locale__exact=fr") == {"Remboursements"}
    assert titles("category__exact=Shipping") == {"Parcels"}
    assert titles("q=three") == {"Parcels"}
    assert owner.get(f"{ADMIN}?body__regex=(").status_code == 400

    owner.post(ADMIN, {"action": "archive", "_selected_action": [refunds.pk]})
    refunds.refresh_from_db()
    assert refunds.status == "archived"
    services.article_chunks_sync(article=refunds)
    assert not Chunk.objects.filter(article=refunds).exists()


@pytest.mark.django_db
def test_an_article_of_one_tenant_never_shows_in_anothers_admin(alpha, beta, make_member):  # noqa: F811
    with tenant_context(alpha):
        article = services.article_create(title=f"Secret {MARK}", body=f"Only alpha knows {MARK}.")
        services.article_chunks_sync(article=article)
    beta_owner = make_member(role=Role.OWNER, account=beta)
    client = _client_as(beta_owner, host="beta.localhost")
    for url in (ADMIN, f"{ADMIN}?q=Secret", f"{ADMIN}{article.pk}/change/", f"{ADMIN}{article.pk}/delete/"):
        response = client.get(url, follow=True)
        assert MARK not in response.content.decode(), url
    with tenant_context(beta):
        assert not Article.objects.exists()
