"""Who may use which admin and do what in it: the one place for these rules.

- The public schema (platform) admin is for platform operators (`User.is_superuser`).
- A tenant's admin is for users with a Membership in that tenant, whatever else they are:
  a platform operator without a membership is refused like anyone else.
- Inside a tenant, the Membership role decides the actions per app (ROLE_ACTIONS).
"""

from __future__ import annotations

from django.db import connection
from django_tenants.utils import get_public_schema_name

from accounts.models import Membership

Role = Membership.Role
ALL_ACTIONS = frozenset({"view", "add", "change", "delete"})
TENANT_DATA_APPS = frozenset({"conversations", "ai", "kb", "analytics"})

# Actions each role may take on the models of each tenant app. Later issues narrow this per
# model (e.g. only admins manage inboxes); keep those rules here.
ROLE_ACTIONS: dict[str, dict[str, frozenset[str]]] = {
    Role.OWNER: {app: ALL_ACTIONS for app in TENANT_DATA_APPS},
    Role.ADMIN: {app: ALL_ACTIONS for app in TENANT_DATA_APPS},
    Role.MANAGER: {app: frozenset({"view", "add", "change"}) for app in TENANT_DATA_APPS},
    Role.AGENT: {app: frozenset({"view"}) for app in TENANT_DATA_APPS},
}


def current_account():
    """The tenant whose schema the connection is using (set per request and per task)."""
    return getattr(connection, "tenant", None)


def _is_public(account) -> bool:
    return account is None or account.schema_name == get_public_schema_name()


def membership_role(user, *, account) -> str | None:
    """The user's role in the account, or None; remembered on the user object per request."""
    if not getattr(user, "is_authenticated", False) or _is_public(account) or account.pk is None:
        return None
    roles = user.__dict__.setdefault("_roles_by_account", {})
    if account.pk not in roles:
        roles[account.pk] = (
            Membership.objects.filter(user_id=user.pk, account_id=account.pk).values_list("role", flat=True).first()
        )
    return roles[account.pk]


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
    action = codename.split("_", 1)[0]
    role = membership_role(user, account=account)
    return action in ROLE_ACTIONS.get(role, {}).get(app_label, frozenset())


def user_has_module_perms(user, app_label: str, *, account) -> bool:
    if not user_can_use_admin(user, account=account):
        return False
    if _is_public(account):
        return True
    role = membership_role(user, account=account)
    return bool(ROLE_ACTIONS.get(role, {}).get(app_label))
