"""`account_export` / `account_import`: a seeded tenant goes out to a zip and comes back as a
new account with the same rows, the same values (vectors, JSON, binary, datetimes to the
microsecond) and working sequences; the other tenant is never touched."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from accounts.models import Account, ApiToken, Domain, Invitation, Membership, User
from accounts.portability import catalog
from accounts.services import api_token_create, api_token_hash, membership_add
from ai.models import AICall, AISettings, Category, ClassifierVersion, TrainingExample
from ai.settings_store import SETTINGS_PK
from analytics.demo import demo_rollups_backfill
from analytics.models import DailyRollup
from conversations import services
from conversations.demo_data import demo_desk_seed
from conversations.models import Conversation, Message
from kb.models import EMBEDDING_DIMENSIONS, Article, Chunk
from tests.accounts.factories import UserFactory
from tests.conversations.factories import ContactFactory, InboxFactory

# What the seed below puts in: the round trip must bring back at least one row of each.
SEEDED = [
    "conversations.Conversation", "conversations.Message", "conversations.ConversationEvent", "conversations.Conversation_labels",
    "conversations.Team", "conversations.Inbox", "conversations.CSATResponse", "ai.AICall", "ai.AISettings", "ai.TrainingExample",
    "ai.ClassifierVersion", "kb.Article", "kb.Chunk", "analytics.DailyRollup",
]


def _seed(account: Account) -> dict:
    # The demo desk's inboxes and people need more than the trial plan allows.
    Account.objects.filter(pk=account.pk).update(plan=Account.Plan.GROWTH)
    account.refresh_from_db()
    owner = UserFactory(email="owner@alpha.example", full_name="Olive Owner")
    agent = UserFactory(email="agent@alpha.example", full_name="Arjun Agent")  # demo_desk_seed's agents: "agent@..."
    membership_add(user=owner, account=account, role=Membership.Role.OWNER)
    membership_add(user=agent, account=account, role=Membership.Role.AGENT, availability=Membership.Availability.ONLINE)
    Invitation.objects.create(
        account=account, email="newcomer@alpha.example", role=Membership.Role.AGENT, invited_by=owner,
        token_hash="ab" * 32, expires_at=timezone.now() + timedelta(days=7),
    )
    _, key = api_token_create(user=owner, account=account, name="CRM sync")
    rng = np.random.default_rng(12)
    with tenant_context(account):
        demo_desk_seed(account=account, conversations=12)
        conversation = Conversation.objects.order_by("pk").first()
        message = conversation.messages.order_by("pk").first()
        article = Article.objects.create(
            title="Refunds", slug="refunds", body="# Refunds\nWithin 5 days.", status=Article.Status.PUBLISHED, tags=["billing", "card"],
            author=owner, published_at=datetime(2026, 11, 30, 9, 15, 42, 123456, tzinfo=dt_timezone.utc),
        )
        for position in range(3):
            Chunk.objects.create(
                article=article, position=position, text=f"passage {position}", content_hash=f"{position:064d}",
                embedding=rng.standard_normal(EMBEDDING_DIMENSIONS).astype(np.float32) if position < 2 else None,
                embedding_model="e5-small",
            )
        with connection.cursor() as cursor:
            cursor.execute("UPDATE kb_chunk SET search_vector = to_tsvector('english', text)")
        # The one settings row (the session's Celery worker may have made it already).
        AISettings.objects.update_or_create(pk=SETTINGS_PK, defaults={
            "api_key_encrypted": b"\x00\xff\x10fernet", "prices": {"gpt": {"input": "0.00015", "output": "0.0006"}},
            "monthly_budget": Decimal("12.34"), "timeout_seconds": 0.1 + 0.2,
        })
        billing = Category.objects.create(name="billing", description="Money")
        TrainingExample.objects.create(category=billing, text="refund please", text_hash="1" * 64, created_by=agent, message=message,
                                       embedding=rng.standard_normal(EMBEDDING_DIMENSIONS).astype(np.float32))
        ClassifierVersion.objects.create(version=1, blob=bytes(range(256)) * 3, embedding_model="e5-small", categories=["billing"],
                                         metrics={"accuracy": 0.9123456789, "nested": [1, None, {"a": "é"}]})
        AICall.objects.create(operation="classify", provider="local", model="e5", cost=Decimal("0.000123"), latency_ms=1.2345678901234,
                              conversation=conversation, message=message,
                              created_at=datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=dt_timezone.utc))
        demo_rollups_backfill(days=8)
    return {"owner": owner, "agent": agent, "key": key}


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def _rows(schema: str, model) -> list[tuple]:
    with schema_context(schema):
        names = [field.attname for field in model._meta.concrete_fields]
        return [tuple(_plain(value) for value in row) for row in model._base_manager.order_by("pk").values_list(*names)]


def _tenant_rows(schema: str) -> dict[str, list[tuple]]:
    return {model._meta.label: _rows(schema, model) for model in catalog.tenant_models()}


@pytest.mark.usefixtures("committed_db")
def test_a_seeded_tenant_round_trips_into_a_new_account_with_equal_rows(alpha, beta, tmp_path):
    seeded = _seed(alpha)
    with tenant_context(beta):  # rows no background job changes (no message, so no follow-up)
        InboxFactory(name="Beta's inbox")
        ContactFactory(name="Beta's customer")
    beta_before = _tenant_rows(beta.schema_name)
    assert all(beta_before[label] for label in ["conversations.Inbox", "conversations.Contact"])

    archive = tmp_path / "alpha.zip"
    # The session's Celery worker may still be running the seeded messages' follow-ups in
    # alpha: read alpha's rows in the export's own snapshot, so both see the same moment.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        alpha_rows = _tenant_rows(alpha.schema_name)
        call_command("account_export", "alpha", "--out", str(archive))
    assert all(alpha_rows[label] for label in SEEDED), [label for label in SEEDED if not alpha_rows[label]]
    manifest = json.loads(zipfile.ZipFile(archive).read("manifest.json"))
    # Every tenant model is in the export (read from the app registry: a new model is too).
    assert {model._meta.label for model in catalog.tenant_models()} <= set(manifest["counts"])
    assert manifest["schema_version"] == catalog.code_migrations()
    assert manifest["account"]["schema_name"] == "alpha" and manifest["account"]["state"] == "active"
    assert manifest["counts"]["conversations.Conversation"] == 12
    secrets = zipfile.ZipFile(archive).read("public/api_tokens.jsonl") + zipfile.ZipFile(archive).read("public/invitations.jsonl")
    assert api_token_hash(seeded["key"]).encode() not in secrets and b"ab" * 32 not in secrets
    assert b"password" not in zipfile.ZipFile(archive).read("public/users.jsonl")

    call_command("account_import", str(archive), "--slug", "restored", "--name", "Alpha again")

    restored = Account.objects.get(schema_name="restored")
    assert restored.name == "Alpha again" and restored.plan == alpha.plan and restored.created_at == alpha.created_at
    assert list(Domain.objects.filter(tenant=restored).values_list("domain", "is_primary")) == [("restored.localhost", True)]
    restored_rows = _tenant_rows("restored")
    for label, rows in alpha_rows.items():
        assert restored_rows[label] == rows, f"{label} differs after the round trip"
    assert _tenant_rows(beta.schema_name) == beta_before  # the other tenant is untouched

    # Public rows: same people and roles (users matched by e-mail), new ids.
    def members(account):
        return sorted(Membership.objects.filter(account=account).values_list("user__email", "role", "availability", "created_at"))
    assert members(restored) == members(alpha)
    assert User.objects.filter(email="owner@alpha.example").count() == 1
    invitation = Invitation.objects.get(account=restored)
    assert (invitation.email, invitation.invited_by, invitation.token_hash) == ("newcomer@alpha.example", seeded["owner"], None)
    token = ApiToken.objects.get(account=restored)
    assert token.name == "CRM sync" and token.revoked_at is not None  # a restored key never works silently
    assert token.key_hash != api_token_hash(seeded["key"])

    # New rows go on after the restored ones: the next conversation takes the number alpha
    # would have given next (numbers never reused), and new ids.
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM alpha.conversations_conversation_number_seq")
        alpha_last_number = cursor.fetchone()[0]
    assert alpha_last_number >= max(row.number for row in Conversation.objects.raw("SELECT * FROM alpha.conversations_conversation"))
    with tenant_context(restored):
        opened = services.conversation_open(inbox=InboxFactory(), contact=ContactFactory(), content="after the restore")
        assert opened.number == alpha_last_number + 1
        assert opened.pk > max(row[0] for row in alpha_rows["conversations.Conversation"])
        assert Message.objects.filter(conversation=opened).count() == 1
        assert Chunk.objects.filter(embedding__isnull=False).count() == 2


@pytest.mark.usefixtures("committed_db")
def test_users_unknown_here_are_created_without_a_password_and_every_reference_follows(alpha, tmp_path):
    """An export from elsewhere names people this installation does not know: they become
    users who cannot sign in, and the tenant's rows point at them (foreign keys, message
    senders, event actors, the analytics' agent groups)."""
    seeded = _seed(alpha)
    archive, moved = tmp_path / "alpha.zip", tmp_path / "elsewhere.zip"
    call_command("account_export", "alpha", "--out", str(archive))
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(moved, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "public/users.jsonl":
                data = data.replace(b"agent@alpha.example", b"agent@elsewhere.example")
            target.writestr(name, data)

    call_command("account_import", str(moved), "--slug", "moved")

    newcomer = User.objects.get(email="agent@elsewhere.example")
    assert not newcomer.has_usable_password() and newcomer.full_name == "Arjun Agent"
    old_id = seeded["agent"].pk
    with tenant_context(Account.objects.get(schema_name="moved")):
        assert Conversation.objects.filter(assignee_id=newcomer.pk).exists()
        assert not Conversation.objects.filter(assignee_id=old_id).exists()
        assert Message.objects.filter(sender_type="agent", sender_id=newcomer.pk).exists()
        assert not Message.objects.filter(sender_type="agent", sender_id=old_id).exists()
        assert DailyRollup.objects.filter(dimension="agent", key=str(newcomer.pk)).exists()
        assert TrainingExample.objects.get().created_by_id == newcomer.pk
    assert Membership.objects.filter(account__schema_name="moved", user=newcomer, role="agent").exists()
