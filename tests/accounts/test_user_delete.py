"""Deleting a login (accounts.services.user_delete): tenant tables name users without a
database constraint, so the service is what keeps every schema free of rows naming a user
that is gone."""

import io

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts.models import Membership, User
from accounts.services import user_delete
from analytics.models import AvailabilityChange
from conversations.models import Conversation, Team, TeamMember
from conversations.services.intake import conversation_open
from kb.models import Article
from tests.accounts.factories import MembershipFactory, UserFactory
from tests.conversations.factories import ContactFactory, InboxFactory, TeamFactory

pytestmark = pytest.mark.django_db

TENANT_APP_LABELS = {app.rsplit(".", 1)[-1] for app in settings.TENANT_APPS}


def _desk_work_of(user: User, *, slug: str) -> None:
    """What an agent leaves in an account: an assigned conversation, a team seat and the
    team's rota, an article, an availability change."""
    with schema_context(slug):
        conversation = conversation_open(inbox=InboxFactory(), contact=ContactFactory(), content=f"Help from {user.email}")
        Conversation.objects.filter(pk=conversation.pk).update(assignee=user)
        team = TeamFactory(last_assigned_user=user)
        TeamMember.objects.create(team=team, user=user)
        Article.objects.create(title=f"By {user.email}", slug=f"by-{user.pk}", body="Text", author=user)
        AvailabilityChange.objects.create(user=user, availability="online", previous="offline", changed_at=timezone.now())


def _rows_naming_missing_users(slug: str) -> dict[str, int]:
    """Per key to the user table in the account's schema, the rows naming a user that does not exist."""
    user_ids = set(User.objects.values_list("pk", flat=True))
    found = {}
    with schema_context(slug):
        for model in apps.get_models(include_auto_created=True):
            if model._meta.app_label not in TENANT_APP_LABELS:
                continue
            for field in model._meta.concrete_fields:
                if field.is_relation and field.related_model is User:
                    named = set(model._base_manager.exclude(**{f"{field.attname}__isnull": True}).values_list(field.attname, flat=True))
                    if named - user_ids:
                        found[f"{model._meta.label}.{field.name}"] = len(named - user_ids)
    return found


def test_deleting_a_login_clears_it_from_every_account_it_worked_in(alpha, beta):
    leaving, staying = UserFactory(email="leaving@example.com"), UserFactory(email="staying@example.com")
    MembershipFactory(user=leaving, account=alpha)
    MembershipFactory(user=staying, account=alpha)
    MembershipFactory(user=staying, account=beta)
    for slug in (alpha.schema_name, beta.schema_name):  # in beta, `leaving` is a former member
        _desk_work_of(leaving, slug=slug)
        _desk_work_of(staying, slug=slug)

    deleted = user_delete(user=leaving)

    assert deleted.schemas_swept >= 2 and deleted.email == "leaving@example.com"
    assert not User.objects.filter(email="leaving@example.com").exists()
    assert not Membership.objects.filter(user_id=leaving.pk).exists()
    for slug in (alpha.schema_name, beta.schema_name):
        assert _rows_naming_missing_users(slug) == {}
        with schema_context(slug):
            # What the keys' on_delete says: conversations and articles stay, unassigned and
            # without an author; the team seat and the availability history go.
            assert Conversation.objects.filter(assignee__isnull=True, messages__content__startswith="Help from leaving").count() == 1
            assert Article.objects.get(slug=f"by-{leaving.pk}").author_id is None
            assert not TeamMember.objects.filter(user_id=leaving.pk).exists()
            assert not Team.objects.filter(last_assigned_user_id=leaving.pk).exists()
            assert not AvailabilityChange.objects.filter(user_id=leaving.pk).exists()
            # The other agent's work is untouched.
            assert Conversation.objects.filter(assignee=staying).count() == 1
            assert TeamMember.objects.filter(user=staying).count() == 1
            assert Article.objects.get(slug=f"by-{staying.pk}").author_id == staying.pk
            assert AvailabilityChange.objects.filter(user=staying).count() == 1


def test_only_the_admin_log_keeps_a_database_key_from_a_tenant_schema_to_the_public_one(alpha):
    # Each such key puts two triggers per tenant on the public table, which made sign-up grow
    # with the tenant count (docs/performance.md, "Tenants at scale"); Django's own admin log
    # is the one left (the same doc says why it stays).
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.relname || '.' || a.attname || ' -> ' || r.relname
            FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.conkey[1]
            WHERE k.contype = 'f' AND k.connamespace = %s::regnamespace AND r.relnamespace = 'public'::regnamespace
            ORDER BY 1
            """,
            [alpha.schema_name],
        )
        keys = [row[0] for row in cursor.fetchall()]
    assert keys == ["django_admin_log.user_id -> accounts_user"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["user_delete", "nobody@example.com", "--confirm", "nobody@example.com"], "no login 'nobody@example.com'"),
        (["user_delete", "agent@example.com"], "refusing to delete agent@example.com: repeat its address with --confirm agent@example.com"),
        (["user_delete", "agent@example.com", "--confirm", "other@example.com"], "refusing to delete agent@example.com"),
    ],
)
def test_the_command_refuses_bad_input_with_one_line_and_changes_nothing(alpha, arguments, message):
    agent = UserFactory(email="agent@example.com")
    MembershipFactory(user=agent, account=alpha)
    _desk_work_of(agent, slug=alpha.schema_name)
    with pytest.raises(CommandError, match=message):
        call_command(*arguments)
    agent.refresh_from_db()
    assert agent.is_active and Membership.objects.filter(user=agent, account=alpha).exists()
    with schema_context(alpha.schema_name):
        assert Conversation.objects.filter(assignee=agent).count() == 1


def test_the_command_deletes_the_login_and_says_what_it_cleared(alpha):
    agent = UserFactory(email="agent@example.com")
    MembershipFactory(user=agent, account=alpha)
    _desk_work_of(agent, slug=alpha.schema_name)
    out = io.StringIO()
    call_command("user_delete", "Agent@Example.com", "--confirm", "agent@example.com", stdout=out)
    assert not User.objects.filter(email="agent@example.com").exists()
    assert _rows_naming_missing_users(alpha.schema_name) == {}
    assert out.getvalue().startswith("deleted agent@example.com: ")
