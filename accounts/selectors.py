"""Reads on platform records."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Membership, User


def account_members(*, account) -> QuerySet[User]:
    return User.objects.filter(memberships__account=account, is_active=True).order_by("full_name", "email")


def membership_list(*, account) -> QuerySet[Membership]:
    return Membership.objects.filter(account=account).select_related("user").order_by("user__email")


def memberships_by_user_id(*, account, user_ids) -> dict[int, Membership]:
    return {m.user_id: m for m in Membership.objects.filter(account=account, user_id__in=list(user_ids))}
