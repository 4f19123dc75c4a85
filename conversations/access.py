"""Which conversations a member may see and act on: the one visibility rule.

Owners, admins and managers: all of them. Agents: the conversations assigned to them and those
of the teams they belong to. Everyone else (no membership): none.

Everything that shows conversation data (the queue, the conversation page's past
conversations, the audit trail, CSAT, contacts, autocomplete, the agents' API) reads through
`conversations_visible_to` or `rows_visible_to`, so there is no side door with its own rule.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.access import membership_role
from accounts.models import Membership
from conversations.models import Contact, Conversation, TeamMember

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


def contacts_visible_to(user, *, account, queryset: QuerySet | None = None) -> QuerySet:
    """A contact is seen through its conversations: by whoever sees one of them. A contact
    with no conversation yet (just created by an agent or an integration) belongs to no team
    and is seen by every member, so an agent can find the contact they are about to help."""
    queryset = Contact.objects.all() if queryset is None else queryset
    scope = conversation_scope(user, account=account)
    if scope is None:
        return queryset
    theirs = Conversation.objects.filter(contact=OuterRef("pk"))
    return queryset.filter(Q(Exists(theirs.filter(scope))) | ~Q(Exists(theirs)))


def rows_visible_to(user, *, account, queryset: QuerySet, conversation_path: str) -> QuerySet:
    """Rows of any model reached from Conversation by `conversation_path` ("" for
    conversations themselves, "conversation" for events, CSAT and messages), kept only where
    that conversation is visible to the user. Contacts follow `contacts_visible_to`."""
    if queryset.model is Contact:
        return contacts_visible_to(user, account=account, queryset=queryset)
    if not conversation_path:
        return conversations_visible_to(user, account=account, queryset=queryset)
    scope = conversation_scope(user, account=account)
    if scope is None:
        return queryset
    return queryset.filter(**{f"{conversation_path}__in": Conversation.objects.filter(scope).values("pk")})


def can_act_on_conversation(user, *, account, conversation: Conversation) -> bool:
    return conversations_visible_to(user, account=account).filter(pk=conversation.pk).exists()
