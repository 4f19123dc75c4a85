"""Retention per account, with known answers: a message 31 days old under a 30-day period is
erased, one 29 days old is kept; AI payloads likewise; no period keeps everything. The job's
run in a real worker, tenant by tenant, is test_retention_worker.py."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts.models import Account, Membership
from ai.models import AICall, CachedResponse, Classification, Draft, KnowledgeGap, Operation
from conversations import selectors, services
from conversations.models import Conversation, CSATResponse, Message
from tests.accounts.factories import PASSWORD, UserFactory
from tests.conftest import admin_login
from tests.conversations.factories import ContactFactory, InboxFactory
from tests.conversations.test_erasure import columns_holding

pytestmark = pytest.mark.usefixtures("in_alpha")
Role = Membership.Role


def _ago(days: float):
    return timezone.now() - timedelta(days=days)


def _search(word: str) -> set[int]:
    return set(selectors.conversation_search(Conversation.objects.all(), word).values_list("pk", flat=True))


def _conversation(*, days_ago: float, content: str, **kwargs) -> Conversation:
    return services.conversation_open(inbox=InboxFactory(auto_assign=False), contact=ContactFactory(), content=content, at=_ago(days_ago), **kwargs)


def test_message_contents_older_than_the_period_are_erased_and_newer_ones_kept(alpha):
    services.account_retention_set(account=alpha, message_days=30, ai_payload_days=None)
    old = _conversation(days_ago=31, content="my kumquat order")
    services.message_add_reply(conversation=old, content="kumquat is on its way", by_ai=True, at=_ago(31))
    services.message_add_incoming(conversation=old, content="the papaya arrived", at=_ago(29))
    services.csat_record(conversation=old, rating=4, comment="kumquat came late", at=_ago(31))
    KnowledgeGap.objects.create(question="kumquat?", conversation=old, message=old.messages.first())
    LogEntry.objects.log_actions(user_id=UserFactory().pk, queryset=[old], action_flag=CHANGE, single_object=True)
    recent = _conversation(days_ago=29, content="a banana question")
    counts = (Conversation.objects.count(), Message.objects.count(), list(Message.objects.order_by("pk").values_list("created_at", "direction")))
    assert _search("kumquat") == {old.pk}

    run = services.retention_apply(account=alpha)

    assert (run.messages, run.ai_payloads) == (2, 0)
    assert list(old.messages.order_by("created_at", "id").values_list("content", flat=True)) == ["[erased]", "[erased]", "the papaya arrived"]
    assert Conversation.objects.get(pk=old.pk).subject == "[erased]"
    assert Conversation.objects.get(pk=recent.pk).subject == "a banana question"
    assert CSATResponse.objects.get().comment == "[erased]"
    assert KnowledgeGap.objects.get().question == "[erased]"
    assert _search("kumquat") == set()
    assert columns_holding(alpha.schema_name, "kumquat") == set()
    assert columns_holding(alpha.schema_name, "papaya") == {"conversations_message.content", "conversations_conversation.search_document"}
    assert _search("papaya") == {old.pk} and _search("banana") == {recent.pk}
    assert (Conversation.objects.count(), Message.objects.count(), list(Message.objects.order_by("pk").values_list("created_at", "direction"))) == counts
    assert services.retention_apply(account=alpha).messages == 0  # done rows are not done again


def test_batches_commit_one_by_one_and_a_second_run_finds_nothing_left(alpha):
    conversation = _conversation(days_ago=40, content="first")
    for n in range(4):
        services.message_add_incoming(conversation=conversation, content=f"old {n}", at=_ago(39 - n))
    assert services.messages_retention_apply(days=30, batch_size=2) == 5
    assert services.messages_retention_apply(days=30, batch_size=2) == 0
    assert set(Message.objects.values_list("content", flat=True)) == {"[erased]"}


def _ai_rows(days_ago: float, conversation: Conversation) -> None:
    message = Message.objects.create(conversation=conversation, direction="incoming", sender_type="contact", content=f"q {days_ago}")
    moment = _ago(days_ago)
    AICall.objects.create(operation=Operation.GENERATE, provider="openai", model="m", input_tokens=100, output_tokens=20, cost=Decimal("0.01"),
                          error=f"prompt echo {days_ago}", conversation=conversation, created_at=moment)
    Classification.objects.create(message=message, conversation=conversation, category="billing", confidence=0.8, provider="local", model="m",
                                  reasoning=f"because {days_ago}", evidence={"nearest": ["x"]}, created_at=moment)
    Draft.objects.create(conversation=conversation, message=message, content=f"draft {days_ago}", reasoning="r", provider="local", model="m", created_at=moment)
    KnowledgeGap.objects.create(question=f"gap {days_ago}", conversation=conversation, message=message, created_at=moment)
    CachedResponse.objects.create(key=f"key-{days_ago}", operation=Operation.GENERATE, provider="openai", model="m", response={"t": "x"},
                                  created_at=moment, expires_at=timezone.now() + timedelta(days=1))


def test_ai_payloads_older_than_the_period_are_dropped_and_their_costs_kept(alpha):
    services.account_retention_set(account=alpha, message_days=None, ai_payload_days=30)
    conversation = _conversation(days_ago=40, content="a message older than any period")
    _ai_rows(31, conversation)
    _ai_rows(29, conversation)

    run = services.retention_apply(account=alpha)

    assert (run.messages, run.ai_payloads) == (0, 5)
    old, new = AICall.objects.order_by("created_at")
    assert (old.error, old.input_tokens, old.output_tokens, old.cost) == ("", 100, 20, Decimal("0.01"))
    assert new.error == "prompt echo 29"
    assert list(Classification.objects.order_by("created_at").values_list("reasoning", "evidence", "category")) == [
        ("", {}, "billing"), ("because 29", {"nearest": ["x"]}, "billing")]
    assert list(Draft.objects.order_by("created_at").values_list("content", "status")) == [("[erased]", "pending"), ("draft 29", "pending")]
    assert list(KnowledgeGap.objects.order_by("created_at").values_list("question", flat=True)) == ["[erased]", "gap 29"]
    assert list(CachedResponse.objects.values_list("key", flat=True)) == ["key-29"]
    assert Message.objects.filter(content="a message older than any period").exists()  # no message period set


def test_without_periods_everything_is_kept(alpha):
    assert (alpha.retention_message_days, alpha.retention_ai_payload_days) == (None, None)
    conversation = _conversation(days_ago=4000, content="a very old message")
    _ai_rows(4000, conversation)
    run = services.retention_apply(account=alpha)
    assert (run.messages, run.ai_payloads) == (0, 0)
    assert not Message.objects.filter(content="[erased]").exists()
    assert AICall.objects.get().error == "prompt echo 4000" and CachedResponse.objects.count() == 1


def test_the_command_applies_each_accounts_own_periods(alpha, beta, capsys):
    services.account_retention_set(account=alpha, message_days=30, ai_payload_days=None)
    _conversation(days_ago=31, content="alpha's old words")
    with schema_context(beta.schema_name):
        _conversation(days_ago=31, content="beta's old words")  # beta keeps everything

    call_command("retention_apply")

    assert capsys.readouterr().out.splitlines() == ["alpha: 1 message(s) erased, 0 AI payload(s) dropped"]
    assert Message.objects.get().content == "[erased]"
    with schema_context(beta.schema_name):
        assert Message.objects.get().content == "beta's old words"
    call_command("retention_apply", account="beta")
    assert capsys.readouterr().out.strip() == "beta: 0 message(s) erased, 0 AI payload(s) dropped"


@pytest.mark.parametrize(("slug", "line"), [("nosuch", "no account 'nosuch'"), ("public", "'public' is the platform's own schema")])
def test_the_command_refuses_an_unknown_account(slug, line):
    _conversation(days_ago=400, content="kept")
    with pytest.raises(CommandError, match=line):
        call_command("retention_apply", account=slug)
    assert Message.objects.get().content == "kept"


# ----------------------------------------------------------------------------- the desk


def _settings_page(alpha) -> str:
    return f"/admin/accounts/account/{alpha.pk}/change/"


def test_an_owner_sets_the_periods_in_the_desk(alpha, alpha_client, make_member):
    owner = make_member(role=Role.OWNER)
    admin_login(alpha_client, owner.email, PASSWORD)
    page = _settings_page(alpha)
    assert alpha_client.get(page).status_code == 200

    refused = alpha_client.post(page, {"retention_message_days": "0", "retention_ai_payload_days": ""})
    assert refused.status_code == 200 and "greater than or equal to 1" in refused.content.decode()
    assert Account.objects.get(pk=alpha.pk).retention_message_days is None

    saved = alpha_client.post(page, {"retention_message_days": "90", "retention_ai_payload_days": "30"})
    assert saved.status_code == 302
    row = Account.objects.get(pk=alpha.pk)
    assert (row.retention_message_days, row.retention_ai_payload_days) == (90, 30)
    assert alpha_client.post(page, {"retention_message_days": "", "retention_ai_payload_days": ""}).status_code == 302
    assert Account.objects.get(pk=alpha.pk).retention_message_days is None


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.AGENT])
def test_only_owners_see_the_account_settings(alpha, beta, alpha_client, make_member, role):
    member = make_member(role=role)
    admin_login(alpha_client, member.email, PASSWORD)
    assert alpha_client.get(_settings_page(alpha)).status_code == 403
    assert alpha_client.post(_settings_page(alpha), {"retention_message_days": "1"}).status_code == 403
    assert Account.objects.get(pk=alpha.pk).retention_message_days is None


def test_an_owner_sees_only_their_own_account(alpha, beta, alpha_client, make_member):
    owner = make_member(role=Role.OWNER)
    admin_login(alpha_client, owner.email, PASSWORD)
    listing = alpha_client.get("/admin/accounts/account/").content.decode()
    assert alpha.name in listing and beta.name not in listing
    assert alpha_client.get(_settings_page(beta)).status_code == 302  # Django's "doesn't exist" redirect
    assert alpha_client.post(_settings_page(beta), {"retention_message_days": "1"}).status_code == 302
    assert Account.objects.get(pk=beta.pk).retention_message_days is None
