"""Knowledge-base endpoints of the two APIs: search (widget and agents) and one article (widget).

Both search endpoints answer `{"results": [{"slug", "title", "snippet", "score", ...}]}`, best
first, from `kb.search.articles_search` (published articles of the request's tenant only). A
query that cannot be searched (empty, longer than QUERY_MAX_LENGTH, a NUL) is a 400 in the
API's error shape. Searching embeds the query (a few milliseconds locally): it is the answer
the caller is waiting for, not follow-up work, so it runs in the request.
"""

from __future__ import annotations

import re

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from config.api import error_responses
from conversations.api.agents import AgentApi
from conversations.api.widget import WidgetApi
from kb import search
from kb.models import Article

# How many results a search returns, at most (the widget shows a handful).
RESULTS_MAX = 10
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")
_CATEGORY_MAX = 100

_RESULT_FIELDS = {
    "slug": serializers.CharField(),
    "title": serializers.CharField(),
    "snippet": serializers.CharField(help_text="The best passage; HTML-escaped, the query's words in <mark>."),
    "score": serializers.FloatField(help_text="Fused relevance, 0..1 (1: first in every ranking); for ordering only."),
    "url": serializers.CharField(allow_null=True, help_text="Where the article is published, if anywhere."),
    "locale": serializers.CharField(),
    "category": serializers.CharField(),
    "heading": serializers.CharField(help_text="Headings above the snippet's passage."),
}
SearchOutput = inline_serializer("KnowledgeSearch", {"results": inline_serializer("KnowledgeSearchResult", _RESULT_FIELDS, many=True)})
ArticleOutput = inline_serializer("KnowledgeArticle", {
    "slug": serializers.CharField(),
    "title": serializers.CharField(),
    "body_html": serializers.CharField(help_text="Rendered from Markdown and sanitised: safe to insert as HTML."),
    "locale": serializers.CharField(),
    "category": serializers.CharField(),
    "tags": serializers.ListField(child=serializers.CharField()),
    "url": serializers.CharField(allow_null=True),
    "version": serializers.IntegerField(),
    "updated_at": serializers.DateTimeField(),
})

QUERY_PARAMETERS = [
    OpenApiParameter("q", str, required=True, description=f"What to search for, 1-{search.QUERY_MAX_LENGTH} characters."),
    OpenApiParameter("locale", str, required=False, description="Only articles in this language (e.g. en, fr)."),
    OpenApiParameter("category", str, required=False, description="Only articles of this help-centre section."),
]


def _filters(params) -> dict:
    """The search's arguments from the query string; anything unusable is a 400."""
    errors: dict[str, list[str]] = {}
    try:
        query = search.query_clean(params.get("q", ""))
    except search.InvalidQuery as error:
        errors["q"] = [str(error)]
        query = ""
    locale = params.get("locale") or None
    if locale is not None and not _LOCALE.match(locale):
        errors["locale"] = ["a language code such as en or pt-BR"]
    category = params.get("category") or None
    if category is not None and (len(category) > _CATEGORY_MAX or "\x00" in category):
        errors["category"] = [f"at most {_CATEGORY_MAX} characters, no NUL"]
    if errors:
        raise exceptions.ValidationError(errors)
    return {"query": query, "locale": locale, "category": category}


def _results(params) -> dict:
    results = search.articles_search(**_filters(params), limit=RESULTS_MAX)
    urls = dict(Article.objects.filter(pk__in=[r.article_id for r in results]).values_list("pk", "source_url"))
    return {"results": [
        {"slug": r.slug, "title": r.title, "snippet": r.snippet, "score": r.score, "url": urls.get(r.article_id) or None,
         "locale": r.locale, "category": r.category, "heading": r.heading_path}
        for r in results
    ]}


class WidgetSearchApi(WidgetApi):
    @extend_schema(operation_id="widget_kb_search", parameters=QUERY_PARAMETERS,
                   responses={200: SearchOutput, **error_responses(400, 401, 403, 429)}, tags=["widget"])
    def get(self, request):
        return Response(_results(request.query_params))


class WidgetArticleApi(WidgetApi):
    @extend_schema(operation_id="widget_kb_article", responses={200: ArticleOutput, **error_responses(401, 403, 404, 429)}, tags=["widget"])
    def get(self, request, slug: str):
        article = get_object_or_404(Article, slug=slug, status=Article.Status.PUBLISHED)
        return Response({
            "slug": article.slug, "title": article.title, "body_html": article.body_html, "locale": article.locale,
            "category": article.category, "tags": article.tags, "url": article.source_url or None,
            "version": article.version, "updated_at": article.updated_at,
        })


class AgentSearchApi(AgentApi):
    @extend_schema(operation_id="kb_search", parameters=QUERY_PARAMETERS,
                   responses={200: SearchOutput, **error_responses(400, 401, 403, 429)}, tags=["knowledge base"])
    def get(self, request):
        return Response(_results(request.query_params))
