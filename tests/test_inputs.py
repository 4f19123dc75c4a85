"""Input that used to give a 500, each where it enters: NUL, Unicode digits, non-ASCII HMAC,
deep or unstorable JSON, malformed admin ids, a header injection on the schema view; and the
tenancy edges of the same layer (CORS by path, host name case, the tenant's time zone)."""

import json

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import Membership
from config import inputs
from conversations import services
from conversations.models import Contact, Conversation
from tests.accounts.factories import MembershipFactory
from tests.conversations.factories import ContactFactory, InboxFactory

SHOP = "https://shop.example"


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]


@pytest.fixture
def inbox(db, alpha):
    with tenant_context(alpha):
        return InboxFactory(auto_assign=False, allowed_origins=[SHOP])


@pytest.fixture
def widget_token(alpha_client, inbox):
    response = alpha_client.post("/api/widget/v1/sessions", {"widget_token": inbox.widget_token}, content_type="application/json")
    assert response.status_code == 201
    return response.json()["token"]


@pytest.fixture
def manager_client(db, alpha, alpha_client):
    user = MembershipFactory(account=alpha, role=Membership.Role.MANAGER).user
    with tenant_context(alpha):
        alpha_client.force_login(user)
    return alpha_client


# ----------------------------------------------------------------------------- the parsing layer


@pytest.mark.parametrize("text", ["²", "١٢", "１２", " 12", "+12", "1_000", "", "9" * 20, "12\x00"])
def test_numbers_are_ascii_digits_within_bounds(text):
    with pytest.raises(inputs.InvalidInput):
        inputs.parse_id(text)


def test_numbers_in_range_parse():
    assert inputs.parse_id("42") == 42
    assert inputs.parse_int("-5", min_value=-10) == -5
    assert inputs.int_or_none("0", min_value=1) is None


@pytest.mark.parametrize("raw", ["[" * 100_000 + "]" * 100_000, '{"a": NaN}', '{"a": Infinity}', '{"a": "\\u0000"}',
                                 '{"\\u0000": 1}', '{"a": "\\ud800"}', '{"a": 1' + "0" * 5000 + "}", b"\xff\xfe", "{"])
def test_json_load_raises_only_invalid_input(raw):
    with pytest.raises(inputs.InvalidInput):
        inputs.json_load(raw, max_bytes=10**6)


def test_json_deeper_than_the_limit_is_refused_even_when_python_could_parse_it():
    with pytest.raises(inputs.InvalidInput, match="nested"):
        inputs.json_load(json.dumps({"a": [[[[[["x"]]]]]]}), max_depth=4)
    assert inputs.json_load('{"a": [1, {"b": "ok"}]}') == {"a": [1, {"b": "ok"}]}


def test_secrets_compare_without_raising_on_non_ascii():
    assert not inputs.secrets_equal("abc", "²bc")
    assert inputs.secrets_equal("abc", "abc")


# ----------------------------------------------------------------------------- NUL, anywhere it enters


def test_nul_in_an_api_path_query_or_header_is_a_json_400(alpha_client, widget_token):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {widget_token}"}
    for response in (
        alpha_client.get("/api/widget/v1/conversations/1%00/messages", **auth),
        alpha_client.get("/api/widget/v1/config?widget_token=%00", **auth),
        alpha_client.get("/api/widget/v1/conversations", HTTP_X_TRACE="a\x00b", **auth),
    ):
        assert response.status_code == 400
        assert _error(response)["code"] == "invalid"


