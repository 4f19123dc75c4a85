"""The widget API over real HTTP: concurrent retries, the schema fuzzed by schemathesis, and
the round trip through a browser (widget message, agent answers in the admin, widget shows it)."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import httpx
import pytest
from django_tenants.utils import schema_context, tenant_context

from accounts.models import Membership
from conversations.models import Conversation, Message
from tests.accounts.factories import MembershipFactory
from tests.conversations.factories import InboxFactory

pytestmark = pytest.mark.usefixtures("committed_db")


@pytest.fixture
def alpha_url(live_server_url):
    # By path prefix: Python's resolver, unlike browsers, does not map *.localhost to loopback.
    return f"{live_server_url}/t/alpha"


@pytest.fixture
def widget(alpha, alpha_url):
    with tenant_context(alpha):
        inbox = InboxFactory(auto_assign=False, name="Website chat")
    with httpx.Client(base_url=f"{alpha_url}/api/widget/v1/", timeout=10) as client:
        token = client.post("sessions", json={"widget_token": inbox.widget_token}).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        number = client.post("conversations", json={"content": "first"}).json()["number"]
        yield client, number, inbox


def test_two_concurrent_retries_with_one_idempotency_key_make_one_message(widget):
    client, number, _ = widget
    start = Barrier(2)

    def post(_):
        start.wait()
        return client.post(f"conversations/{number}/messages", json={"content": "only once"}, headers={"Idempotency-Key": "retry-42"})

    for attempt in range(5):
        with ThreadPoolExecutor(max_workers=2) as pool:
            responses = list(pool.map(post, range(2)))
        # The first race creates the message once (one 201, one 200); later retries only find it.
        assert sorted(r.status_code for r in responses) == ([200, 201] if attempt == 0 else [200, 200])
        assert len({r.json()["id"] for r in responses}) == 1
    with schema_context("alpha"):
        assert Message.objects.filter(content="only once").count() == 1


def test_two_concurrent_retries_opening_a_conversation_open_one(widget):
    client, _, _ = widget
    start = Barrier(2)

    def post(_):
        start.wait()
        return client.post("conversations", json={"content": "new question"}, headers={"Idempotency-Key": "open-once"})

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(post, range(2)))
    assert sorted(r.status_code for r in responses) == [200, 201]
    assert len({r.json()["number"] for r in responses}) == 1
    with schema_context("alpha"):
        assert Conversation.objects.filter(idempotency_key="open-once").count() == 1


def test_schemathesis_finds_no_server_errors_and_no_schema_violations(alpha, alpha_url, widget):
    """Every operation of /api/schema/, fed valid and invalid generated input with working
    credentials: never a 5xx, never a status, content type or body the schema does not allow."""
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

    from accounts.services import api_token_create

    client, number, inbox = widget
    user = MembershipFactory(account=alpha, role=Membership.Role.MANAGER).user
    api_key = api_token_create(user=user, account=alpha, name="fuzz")[1]
    schema = schemathesis.openapi.from_url(f"{alpha_url}/api/schema/?format=json")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    failures, operations = [], 0

    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        auth = client.headers["Authorization"] if "/widget/" in operation.path else f"Token {api_key}"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
            @given(operation.as_strategy(generation_mode=mode))
            def check(case):
                case.call_and_validate(base_url=alpha_url, headers={"Authorization": auth}, checks=checks)

            try:
                check()
            except Exception as error:  # gather every operation's failure, then report them together
                failures.append(f"{mode.value} {operation.method.upper()} {operation.path}: {str(error)[:1500]}")
    assert operations >= 15
    assert not failures, "\n\n".join(failures)
