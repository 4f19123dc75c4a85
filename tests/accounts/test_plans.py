"""Plans and limits (accounts/plans.py): seats, inboxes and the monthly AI allowance, each at
its boundary, through the doors people use (the desk, the agents' API, an invitation link,
the message follow-up); two accepts racing for the last seat; a plan moved down; two tenants'
AI counters; the enterprise plan without limits."""

from __future__ import annotations

import re
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from accounts.models import Account, Invitation, Membership, User
from accounts.plans import PlanLimitExceeded, limits_for
from accounts.services import account_create, api_token_create, invitation_accept_as_new, invitation_create, membership_add
from ai import pipeline, plan_allowance
from ai.models import AICall, Classification, Draft, Operation, RoutingRule
from config.errors import error_body
from conversations import followups, services
from conversations.events import describe
from conversations.models import Conversation, ConversationEvent, Inbox
from tests.accounts.factories import PASSWORD, MembershipFactory, UserFactory
from tests.conftest import admin_login, wait_for
from tests.conversations.factories import ContactFactory, InboxFactory, TeamFactory

Role = Membership.Role
Plan = Account.Plan
BASE_URL = "http://alpha.localhost/"


def _plan_set(account: Account, plan: str) -> Account:
    """What the platform admin does: the row's plan changes, nothing else."""
    Account.objects.filter(pk=account.pk).update(plan=plan)
    account.refresh_from_db()
    return account


def _owner(account, client=None) -> User:
    user = MembershipFactory(account=account, role=Role.OWNER).user
    if client is not None:
        admin_login(client, user.email, PASSWORD)
    return user


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# ----------------------------------------------------------------------------- seats


@pytest.mark.django_db
def test_an_invitation_takes_the_last_seat_and_the_next_one_is_refused_with_a_form_error(alpha, alpha_client):
    assert limits_for(alpha).max_agents == 3  # trial
    _owner(alpha, alpha_client)
    MembershipFactory(account=alpha, role=Role.AGENT)  # 2 of 3 seats

    sent = alpha_client.post("/admin/accounts/invitation/add/", {"email": "third@example.com", "role": "agent"}, follow=True)
    assert _messages(sent) == ["Invitation sent to third@example.com. It is valid for 7 days."]

    refused = alpha_client.post("/admin/accounts/invitation/add/", {"email": "fourth@example.com", "role": "agent"})
    assert refused.status_code == 200  # the form again, with the reason
    page = refused.content.decode()
    assert "The Trial plan allows 3 members (open invitations included); this account has 3." in page
    assert not Invitation.objects.filter(email="fourth@example.com").exists()

    # The address already invited holds its seat: sending it again is not a new seat.
    again = alpha_client.post("/admin/accounts/invitation/add/", {"email": "third@example.com", "role": "manager"}, follow=True)
    assert _messages(again) == ["Invitation sent to third@example.com. It is valid for 7 days."]
    assert Invitation.objects.get(email="third@example.com").role == "manager"


@pytest.mark.django_db
def test_accepting_when_the_seat_went_meanwhile_is_refused_and_the_invitation_stays_open(alpha, client):
    owner = _owner(alpha)
    invitation = invitation_create(account=alpha, email="late@example.com", role="agent", invited_by=owner, base_url=BASE_URL)
    MembershipFactory(account=alpha)
    MembershipFactory(account=alpha)  # the last seat, taken another way (3 of 3)
    with pytest.raises(PlanLimitExceeded) as refused:
        invitation_accept_as_new(invitation=invitation, full_name="Late Comer", password="a-long-pass-phrase")
    assert "Alpha Corp has no free seat: its Trial plan allows 3 members" in refused.value.message
    assert not User.objects.filter(email="late@example.com").exists()  # nothing made
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING  # usable once a seat frees

    Membership.objects.filter(account=alpha, role=Role.AGENT).first().delete()
    joined = invitation_accept_as_new(invitation=invitation, full_name="Late Comer", password="a-long-pass-phrase")
    assert joined.account_id == alpha.pk and Membership.objects.filter(account=alpha).count() == 3


def _someone_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction sees its first snapshot only
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


