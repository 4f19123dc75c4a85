"""Which conversations a member may see and act on.

Owners, admins and managers: all of them. Agents: the conversations assigned to them and those
of the teams they belong to. Everyone else (no membership): none.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.access import membership_role
from accounts.models import Membership
from conversations.models import Conversation, TeamMember

SEES_ALL = {Membership.Role.OWNER, Membership.Role.ADMIN, Membership.Role.MANAGER}


def conversation_scope(user, *, account) -> Q | None:
    """A filter selecting the user's conversations; None means all of them."""
    role = membership_role(user, account=account)
    if role in SEES_ALL:
        return None
    if role == Membership.Role.AGENT:
        return Q(assignee_id=user.pk) | Q(team_id__in=TeamMember.objects.filter(user_id=user.pk).values("team_id"))
    return Q(pk__in=[])


def conversations_visible_to(user, *, account, queryset: QuerySet | None = None) -> QuerySet:
    queryset = Conversation.objects.all() if queryset is None else queryset
    scope = conversation_scope(user, account=account)
    return queryset if scope is None else queryset.filter(scope)


def can_act_on_conversation(user, *, account, conversation: Conversation) -> bool:
    return conversations_visible_to(user, account=account).filter(pk=conversation.pk).exists()