def test_nul_in_a_form_field_or_page_path_is_a_plain_400(manager_client):
    response = manager_client.post("/admin/conversations/label/add/", {"name": "vip\x00", "color": "#fff"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert manager_client.get("/admin/conversations/label/%00/change/").status_code == 400


def test_nul_in_json_strings_and_custom_attributes_is_refused_and_nothing_stored(db, alpha, alpha_client, widget_token):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {widget_token}"}
    for body in ('{"content": "hi\\u0000"}', '{"custom_attributes": {"plan": "gold\\u0000"}}', '{"custom_attributes": {"a": NaN}}'):
        path = "/api/widget/v1/conversations" if "content" in body else "/api/widget/v1/contact"
        method = alpha_client.post if "content" in body else alpha_client.patch
        response = method(path, body, content_type="application/json", **auth)
        assert response.status_code == 400, (body, response.content)
        assert _error(response)["code"] == "malformed_request"
    with tenant_context(alpha):
        assert not Conversation.objects.exists()
        assert Contact.objects.get().custom_attributes in ({}, None)


def test_deeply_nested_json_is_a_400(alpha_client, widget_token):
    body = '{"content": ' + "[" * 50_000 + "]" * 50_000 + "}"
    response = alpha_client.post("/api/widget/v1/conversations", body, content_type="application/json",
                                 HTTP_AUTHORIZATION=f"Bearer {widget_token}")
    assert response.status_code in (400, 413)
    assert _error(response)["code"] in ("malformed_request", "request_too_large")
    with override_body_limit(10**6):
        response = alpha_client.post("/api/widget/v1/conversations", body, content_type="application/json",
                                     HTTP_AUTHORIZATION=f"Bearer {widget_token}")
    assert response.status_code == 400
    assert "nested" in _error(response)["message"]


def override_body_limit(limit):
    from django.test import override_settings

    return override_settings(API_MAX_BODY_BYTES=limit)


# ----------------------------------------------------------------------------- Unicode digits


def test_unicode_digits_where_numbers_are_expected_are_4xx(db, alpha, alpha_client, widget_token, manager_client):
    with tenant_context(alpha):
        conversation = services.conversation_open(inbox=InboxFactory(), contact=ContactFactory(), content="hi")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {widget_token}"}
    number = alpha_client.post("/api/widget/v1/conversations", {"content": "hi"}, content_type="application/json", **auth).json()["number"]
    response = alpha_client.get(f"/api/widget/v1/conversations/{number}/messages?after=²", **auth)
    assert response.status_code == 400
    assert _error(response)["fields"] == {"after": ["not a cursor from this API"]}
    assert manager_client.get("/admin/conversations/conversation/²/change/").status_code == 404
    assert manager_client.get("/admin/conversations/conversation/?assignee=²&q=%23²").status_code == 200
    assert manager_client.get(f"/admin/conversations/conversation/{conversation.pk}/change/").status_code == 200


def test_agents_api_page_and_assignee_take_ascii_numbers_only(db, alpha):
    from accounts.services import api_token_create
    from django.test import Client

    user = MembershipFactory(account=alpha, role=Membership.Role.MANAGER).user
    key = api_token_create(user=user, account=alpha, name="t")[1]
    client = Client(HTTP_HOST="alpha.localhost", HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/conversations/?page=²").status_code == 400
    assert client.get("/api/v1/conversations/?assignee=²").json()["count"] == 0


# ----------------------------------------------------------------------------- admin ids


def test_malformed_ids_in_admin_urls_and_actions_are_404_or_400(db, alpha, manager_client):
    with tenant_context(alpha):
        contact = ContactFactory()
    assert manager_client.get("/admin/conversations/contact/not-a-uuid/change/").status_code == 404
    assert manager_client.get("/admin/conversations/contact/99999999999999999999999/change/").status_code == 404
    response = manager_client.post("/admin/conversations/contact/", {"action": "delete_selected", "_selected_action": ["²", str(contact.pk)]})
    assert response.status_code == 400
    with tenant_context(alpha):
        assert Contact.objects.filter(pk=contact.pk).exists()


# ----------------------------------------------------------------------------- HMAC identity


def test_a_non_ascii_identifier_hash_is_refused_not_a_500(alpha_client, inbox):
    response = alpha_client.post("/api/widget/v1/sessions", {"widget_token": inbox.widget_token, "identifier": "user-1",
                                                              "identifier_hash": "ä" * 64}, content_type="application/json")
    assert response.status_code == 400
    assert _error(response)["code"] == "identity_not_verified"


# ----------------------------------------------------------------------------- schema view


def test_a_header_injection_in_the_schema_version_is_ignored(db, alpha, alpha_client):
    response = alpha_client.get("/api/schema/?version=1%0d%0aX-Injected:%20yes&format=json")
    assert response.status_code == 200
    assert "X-Injected" not in response.headers
    assert "\n" not in response["Content-Disposition"]


# ----------------------------------------------------------------------------- CORS, hosts, time zones


def test_cors_answers_only_on_widget_paths(alpha_client, inbox):
    widget = alpha_client.options("/api/widget/v1/config", HTTP_ORIGIN=SHOP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert widget.headers.get("Access-Control-Allow-Origin") == SHOP
    for path in ("/api/v1/conversations/", "/admin/", "/api/schema/"):
        response = alpha_client.get(path, HTTP_ORIGIN=SHOP)
        assert "Access-Control-Allow-Origin" not in response.headers, path
        preflight = alpha_client.options(path, HTTP_ORIGIN=SHOP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
        assert "Access-Control-Allow-Origin" not in preflight.headers, path


@pytest.mark.parametrize("host", ["ALPHA.localhost", "alpha.localhost.", "Alpha.LocalHost."])
def test_a_host_differing_in_case_or_trailing_dot_is_the_same_tenant(db, alpha, inbox, host):
    from tests.conftest import HearthClient

    response = HearthClient(HTTP_HOST=host).get(f"/api/widget/v1/config?widget_token={inbox.widget_token}")
    assert response.status_code == 200, response.content
    assert response.json()["inbox"] == inbox.name


def test_each_tenant_request_runs_in_the_accounts_time_zone(db, alpha, alpha_client, public_client, manager_client):
    from accounts.models import Account

    Account.objects.filter(pk=alpha.pk).update(timezone="Asia/Tokyo")
    from accounts.middleware import tenant_cache_clear

    tenant_cache_clear()
    response = manager_client.get("/admin/")
    assert response.status_code == 200
    assert timezone.get_current_timezone_name() == "Asia/Tokyo"
    public_client.get("/admin/login/")
    assert timezone.get_current_timezone_name() == "UTC"


def test_nul_inside_custom_attributes_from_the_admin_is_a_form_error(db, alpha, manager_client):
    owner = MembershipFactory(account=alpha, role=Membership.Role.OWNER).user
    with tenant_context(alpha):
        manager_client.force_login(owner)
    response = manager_client.post("/admin/conversations/contact/add/", {
        "name": "Nul", "email": "nul@example.org", "custom_attributes": '{"plan": "gold\\u0000"}', "phone": "",
    })
    assert response.status_code == 200  # the form again, with its error
    with tenant_context(alpha):
        assert not Contact.objects.filter(name="Nul").exists()


def test_a_host_outside_allowed_hosts_is_a_400_in_the_apis_error_shape(db, alpha):
    from django.test import Client

    api = Client(HTTP_HOST="a&s").post("/t/alpha/api/v1/conversations/1/assign", {}, content_type="application/json")
    assert api.status_code == 400 and api["Content-Type"] == "application/json"
    assert api.json()["error"]["code"] == "invalid"
    page = Client(HTTP_HOST="a&s").get("/admin/login/")
    assert page.status_code == 400 and b"Host header" in page.content


def test_updated_since_with_an_offset_postgresql_refuses_is_answered_not_a_500(db, alpha):
    """Schemathesis found `updated_since=0408-08-31T02:28:37+22:37` gave a DataError (500):
    Python accepts offsets to +-23:59, PostgreSQL only to +-15:59."""
    from django.test import Client

    from accounts.services import api_token_create

    manager = MembershipFactory(account=alpha, role=Membership.Role.MANAGER).user
    key = api_token_create(user=manager, account=alpha, name="dates")[1]
    client = Client(HTTP_HOST="alpha.localhost", HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/conversations/", {"updated_since": "0408-08-31T02:28:37+22:37"}).status_code == 200
    edge = client.get("/api/v1/conversations/", {"updated_since": "0001-01-01T00:00:00+05:00"})
    assert edge.status_code == 400 and "updated_since" in edge.json()["error"]["fields"]
