"""What both admin sites accept in a query string and a JSON form field (config/admin.py)."""

import json

import pytest
from django_tenants.utils import tenant_context

from accounts.models import Membership
from conversations.models import Contact
from tests.accounts.factories import PASSWORD, MembershipFactory, UserFactory
from tests.conftest import admin_login
from tests.conversations.factories import ContactFactory, InboxFactory

pytestmark = pytest.mark.django_db
Role = Membership.Role


@pytest.fixture
def owner_client(alpha, alpha_client):
    owner = MembershipFactory(account=alpha, role=Role.OWNER).user
    admin_login(alpha_client, owner.email, PASSWORD)
    return alpha_client


def _inbox(alpha):
    with tenant_context(alpha):
        return InboxFactory()


def test_hidden_values_cannot_be_probed_by_lookups_the_list_does_not_declare(alpha, owner_client):
    inbox = _inbox(alpha)
    for field, value in [("widget_token", inbox.widget_token), ("hmac_secret", inbox.hmac_secret)]:
        right = owner_client.get("/admin/conversations/inbox/", {f"{field}__startswith": value[:1]})
        wrong = owner_client.get("/admin/conversations/inbox/", {f"{field}__startswith": "\u2603"})
        # Refused whatever the guess, so a right guess looks exactly like a wrong one.
        assert right.status_code == wrong.status_code == 400
        assert f"filtered by “{field}__startswith”".encode() in right.content
        assert f"filtered by “{field}__startswith”".encode() in wrong.content
        assert inbox.name.encode() not in right.content


def test_lookups_through_relations_are_refused(alpha, owner_client):
    for query in [{"widget_sessions__id__startswith": "a"}, {"conversations__messages__content__contains": "x"},
                  {"inbox__hmac_secret__startswith": "a"}]:
        path = "/admin/conversations/conversation/" if "inbox__hmac_secret__startswith" in query else "/admin/conversations/contact/"
        assert owner_client.get(path, query).status_code == 400, query


@pytest.mark.parametrize("path", [
    "/admin/conversations/conversation/", "/admin/conversations/contact/", "/admin/conversations/conversationevent/",
    "/admin/conversations/inbox/", "/admin/accounts/membership/", "/admin/analytics/jobstatus/",
])
def test_a_broken_regex_or_nul_is_a_400_never_a_500(path, alpha, owner_client):
    for query in ["id__regex=(", "pk__iregex=%5B", "status__exact=open%00", "q=%00", "zzz=1", "q=" + "x" * 300]:
        response = owner_client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query, response.status_code)
        assert b"cannot" in response.content or b"NUL" in response.content or b"at most" in response.content


@pytest.mark.parametrize("query", [
    {"term": "\x00", "app_label": "conversations", "model_name": "conversation", "field_name": "contact"},
    {"term": "a\x00", "app_label": "conversations", "model_name": "message", "field_name": "conversation"},
    {"term": "x" * 300, "app_label": "conversations", "model_name": "conversation", "field_name": "contact"},
])
def test_autocomplete_refuses_nul_and_overlong_terms_with_a_400(query, alpha, owner_client):
    response = owner_client.get("/admin/autocomplete/", query)
    assert response.status_code == 400 and "error" in response.json()


def test_declared_filters_search_ordering_and_paging_still_work(alpha, owner_client):
    with tenant_context(alpha):
        ContactFactory(name="Blocked Betty", blocked=True)
        ContactFactory(name="Open Olga", blocked=False)
    page = owner_client.get("/admin/conversations/contact/", {"blocked__exact": "1", "o": "1", "p": "1"})
    assert page.status_code == 200
    assert b"Blocked Betty" in page.content and b"Open Olga" not in page.content
    found = owner_client.get("/admin/conversations/contact/", {"q": "olga"})
    assert b"Open Olga" in found.content and b"Blocked Betty" not in found.content


def test_platform_admin_refuses_undeclared_lookups_too(public_client):
    operator = UserFactory(is_superuser=True)
    admin_login(public_client, operator.email, PASSWORD)
    assert public_client.get("/admin/accounts/user/", {"password__startswith": "md5"}).status_code == 400
    assert public_client.get("/admin/accounts/user/", {"email__regex": "("}).status_code == 400
    assert public_client.get("/admin/accounts/user/", {"is_superuser__exact": "1"}).status_code == 200


@pytest.mark.parametrize("attributes, problem", [
    ('{"plan": "gold\\u0000"}', b"NUL"),
    ('{"pla\\u0000n": "gold"}', b"NUL"),
    ("[" * 5000 + "]" * 5000, b"nested"),
    ('{"a": ' * 40 + "1" + "}" * 40, b"nested"),
    (json.dumps({"k": "x" * (70 * 1024)}), b"KB"),
])
def test_json_fields_refuse_nul_deep_and_huge_values_with_a_form_error(attributes, problem, alpha, owner_client):
    with tenant_context(alpha):
        contact = ContactFactory(name="Jason", custom_attributes={"plan": "silver"})
    response = owner_client.post(f"/admin/conversations/contact/{contact.pk}/change/", {
        "name": "Jason", "email": contact.email, "phone": "", "external_id": "", "custom_attributes": attributes,
    })
    assert response.status_code == 200  # the form again, with the error
    assert problem in response.content
    with tenant_context(alpha):
        assert Contact.objects.get(pk=contact.pk).custom_attributes == {"plan": "silver"}