def test_two_people_accepting_at_once_for_the_last_seat_one_joins_one_is_refused(committed_db):
    """Real transactions on two connections. The first accept holds its transaction open
    until the second has either finished or is seen waiting on a lock: with the account's
    row locked the second waits, then counts the first's member and is refused; without the
    lock it would count 2 members and join too."""
    made = account_create(name="Seats Co", slug="seats", owner_email="owner@seats.example", plan=Plan.STARTER)
    account, owner = made.account, made.owner
    membership_add(user=UserFactory(), account=account, role=Role.AGENT)
    invitations = [
        invitation_create(account=account, email=f"racer{n}@example.com", role="agent", invited_by=owner, base_url=BASE_URL)
        for n in range(2)
    ]
    _plan_set(account, Plan.TRIAL)  # moved down after the invitations went out: 2 members, 1 seat free

    first_in, second_done = threading.Event(), threading.Event()
    outcomes: dict[str, str] = {}

    def accept(name, invitation):
        try:
            invitation_accept_as_new(invitation=invitation, full_name=name, password="a-long-pass-phrase")
            outcomes[name] = "joined"
        except PlanLimitExceeded:
            outcomes[name] = "refused"

    def first():
        try:
            with transaction.atomic():
                accept("first", invitations[0])
                first_in.set()
                wait_for(lambda: second_done.is_set() or _someone_waits_for_a_lock(), what="the second accept to wait or finish")
        finally:
            first_in.set()
            connection.close()

    def second():
        try:
            first_in.wait(timeout=30)
            accept("second", invitations[1])
        finally:
            second_done.set()
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes == {"first": "joined", "second": "refused"}
    assert Membership.objects.filter(account=account).count() == 3


@pytest.mark.django_db
def test_the_api_answers_402_in_the_error_shape_naming_the_limit_and_the_plan(alpha, alpha_client):
    owner = _owner(alpha)
    key = api_token_create(user=owner, account=alpha, name="crm")[1]
    headers = {"content_type": "application/json", "HTTP_AUTHORIZATION": f"Token {key}"}
    MembershipFactory(account=alpha)

    created = alpha_client.post("/api/v1/invitations/", {"email": "api@example.com", "role": "agent"}, **headers)
    assert created.status_code == 201 and created.json()["email"] == "api@example.com"  # seat 3 of 3

    refused = alpha_client.post("/api/v1/invitations/", {"email": "one-more@example.com"}, **headers)
    assert refused.status_code == 402
    assert refused.json() == error_body(
        "plan_limit_exceeded",
        "The Trial plan allows 3 members (open invitations included); this account has 3. "
        "Remove a member or revoke an open invitation, or move to a larger plan.",
    )
    assert not Invitation.objects.filter(email="one-more@example.com").exists()


