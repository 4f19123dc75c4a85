"""Reads on platform records."""

from __future__ import annotations

import re

from django.db.models import QuerySet

from accounts.models import Membership, User


def account_members(*, account) -> QuerySet[User]:
    return User.objects.filter(memberships__account=account, is_active=True).order_by("full_name", "email")


def membership_list(*, account) -> QuerySet[Membership]:
    return Membership.objects.filter(account=account).select_related("user").order_by("user__email")


def memberships_by_user_id(*, account, user_ids) -> dict[int, Membership]:
    return {m.user_id: m for m in Membership.objects.filter(account=account, user_id__in=list(user_ids))}


def invitation_by_token(*, account, token: str):
    """The invitation of this account whose link carries `token`, or None (another account's
    token is unknown here, like a made-up one)."""
    from accounts.models import Invitation
    from accounts.services import invitation_token_hash

    if not re.fullmatch(r"[A-Za-z0-9_-]{20,100}", token or ""):
        return None
    return Invitation.objects.select_related("account").filter(account=account, token_hash=invitation_token_hash(token)).first()
