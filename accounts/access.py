"""Who may use which admin and do what in it: the one place for these rules.

- The public schema (platform) admin is for platform operators (`User.is_superuser`).
- A tenant's admin is for users with a Membership in that tenant, whatever else they are:
  a platform operator without a membership is refused like anyone else.
- Inside a tenant, the Membership role decides the actions per model (ROLE_ACTIONS);
  which conversations an agent sees is conversations/access.py.
"""

from __future__ import annotations

from django.db import connection
from django_tenants.utils import get_public_schema_name

from accounts.models import Membership

Role = Membership.Role
ALL = frozenset({"view", "add", "change", "delete"})
VIEW = frozenset({"view"})
EDIT = frozenset({"view", "add", "change"})
TENANT_DATA_APPS = ("conversations", "ai", "kb", "analytics")

# Owners and admins manage members and invitations, and revoke (change) API tokens; tokens
# are made by `manage.py create_api_token`, never from a web form.
ACCOUNT_PEOPLE = {
    "accounts.membership": ALL,
    "accounts.invitation": ALL,
    "accounts.apitoken": frozenset({"view", "change"}),
}

# Actions each role may take, by "app_label.model" or "app_label.*" (the model rule wins).
# Owners and admins run the account; managers run the work (not its setup: inboxes, teams,
# SLA policies, members); agents work conversations and contacts.
# Only owners erase a contact (it cannot be undone: conversations/services/erasure.py) and set
# the account's retention periods (their own account's row, in the desk).
ROLE_ACTIONS: dict[str, dict[str, frozenset[str]]] = {
    Role.OWNER: {
        **{f"{app}.*": ALL for app in TENANT_DATA_APPS},
        **ACCOUNT_PEOPLE,
        "conversations.contact": ALL | {"erase"},
        "accounts.account": frozenset({"view", "change"}),
    },
    Role.ADMIN: {**{f"{app}.*": ALL for app in TENANT_DATA_APPS}, **ACCOUNT_PEOPLE},
    Role.MANAGER: {
        **{f"{app}.*": EDIT for app in TENANT_DATA_APPS},
        "analytics.*": VIEW,
        "conversations.inbox": VIEW,
        "conversations.team": VIEW,
        "conversations.teammember": VIEW,
        "conversations.slapolicy": VIEW,
        "conversations.slatarget": VIEW,
        "conversations.conversationevent": VIEW,
        "accounts.membership": VIEW,
        "ai.aisettings": frozenset(),  # provider, API key and budget are the account's setup
        "ai.routingrule": VIEW,  # where conversations go is the account's setup
        "ai.category": VIEW,  # the category list is setup, like teams
    },
    Role.AGENT: {
        "conversations.conversation": frozenset({"view", "change"}),
        "conversations.contact": EDIT,
        "conversations.message": frozenset({"view", "add"}),
        "conversations.cannedresponse": VIEW,
        "conversations.label": VIEW,
        "conversations.csatresponse": VIEW,
        "conversations.conversationevent": VIEW,
        # What the AI decided about their conversations and who corrected it (scoped to their
        # teams by the admins' conversation_path); the categories they file under.
        "ai.category": VIEW,
        "ai.classification": VIEW,
        "ai.correction": VIEW,
        "ai.draft": VIEW,  # the AI's drafts of their teams' conversations (history; the page acts on them)
        "analytics.*": VIEW,
        "kb.*": VIEW,  # agents read the knowledge base (answers, links); managers and up write it
    },
}


def role_allows(role: str | None, app_label: str, model: str, action: str) -> bool:
    rules = ROLE_ACTIONS.get(role, {})
    allowed = rules.get(f"{app_label}.{model}", rules.get(f"{app_label}.*", frozenset()))
    return action in allowed


def current_account():
    """The tenant whose schema the connection is using (set per request and per task)."""
    return getattr(connection, "tenant", None)


def _is_public(account) -> bool:
    return account is None or account.schema_name == get_public_schema_name()


def membership_of(user, *, account) -> Membership | None:
    """The user's membership of the account, or None; read once per request and remembered on
    the user object (request.user is loaded afresh for each request), so the role checks and
    the desk header's availability menu share one query."""
    if not getattr(user, "is_authenticated", False) or _is_public(account) or account.pk is None:
        return None
    # On the User itself, not on request.user's lazy wrapper: User.has_perm passes `self`.
    memberships = getattr(user, "_wrapped", user).__dict__.setdefault("_memberships_by_account", {})
    if account.pk not in memberships:
        # One row at most (unique per user and account): order_by() drops Meta.ordering's joins.
        memberships[account.pk] = Membership.objects.filter(user_id=user.pk, account_id=account.pk).order_by().first()
    return memberships[account.pk]


def membership_role(user, *, account) -> str | None:
    """The user's role in the account, or None."""
    membership = membership_of(user, account=account)
    return membership.role if membership is not None else None


# Who may see an inbox's HMAC secret (once), the account's API tokens and pending invitations.
RUNS_THE_ACCOUNT = frozenset({Role.OWNER, Role.ADMIN})

OWNER_ROLE_MESSAGE = "only an owner may give or take away the owner role"


def roles_assignable(user, *, account) -> frozenset[str]:
    """The roles `user` may give (an invitation's, a member's new one) or take away (a
    member's old one, a removal). Only an owner makes or unmakes owners: what owners alone may
    do (erase a contact, set retention) would otherwise be any admin's, by promoting a second
    login of theirs or removing the owners."""
    role = membership_role(user, account=account)
    if role == Role.OWNER:
        return frozenset(Role.values)
    if role == Role.ADMIN:
        return frozenset(Role.values) - {Role.OWNER}
    return frozenset()


def user_runs_account(user, *, account) -> bool:
    return membership_role(user, account=account) in RUNS_THE_ACCOUNT


def user_can_use_admin(user, *, account) -> bool:
    if not getattr(user, "is_active", False):
        return False
    if _is_public(account):
        return bool(user.is_superuser)
    return membership_role(user, account=account) is not None


def user_has_perm(user, perm: str, *, account) -> bool:
    if not user_can_use_admin(user, account=account):
        return False
    if _is_public(account):
        return True  # operators manage every platform record
    app_label, _, codename = perm.partition(".")
    action, _, model = codename.partition("_")
    return role_allows(membership_role(user, account=account), app_label, model, action)


def user_has_module_perms(user, app_label: str, *, account) -> bool:
    if not user_can_use_admin(user, account=account):
        return False
    if _is_public(account):
        return True
    rules = ROLE_ACTIONS.get(membership_role(user, account=account), {})
    return any(key.split(".")[0] == app_label and actions for key, actions in rules.items())