@pytest.mark.django_db
def test_an_agent_may_not_invite_through_the_api(alpha, alpha_client):
    agent = MembershipFactory(account=alpha, role=Role.AGENT).user
    key = api_token_create(user=agent, account=alpha, name="mine")[1]
    response = alpha_client.post("/api/v1/invitations/", {"email": "x@example.com"}, content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 403 and not Invitation.objects.exists()


@pytest.mark.django_db
def test_membership_add_refuses_past_the_seats_so_commands_and_seeding_are_bounded_too(alpha):
    for _ in range(3):
        membership_add(user=UserFactory(), account=alpha, role=Role.AGENT)
    existing = Membership.objects.filter(account=alpha).first()
    assert membership_add(user=existing.user, account=alpha, role=Role.ADMIN) == existing  # already a member: no new seat
    with pytest.raises(PlanLimitExceeded) as refused:
        membership_add(user=UserFactory(), account=alpha, role=Role.AGENT)
    assert refused.value.code == "plan_limit_exceeded" and refused.value.resource == "agents"
    assert Membership.objects.filter(account=alpha).count() == 3


# ----------------------------------------------------------------------------- inboxes

INBOX_FORM = {"name": "", "channel": "web_widget", "timezone": "UTC", "business_hours": "{}", "widget_color": "#1f6feb",
              "ai_confidence_threshold": "0.8", "auto_assign": "on", "allowed_origins": "[]"}


@pytest.mark.django_db
def test_the_desk_creates_inboxes_up_to_the_plan_then_shows_why_not(alpha, alpha_client):
    _owner(alpha, alpha_client)
    with tenant_context(alpha):
        InboxFactory()  # 1 of 2
    added = alpha_client.post("/admin/conversations/inbox/add/", {**INBOX_FORM, "name": "Second"})
    assert added.status_code == 302, added.content.decode()[:2000]

    refused = alpha_client.post("/admin/conversations/inbox/add/", {**INBOX_FORM, "name": "Third"})
    assert refused.status_code == 200
    assert "The Trial plan allows 2 inboxes; this account has 2. Delete an inbox, or move to a larger plan." in refused.content.decode()
    with tenant_context(alpha):
        assert sorted(Inbox.objects.values_list("name", flat=True))[-1] == "Second" and Inbox.objects.count() == 2
    # Editing an inbox is no addition.
    with tenant_context(alpha):
        second = Inbox.objects.get(name="Second")
    edited = alpha_client.post(f"/admin/conversations/inbox/{second.pk}/change/", {**INBOX_FORM, "name": "Second, renamed"})
    assert edited.status_code == 302


@pytest.mark.django_db
def test_a_plan_moved_down_deletes_nothing_and_refuses_additions_until_under_the_limit(alpha):
    _plan_set(alpha, Plan.STARTER)
    owner = _owner(alpha)
    others = [MembershipFactory(account=alpha) for _ in range(4)]
    with tenant_context(alpha):
        for n in range(3):
            services.inbox_create(inbox=Inbox(name=f"Inbox {n}"))
    _plan_set(alpha, Plan.TRIAL)  # 5 members of 3, 3 inboxes of 2

    assert Membership.objects.filter(account=alpha).count() == 5
    with pytest.raises(PlanLimitExceeded):
        invitation_create(account=alpha, email="new@example.com", role="agent", invited_by=owner, base_url=BASE_URL)
    with tenant_context(alpha):
        assert Inbox.objects.count() == 3
        with pytest.raises(PlanLimitExceeded):
            services.inbox_create(inbox=Inbox(name="One more"))
        Inbox.objects.filter(name="Inbox 2").delete()
        with pytest.raises(PlanLimitExceeded):  # 2 of 2: still full
            services.inbox_create(inbox=Inbox(name="One more"))

    for membership in others[:3]:
        membership.delete()  # 2 members: one seat free
    invitation_create(account=alpha, email="new@example.com", role="agent", invited_by=owner, base_url=BASE_URL)


@pytest.mark.django_db
def test_the_enterprise_plan_has_no_limits(alpha):
    _plan_set(alpha, Plan.ENTERPRISE)
    for _ in range(5):
        membership_add(user=UserFactory(), account=alpha, role=Role.AGENT)
    owner = _owner(alpha)
    invitation_create(account=alpha, email="sixth@example.com", role="agent", invited_by=owner, base_url=BASE_URL)
    with tenant_context(alpha):
        for n in range(4):
            services.inbox_create(inbox=Inbox(name=f"Inbox {n}"))
        assert Inbox.objects.count() == 4
        _ledger_fill(2000, cost=Decimal("900"))
        assert plan_allowance.ai_allowance_used_up(account=alpha) is None
    assert Membership.objects.filter(account=alpha).count() == 6
    assert Invitation.objects.filter(account=alpha, email="sixth@example.com").exists()


# ----------------------------------------------------------------------------- the AI allowance


def _ledger_fill(calls: int, *, cost: Decimal = Decimal("0")) -> None:
    """This month's ledger of the current tenant: `calls` local classify calls."""
    each = cost / calls if calls else Decimal("0")
    AICall.objects.bulk_create(
        AICall(operation=Operation.CLASSIFY, provider="local", model="test", cost=each) for _ in range(calls)
    )


def _customer_message(inbox, content="My invoice is wrong"):
    conversation = services.conversation_open(inbox=inbox, contact=ContactFactory(), content=content)
    return conversation.messages.get()


@pytest.mark.django_db
def test_over_the_ai_allowance_the_message_is_kept_and_routed_by_rules_and_the_timeline_says_why(alpha):
    with tenant_context(alpha):
        support = TeamFactory(name="Support")
        RoutingRule.objects.create(name="Everything to Support", position=1, team=support)  # needs no AI
        inbox = InboxFactory(auto_assign=False)
        _ledger_fill(999)  # one call left of the trial's 1,000

        first = _customer_message(inbox)
        assert pipeline.message_classify(first) is not None  # the last call of the month: made
        assert AICall.objects.count() == 1000

        second = _customer_message(inbox, content="Where is my parcel?")
        assert followups.message_followup_run(message_id=second.pk)  # the whole follow-up, as the worker runs it
        conversation = Conversation.objects.get(pk=second.conversation_id)
        assert conversation.messages.get().content == "Where is my parcel?"  # stored, as always
        assert conversation.team == support  # routed by the rule that needs no AI
        assert not Classification.objects.filter(message=second).exists()
        assert not Draft.objects.filter(message=second).exists()
        assert AICall.objects.count() == 1000  # no AI call made for it
        skipped = ConversationEvent.objects.get(conversation=conversation, action="ai_skipped")
        assert describe(skipped) == (
            "Hearth left this message to people, without the AI: The Trial plan allows 1,000 AI calls a month; "
            "this account has made 1,000 this month. The AI resumes next month, or at once on a larger plan."
        )


@pytest.mark.django_db
def test_the_ai_cost_allowance_stops_the_ai_too(alpha):
    with tenant_context(alpha):
        _ledger_fill(10, cost=Decimal("4.99"))
        assert plan_allowance.ai_allowance_used_up(account=alpha) is None
        _ledger_fill(1, cost=Decimal("0.01"))
        cache_clear_counters()
        refusal = plan_allowance.ai_allowance_used_up(account=alpha)
        assert refusal is not None and refusal.resource == "ai_budget_usd"
        assert "allows 5 USD of AI cost a month; this account has spent 5.00 USD this month" in refusal.message


def cache_clear_counters() -> None:
    """Rows written with bulk_create skip the ledger's counter: let it be rebuilt (as after
    losing Redis)."""
    from django.core.cache import cache

    cache.delete_many(list(plan_allowance._keys()))


@pytest.mark.django_db
def test_two_tenants_counters_share_key_names_but_never_a_count(alpha, beta):
    with tenant_context(alpha):
        _ledger_fill(1000)
        assert plan_allowance.ai_usage_this_month().calls == 1000
        alpha_keys = plan_allowance._keys()
    with tenant_context(beta):
        assert plan_allowance._keys() == alpha_keys  # the same names ...
        assert plan_allowance.ai_usage_this_month().calls == 0  # ... and beta's own count
        assert plan_allowance.ai_allowance_used_up(account=beta) is None
        message = _customer_message(InboxFactory(auto_assign=False))
        assert pipeline.message_classify(message) is not None  # beta's AI works
        assert plan_allowance.ai_usage_this_month().calls == 1
    with tenant_context(alpha):
        assert plan_allowance.ai_usage_this_month().calls == 1000
        assert plan_allowance.ai_allowance_used_up(account=alpha).resource == "ai_calls"


@pytest.mark.django_db
def test_each_ledger_row_counts_once_and_cache_hits_do_not(alpha):
    from ai import calls

    with tenant_context(alpha):
        assert plan_allowance.ai_usage_this_month().calls == 0  # the counter exists from here on
        calls._ledger_write(operation=Operation.CLASSIFY, provider="openai", model="m", latency_ms=1, cost=Decimal("0.25"), links={})
        calls._ledger_write(operation=Operation.CLASSIFY, provider="openai", model="m", latency_ms=1, cache_hit=True, links={})
        calls._ledger_write(operation=Operation.AUTO_REPLY, provider="local", model="", latency_ms=1, links={})
        usage = plan_allowance.ai_usage_this_month()
        assert (usage.calls, usage.cost) == (1, Decimal("0.25"))
        cache_clear_counters()  # rebuilt from the ledger: the same figures
        usage = plan_allowance.ai_usage_this_month()
        assert (usage.calls, usage.cost) == (1, Decimal("0.25"))


# ----------------------------------------------------------------------------- what people see


@pytest.mark.django_db
def test_owners_see_usage_against_the_plan_and_everyone_sees_when_the_ai_is_paused(alpha, alpha_client):
    _owner(alpha, alpha_client)
    with tenant_context(alpha):
        InboxFactory()
        _ledger_fill(1000)
    page = alpha_client.get("/admin/").content.decode()
    usage = re.sub(r"\s+", " ", page[page.index('id="plan-usage"'):page.index("</table>", page.index('id="plan-usage"'))])
    assert "Trial plan: usage" in usage
    assert "Members</th> <td>1 / 3</td>" in usage
    assert "Inboxes</th> <td>1 / 2</td>" in usage
    assert "AI calls this month</th> <td>1000 / 1000 <strong>(limit reached)</strong>" in usage

    agent = MembershipFactory(account=alpha, role=Role.AGENT).user
    agent_client = Client(HTTP_HOST="alpha.localhost")
    admin_login(agent_client, agent.email, PASSWORD)
    response = agent_client.get("/admin/")
    agent_page = response.content.decode()
    assert 'id="plan-usage"' not in agent_page  # the plan is the business of who runs the account
    assert any(m.startswith("AI paused for this month: The Trial plan allows 1,000 AI calls a month") for m in _messages(response))


@pytest.mark.django_db
def test_the_demo_desk_seeds_through_the_same_services_within_seed_demo_s_plan(alpha):
    from accounts.management.commands.seed_demo import DEMO_MEMBERS
    from conversations.demo_data import demo_agents_ensure, demo_desk_seed

    _plan_set(alpha, Plan.GROWTH)  # the plan seed_demo gives the demo tenant
    for email, full_name, role in DEMO_MEMBERS:
        membership_add(user=UserFactory(email=email, full_name=full_name), account=alpha, role=role)
    demo_agents_ensure(account=alpha, password=PASSWORD)
    with tenant_context(alpha):
        assert demo_desk_seed(account=alpha, conversations=4) == 4
        assert Inbox.objects.count() == 3
    assert Membership.objects.filter(account=alpha).count() == 6

    _plan_set(alpha, Plan.TRIAL)  # on the trial the same seeding would stop at its seats and inboxes
    with pytest.raises(PlanLimitExceeded):
        membership_add(user=UserFactory(), account=alpha, role=Role.AGENT)
