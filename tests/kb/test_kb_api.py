"""The knowledge-base endpoints of the widget and agents' APIs, through HTTP."""

import json

import pytest
from django_tenants.utils import tenant_context

from accounts.models import Membership
from accounts.services import api_token_create
from kb import search
from kb.models import Article
from tests.accounts.factories import MembershipFactory
from tests.conversations.factories import InboxFactory
from tests.kb.searching import article_add

pytestmark = pytest.mark.django_db
WIDGET = "/api/widget/v1/"
AGENTS = "/api/v1/"


def _widget_token(client, account) -> str:
    with tenant_context(account):
        inbox = InboxFactory(auto_assign=False)
    response = client.post(f"{WIDGET}sessions", data=json.dumps({"widget_token": inbox.widget_token}), content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()["token"]


def _api_key(account) -> str:
    with tenant_context(account):
        user = MembershipFactory(account=account, role=Membership.Role.AGENT).user
        return api_token_create(user=user, account=account, name="tests")[1]


def _error(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]


@pytest.fixture
def alpha_articles(db, alpha):
    with tenant_context(alpha):
        live = article_add(title="Refunds for damaged parcels",
                           body="## Damaged parcels\n\nSend us a photo of the damaged parcel and we refund it within 3 days.\n\n"
                                "<img src=x onerror=alert(1)> Contact **support**.",
                           slug="damaged-refunds", category="Shipping", source_url="https://help.alpha.example/damaged")
        article_add(title="Refund policy draft", body="## Draft\n\nUnreleased refund policy for damaged parcels.", slug="refund-draft",
                    status=Article.Status.DRAFT)
    return live


@pytest.fixture
def widget_token(alpha_client, alpha):
    return _widget_token(alpha_client, alpha)


def test_widget_search_returns_the_published_article_best_first(alpha_client, alpha_articles, widget_token):
    response = alpha_client.get(f"{WIDGET}kb/search", {"q": "my parcel arrived damaged, can I get a refund?"},
                                HTTP_AUTHORIZATION=f"Bearer {widget_token}")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["slug"] for r in results] == ["damaged-refunds"]  # the draft is never returned
    first = results[0]
    assert first["title"] == "Refunds for damaged parcels" and first["url"] == "https://help.alpha.example/damaged"
    assert "<mark>" in first["snippet"] and isinstance(first["score"], float) and first["category"] == "Shipping"


def test_widget_search_needs_a_session(alpha_client, alpha_articles):
    assert alpha_client.get(f"{WIDGET}kb/search", {"q": "refund"}).status_code == 401


@pytest.mark.parametrize("params, field", [
    ({}, "q"), ({"q": ""}, "q"), ({"q": "   "}, "q"), ({"q": "x" * (search.QUERY_MAX_LENGTH + 1)}, "q"),
    ({"q": "refund\x00"}, "query_string"), ({"q": "refund", "locale": "english please"}, "locale"),
])
def test_unsearchable_queries_are_a_400_in_the_error_shape(alpha_client, alpha_articles, widget_token, params, field):
    response = alpha_client.get(f"{WIDGET}kb/search", params, HTTP_AUTHORIZATION=f"Bearer {widget_token}")
    assert response.status_code == 400
    assert field in _error(response)["fields"]


def test_widget_article_is_published_only(alpha_client, alpha_articles, widget_token):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {widget_token}"}
    response = alpha_client.get(f"{WIDGET}kb/articles/damaged-refunds", **auth)
    assert response.status_code == 200
    assert response.json()["title"] == "Refunds for damaged parcels"
    assert _error(alpha_client.get(f"{WIDGET}kb/articles/refund-draft", **auth))["code"] == "not_found"
    assert alpha_client.get(f"{WIDGET}kb/articles/no-such-article", **auth).status_code == 404


def test_widget_article_body_is_sanitised_html(alpha_client, alpha_articles, widget_token):
    # Rendering and sanitising are kbcore's (kb/markdown.py, on article_create/update).
    body = alpha_client.get(f"{WIDGET}kb/articles/damaged-refunds", HTTP_AUTHORIZATION=f"Bearer {widget_token}").json()
    assert "<strong>support</strong>" in body["body_html"]
    assert "onerror" not in body["body_html"]


def test_agents_search_has_the_same_shape(alpha_client, alpha, alpha_articles):
    key = _api_key(alpha)
    response = alpha_client.get(f"{AGENTS}kb/search", {"q": "refund damaged parcel"}, HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200, response.content
    assert [r["slug"] for r in response.json()["results"]] == ["damaged-refunds"]
    assert alpha_client.get(f"{AGENTS}kb/search", {"q": "refund"}).status_code == 401
    assert alpha_client.get(f"{AGENTS}kb/search", {"q": ""}, HTTP_AUTHORIZATION=f"Token {key}").status_code == 400


def test_another_tenant_never_sees_alphas_articles(beta_client, beta, alpha_articles):
    token, key = _widget_token(beta_client, beta), _api_key(beta)
    widget = beta_client.get(f"{WIDGET}kb/search", {"q": "refund damaged parcel"}, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert widget.status_code == 200 and widget.json()["results"] == []
    assert beta_client.get(f"{WIDGET}kb/articles/damaged-refunds", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 404
    agents = beta_client.get(f"{AGENTS}kb/search", {"q": "refund damaged parcel"}, HTTP_AUTHORIZATION=f"Token {key}")
    assert agents.status_code == 200 and agents.json()["results"] == []


def test_alphas_token_does_not_work_on_beta(beta_client, alpha, alpha_articles):
    key = _api_key(alpha)
    assert beta_client.get(f"{AGENTS}kb/search", {"q": "refund"}, HTTP_AUTHORIZATION=f"Token {key}").status_code in (401, 403)


def test_the_endpoints_are_in_the_openapi_schema(alpha_client, alpha):
    response = alpha_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    for path in ("/api/widget/v1/kb/search", "/api/widget/v1/kb/articles/{slug}", "/api/v1/kb/search"):
        assert path in text, path
