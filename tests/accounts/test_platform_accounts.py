"""The platform admin's account list: figures from each tenant's own schema, read per page,
and the suspend and resume actions (accounts/admin.py, accounts/lifecycle.py)."""

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.models import Account, AccountEvent, Membership
from ai.models import AICall
from analytics.models import JobStatus
from conversations import services
from conversations.models import Conversation
from tests.accounts.factories import PASSWORD, MembershipFactory, UserFactory
from tests.conftest import admin_login
from tests.conversations.factories import ContactFactory, InboxFactory

pytestmark = pytest.mark.django_db
LIST = "/admin/accounts/account/"


def _seed(account, *, conversations: int, last_month: int, costs: list[str], jobs: dict[str, str]):
    now = timezone.now()
    with tenant_context(account):
        inbox = InboxFactory(auto_assign=False)
        opened = [services.conversation_open(inbox=inbox, contact=ContactFactory(), content="Hello") for _ in range(conversations + last_month)]
        # Opened well before this month started, in any time zone.
        Conversation.objects.filter(pk__in=[c.pk for c in opened[conversations:]]).update(created_at=now - timedelta(days=45))
        for cost in costs:
            AICall.objects.create(operation="classify", provider="openai", model="gpt-fake", cost=Decimal(cost))
        AICall.objects.create(operation="classify", provider="openai", model="gpt-fake", cost=Decimal("99"), created_at=now - timedelta(days=45))
        for job, error in jobs.items():
            JobStatus.objects.create(job=job, last_started_at=now - timedelta(minutes=5), last_finished_at=now - timedelta(minutes=4), last_error=error, run_count=3)


def _rows(html: str) -> dict[str, list[str]]:
    """The changelist's rows as text cells, by slug (the schema_name column)."""
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        cells = [unescape(re.sub(r"<[^>]+>", " ", cell)).split() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        texts = [" ".join(cell) for cell in cells]
        if len(texts) > 2:
            rows[texts[2]] = texts
    return rows


@pytest.fixture
def operator(public_client):
    user = UserFactory(is_superuser=True)
    admin_login(public_client, user.email, PASSWORD)
    return user


def test_operator_sees_each_tenants_plan_state_members_conversations_ai_cost_and_jobs(alpha, beta, public_client, operator):
    MembershipFactory.create_batch(3, account=alpha)
    MembershipFactory(account=beta)
    Account.objects.filter(pk=beta.pk).update(plan=Account.Plan.GROWTH)
    _seed(alpha, conversations=2, last_month=1, costs=["1.25", "0.50"], jobs={"heartbeat": "", "analytics_rollup": ""})
    _seed(beta, conversations=1, last_month=2, costs=["0.004"], jobs={"mark_sla_breaches": "boom"})

    response = public_client.get(LIST)

    assert response.status_code == 200
    header = _rows(response.content.decode())
    rows = {slug: cells for slug, cells in header.items() if slug in ("alpha", "beta")}
    headings = [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r'<th scope="col"[^>]*>(.*?)</th>', response.content.decode(), re.S)]
    assert [h for h in headings if h] == [
        "Name", "Schema name", "Plan", "State", "Members", "Conversations this month", "AI cost this month",
        "Background jobs (last run)", "Created at",
    ]
    alpha_row, beta_row = rows["alpha"], rows["beta"]
    assert alpha_row[3:8] == ["Trial", "Active", "3", "2", "1.75"]
    assert beta_row[3:8] == ["Growth", "Active", "1", "1", "< 0.01"]
    assert alpha_row[8] == "analytics_rollup: ok, 4 minutes ago heartbeat: ok, 4 minutes ago"
    assert beta_row[8] == "mark_sla_breaches: failed, 4 minutes ago"


def test_the_list_reads_every_tenant_of_a_page_in_the_same_number_of_queries(alpha, beta, public_client, operator):
    _seed(alpha, conversations=1, last_month=0, costs=["1"], jobs={"heartbeat": ""})
    _seed(beta, conversations=1, last_month=0, costs=["1"], jobs={"heartbeat": ""})

    def queries(path):
        with CaptureQueriesContext(connection) as captured:
            assert public_client.get(path).status_code == 200
        return len(captured)

    queries(LIST)  # the first request of a connection also sets its search_path (later ones keep it)
    one_tenant = queries(f"{LIST}?q=alpha")
    two_tenants = queries(LIST)
    assert one_tenant == two_tenants


def test_a_member_who_is_no_operator_is_refused(alpha, public_client):
    owner = MembershipFactory(account=alpha, role=Membership.Role.OWNER).user
    refused = public_client.post("/admin/login/", {"username": owner.email, "password": PASSWORD})
    assert refused.status_code == 200 and b"platform operator" in refused.content
    assert public_client.get(LIST).status_code == 302
    before = Account.objects.get(pk=alpha.pk).state
    response = public_client.post(LIST, {"action": "suspend_accounts", "_selected_action": [alpha.pk], "confirm": "yes"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert Account.objects.get(pk=alpha.pk).state == before and not AccountEvent.objects.exists()


def test_suspend_asks_for_a_reason_then_suspends_and_resume_resumes(alpha, beta, public_client, operator):
    confirm = public_client.post(LIST, {"action": "suspend_accounts", "_selected_action": [alpha.pk, beta.pk]})
    assert confirm.status_code == 200 and b'name="reason"' in confirm.content
    assert not Account.objects.filter(state=Account.State.SUSPENDED).exists()

    done = public_client.post(
        LIST, {"action": "suspend_accounts", "_selected_action": [alpha.pk], "confirm": "yes", "reason": "Chargeback"}, follow=True
    )

    assert "Suspended account &#x27;alpha&#x27;: Chargeback" in done.content.decode()
    alpha.refresh_from_db()
    assert alpha.is_suspended and alpha.suspended_reason == "Chargeback"
    assert not Account.objects.get(pk=beta.pk).is_suspended
    event = AccountEvent.objects.get()
    assert (event.account_id, event.action, event.by, event.source) == (alpha.pk, "suspended", operator, "platform admin")
    assert _rows(done.content.decode())["alpha"][4] == "Suspended"
    assert b"Chargeback" in public_client.get(f"{LIST}{alpha.pk}/change/").content  # the history on its page

    again = public_client.post(LIST, {"action": "suspend_accounts", "_selected_action": [alpha.pk], "confirm": "yes"}, follow=True)
    assert "already suspended" in again.content.decode() and AccountEvent.objects.count() == 1

    resumed = public_client.post(LIST, {"action": "resume_accounts", "_selected_action": [alpha.pk, beta.pk]}, follow=True)

    page = resumed.content.decode()
    assert "Resumed account &#x27;alpha&#x27;" in page and "Account &#x27;beta&#x27; is already active; nothing changed" in page
    alpha.refresh_from_db()
    assert (alpha.state, alpha.suspended_reason) == (Account.State.ACTIVE, "")
    assert list(AccountEvent.objects.values_list("action", "by")) == [("resumed", operator.pk), ("suspended", operator.pk)]


def test_an_operator_can_set_an_accounts_retention_on_its_page(alpha, public_client, operator):
    """The retention the nightly job applies (conversations/services/retention.py) is set by
    the owner in the desk or by a platform operator here: both fields are editable inputs."""
    page = public_client.get(f"{LIST}{alpha.pk}/change/").content.decode()
    for field in ["retention_message_days", "retention_ai_payload_days"]:
        assert re.search(rf'<input[^>]*name="{field}"', page), field
