"""The conversation page's AI help: the draft panel (use, discard, regenerate) and the
Knowledge panel (search the knowledge base, open an article, put a link or a passage in the
reply). Plain pages and forms that work without JavaScript; the page's small script only
saves reloads (it fills the reply box in place and searches without leaving the page).

The page (queue.py) has checked that the user sees the conversation before calling these.
"""

from __future__ import annotations

import html
import re

from django.http import JsonResponse
from django.urls import NoReverseMatch, reverse
from django.utils.safestring import mark_safe

from ai import selectors as ai_selectors
from ai.models import Draft
from config.errors import error_body
from kb.models import Chunk
from kb.search import articles_search

KNOWLEDGE_QUERY_MAX = 200
KNOWLEDGE_RESULTS = 8
_MARK = re.compile(r"&lt;(/?)mark&gt;")
_TAGS = re.compile(r"<[^>]+>")


class KnowledgeQueryInvalid(ValueError):
    pass


def knowledge_query_clean(raw: str | None) -> str:
    query = (raw or "").strip()
    if "\x00" in query or len(query) > KNOWLEDGE_QUERY_MAX:
        raise KnowledgeQueryInvalid(f"A search is at most {KNOWLEDGE_QUERY_MAX} characters, with no NUL.")
    return query


def _snippet_safe(snippet: str) -> str:
    """Only the <mark> highlights survive: whatever else the snippet holds is shown as text
    (unescaped first, so a snippet that arrives escaped is not escaped twice)."""
    return mark_safe(_MARK.sub(r"<\1mark>", html.escape(html.unescape(snippet))))


def _passage_text(result) -> str:
    """The whole passage the snippet came from (an agent inserts a passage, not a fragment)."""
    plain = html.unescape(_TAGS.sub("", result.snippet)).replace("…", " ").strip()
    probe = " ".join(plain.split()[:6])
    chunks = Chunk.objects.filter(article_id=result.article_id).order_by("position").values_list("text", flat=True)
    for text in chunks:
        if probe and probe in " ".join(text.split()):
            return text.strip()
    return plain


def _article_admin_url(article_id: int) -> str | None:
    try:
        return reverse("admin:kb_article_change", args=[article_id])
    except NoReverseMatch:  # the knowledge base's admin is not installed
        return None


def knowledge_results(query: str) -> list[dict]:
    """The Knowledge panel's results for `query`, best first (kb.search.articles_search)."""
    if not query:
        return []
    from kb.models import Article

    results = articles_search(query=query, limit=KNOWLEDGE_RESULTS)
    public_urls = dict(Article.objects.filter(pk__in=[r.article_id for r in results]).values_list("pk", "source_url"))
    return [
        {
            "article_id": r.article_id, "slug": r.slug, "title": r.title, "snippet": _snippet_safe(r.snippet),
            "score": round(r.score, 4), "heading_path": r.heading_path, "category": r.category, "locale": r.locale,
            # Agents open the article in the admin; without the knowledge base's admin, where it is published.
            "url": _article_admin_url(r.article_id) or public_urls.get(r.article_id) or None, "public_url": public_urls.get(r.article_id) or "",
            "passage": _passage_text(r),
        }
        for r in results
    ]


def knowledge_json(request) -> JsonResponse:
    try:
        query = knowledge_query_clean(request.GET.get("q"))
    except KnowledgeQueryInvalid as error:
        return JsonResponse(error_body("invalid", str(error), {"q": [str(error)]}), status=400)
    return JsonResponse({"results": [{**row, "snippet": str(row["snippet"])} for row in knowledge_results(query)]})


def _source_links(draft: Draft) -> list[dict]:
    return [{**source, "url": _article_admin_url(source["article_id"]) if source.get("article_id") else None} for source in draft.sources or []]


def draft_panel(*, conversation, use_draft: str | None) -> dict:
    """What the draft panel shows: the pending draft (or that one is being regenerated), its
    sources linked to the articles, and the draft the reply box was filled with (`?use_draft=`)."""
    draft = ai_selectors.conversation_draft_current(conversation=conversation)
    using = None
    if draft is not None and draft.content and use_draft and use_draft == str(draft.pk) and not draft.no_source:
        using = draft
    return {
        "draft": draft,
        "draft_regenerating": draft is not None and not draft.content,
        "draft_sources": _source_links(draft) if draft is not None else [],
        "draft_using": using,
    }


def draft_state_json(*, conversation) -> JsonResponse:
    """For the page's script, while a regenerated draft is on its way."""
    draft = ai_selectors.conversation_draft_current(conversation=conversation)
    if draft is None:
        return JsonResponse({"draft": None})
    return JsonResponse({"draft": {"id": draft.pk, "status": draft.status, "regenerating": not draft.content}})
