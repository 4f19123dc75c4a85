"""The widget's session cache (conversations/session_cache.py): a warm request reads no session
row, and whatever ends or changes a session is seen by the very next request, on the POST and
on the poll alike."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import services, session_cache
from conversations.models import Contact, WidgetSession
from conversations.widget import identifier_hash_for
from tests.conversations.factories import InboxFactory

pytestmark = pytest.mark.usefixtures("in_alpha")
API = "/api/widget/v1/"


def _call(client, method, path, body=None, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return getattr(client, method)(f"{API}{path}", data=json.dumps(body) if body is not None else None,
                                   content_type="application/json", **headers)


def _post(client, token, number):
    return _call(client, "post", f"conversations/{number}/messages", {"content": "still there?"}, token=token)


def _poll(client, token, number):
    return _call(client, "get", f"conversations/{number}/messages", token=token)


@pytest.fixture
def inbox():
    return InboxFactory(auto_assign=False)


def _open(client, inbox, **fields):
    response = _call(client, "post", "sessions", {"widget_token": inbox.widget_token, **fields})
    assert response.status_code == 201, response.content
    token = response.json()["token"]
    number = _call(client, "post", "conversations", {"content": "hello"}, token=token).json()["number"]
    return token, number


def _session_reads(client, request, token, number) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert request(client, token, number).status_code in (200, 201)
    return sum('"conversations_widgetsession"' in query["sql"] for query in queries.captured_queries)


@pytest.mark.parametrize("request_", [_post, _poll], ids=["post", "poll"])
def test_a_warm_session_is_not_read_again(alpha_client, inbox, request_):
    token, number = _open(alpha_client, inbox)
    _session_reads(alpha_client, request_, token, number)
    assert _session_reads(alpha_client, request_, token, number) == 0


def _revoke(client, token, inbox):
    assert _call(client, "delete", "sessions/current", token=token).status_code == 204


def _rotate_widget_token(client, token, inbox):
    services.inbox_widget_token_rotate(inbox=inbox)


def _block_by_service(client, token, inbox):
    services.contact_update(contact=Contact.objects.get(), blocked=True)


def _block_by_save(client, token, inbox):  # as the admin's form saves it
    contact = Contact.objects.get()
    contact.blocked = True
    contact.save()


def _delete_session(client, token, inbox):  # the admin's delete
    WidgetSession.objects.get().delete()


@pytest.mark.parametrize("request_", [_post, _poll], ids=["post", "poll"])
@pytest.mark.parametrize("end", [_revoke, _rotate_widget_token, _block_by_service, _block_by_save, _delete_session])
def test_an_ended_session_is_refused_by_the_next_request(alpha_client, inbox, request_, end):
    token, number = _open(alpha_client, inbox)
    assert request_(alpha_client, token, number).status_code in (200, 201)
    assert request_(alpha_client, token, number).status_code in (200, 201)  # now served from the cache

    end(alpha_client, token, inbox)
    assert request_(alpha_client, token, number).status_code == 401


@pytest.mark.parametrize("request_", [_post, _poll], ids=["post", "poll"])
def test_rotating_the_hmac_secret_refuses_identified_sessions_at_once(alpha_client, inbox, request_):
    token, number = _open(alpha_client, inbox, identifier="cust-7", identifier_hash=identifier_hash_for(inbox=inbox, identifier="cust-7"))
    assert request_(alpha_client, token, number).status_code in (200, 201)
    services.inbox_hmac_secret_rotate(inbox=inbox)
    assert request_(alpha_client, token, number).status_code == 401


def test_an_edited_contact_is_seen_by_the_next_request(alpha_client, inbox):
    token, _ = _open(alpha_client, inbox, name="Wanda")
    assert _call(alpha_client, "get", "contact", token=token).json()["name"] == "Wanda"
    services.contact_update(contact=Contact.objects.get(), name="Wanda Maximoff")
    assert _call(alpha_client, "get", "contact", token=token).json()["name"] == "Wanda Maximoff"
    # The business owns the name now: the customer may not change it, cache or no cache.
    assert _call(alpha_client, "patch", "contact", {"name": "W"}, token=token).status_code == 400


def test_an_inbox_edit_is_seen_by_the_next_request(alpha_client, inbox):
    token, number = _open(alpha_client, inbox)
    origin = {"HTTP_ORIGIN": "https://shop.example", "HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert alpha_client.get(f"{API}conversations/{number}/messages", **origin).status_code == 403
    inbox.allowed_origins = ["https://shop.example"]
    inbox.save()
    assert alpha_client.get(f"{API}conversations/{number}/messages", **origin).status_code == 200


def test_a_session_read_before_a_change_is_never_cached_after_it(alpha_client, inbox):
    token, _ = _open(alpha_client, inbox)
    session = WidgetSession.objects.select_related("inbox", "contact").get()
    session_cache.session_get(str(session.pk))  # makes the tenant's generation if there is none
    _, generation = session_cache.session_get(str(session.pk))
    # Another request revokes the session between this one's read and its write to the cache.
    WidgetSession.objects.filter(pk=session.pk).update(revoked_at=session.created_at)
    session_cache.sessions_stale()
    session_cache.session_put(session, generation=generation, seconds=60)
    assert session_cache.session_get(str(session.pk))[0] is None
    assert _call(alpha_client, "get", "contact", token=token).status_code == 401


def test_one_tenant_s_cached_session_is_not_served_in_another(alpha_client, inbox, alpha, beta):
    token, number = _open(alpha_client, inbox)
    assert _poll(alpha_client, token, number).status_code == 200  # cached in alpha
    session_id = str(WidgetSession.objects.get().pk)
    assert session_cache.session_get(session_id)[0] is not None
    connection.set_tenant(beta)
    try:
        assert session_cache.session_get(session_id)[0] is None
    finally:
        connection.set_tenant(alpha)


def test_a_cached_session_is_the_session_the_database_holds(alpha_client, inbox):
    """An entry is the session's, its inbox's and its contact's attributes, rebuilt without
    Django's model unpickling: what comes back is the row as read, relations included, and
    using it reads nothing more."""
    from conversations.widget import widget_session_id_from_token, widget_session_of

    token, number = _open(alpha_client, inbox, name="Ada", email="ada@example.org")
    session_id = widget_session_id_from_token(token)
    widget_session_of(session_id)  # fills the cache
    with CaptureQueriesContext(connection) as queries:
        cached, _ = widget_session_of(session_id)
        seen = (cached.inbox.widget_token, cached.contact.name, cached.contact.email, cached.inbox.name)
    assert queries.captured_queries == []
    assert seen == (inbox.widget_token, "Ada", "ada@example.org", inbox.name)
    read = WidgetSession.objects.select_related("inbox", "contact").get(pk=session_id)
    for ours, theirs in [(cached, read), (cached.inbox, read.inbox), (cached.contact, read.contact)]:
        fields = [field.attname for field in type(theirs)._meta.concrete_fields]
        assert [getattr(ours, name) for name in fields] == [getattr(theirs, name) for name in fields], type(theirs)
        assert not ours._state.adding and ours._state.db == "default"
    assert cached == read and cached.contact.pk == read.contact_id


def test_a_change_made_by_the_release_before_makes_this_release_s_entries_stale(alpha_client, inbox):
    """During a deploy both releases serve requests: the earlier release's sessions_stale (it
    added one to `widget-sessions:v1:generation` of the tenant) must empty this release's
    entries too, or a revoked session is served for up to ENTRY_SECONDS."""
    from django.core.cache import cache

    token, number = _open(alpha_client, inbox)
    _session_reads(alpha_client, _poll, token, number)
    assert _session_reads(alpha_client, _poll, token, number) == 0  # cached
    cache.incr("widget-sessions:v1:generation")  # what the release before did, in this tenant
    assert _session_reads(alpha_client, _poll, token, number) == 1
