"""Who works on a conversation: its team and its assignee, set together in one transaction
from every door (the conversation page, bulk actions, the agents' API, auto-assignment)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from django.db import transaction
from django.db.models import Count

from accounts.models import Membership
from config.errors import ApplicationError
from conversations import events, followups
from conversations.events import Actor
from conversations.models import Conversation, Team, TeamMember
from conversations.services._common import ACTIVE_STATUSES, current_account, locked, now


class Unchanged:
    """The default of a keyword the caller left out of `conversation_assignment_set`: that
    part of the assignment stays as it is. (None is a value: no team, nobody.)"""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = Unchanged()


def assignee_apply(conversation: Conversation, assignee, actor: Actor, moment: datetime) -> None:
    """Change the assignee of a row the caller holds locked (the caller saves it)."""
    old = conversation.assignee.get_full_name() if conversation.assignee_id else ""
    conversation.assignee = assignee
    events.assignee_changed(conversation, actor, old=old, new=assignee.get_full_name() if assignee else "", at=moment)
    followups.conversation_changed(conversation, at=moment)


def _team_apply(conversation: Conversation, team: Team | None, actor: Actor, moment: datetime) -> None:
    old = conversation.team.name if conversation.team_id else ""
    conversation.team = team
    events.team_changed(conversation, actor, old=old, new=team.name if team else "", at=moment)
    followups.conversation_changed(conversation, at=moment)


@transaction.atomic
def conversation_assignment_set(
    *, conversation: Conversation, by: Actor, team: Team | None | Unchanged = UNCHANGED, assignee=UNCHANGED,
    at: datetime | None = None,
) -> Conversation:
    """Set the team, the assignee, or both, with one event per part that changed. Leave a
    keyword out to keep that part as it is; None clears it. The assignee must be a member of
    this account."""
    if assignee is not UNCHANGED and assignee is not None and not Membership.objects.filter(account=current_account(), user=assignee).exists():
        raise ApplicationError("the assignee is not a member of this account", code="not_a_member", fields={"assignee": ["not a member"]})
    conversation = locked(conversation)
    moment = now(at)
    fields = []
    if team is not UNCHANGED and conversation.team_id != (team.pk if team else None):
        _team_apply(conversation, team, by, moment)
        fields.append("team")
    if assignee is not UNCHANGED and conversation.assignee_id != (assignee.pk if assignee else None):
        assignee_apply(conversation, assignee, by, moment)
        fields.append("assignee")
    if fields:
        conversation.save(update_fields=fields)
    return conversation


def conversation_assign(*, conversation: Conversation, assignee, by: Actor, at: datetime | None = None) -> Conversation:
    """Give the conversation to an agent of this account (or to nobody with assignee=None)."""
    return conversation_assignment_set(conversation=conversation, assignee=assignee, by=by, at=at)


def conversation_team_set(*, conversation: Conversation, team: Team | None, by: Actor, at: datetime | None = None) -> Conversation:
    return conversation_assignment_set(conversation=conversation, team=team, by=by, at=at)


def agent_loads(*, user_ids) -> dict[int, int]:
    """Open + pending conversations per agent."""
    rows = (
        Conversation.objects.filter(assignee_id__in=list(user_ids), status__in=ACTIVE_STATUSES)
        .values("assignee_id").annotate(load=Count("id"))
    )
    loads = {user_id: 0 for user_id in user_ids}
    loads.update({row["assignee_id"]: row["load"] for row in rows})
    return loads


def _available_memberships(team: Team) -> dict[int, Membership]:
    """The team's members who are online and active here, users joined in (one query, whatever
    the team's size)."""
    member_ids = TeamMember.objects.filter(team=team).values("user_id")
    rows = Membership.objects.filter(
        account=current_account(), user_id__in=member_ids, availability=Membership.Availability.ONLINE, user__is_active=True,
    ).select_related("user")
    return {membership.user_id: membership for membership in rows}


@transaction.atomic
def conversation_auto_assign(*, conversation: Conversation, by: Actor | None = None, at: datetime | None = None):
    """Pick an agent from the conversation's team by its strategy. Only online agents below
    their max concurrent conversations qualify (busy and offline ones are skipped). Returns the
    agent, or None when the team has no auto-assignment or nobody qualifies. `by`: who asked
    (the AI's routing, with its reason); the system by default."""
    if conversation.assignee_id is not None or conversation.team_id is None:
        return None
    # Lock the team: two conversations arriving together must not both take the same rota turn.
    team = Team.objects.select_for_update().get(pk=conversation.team_id)
    if not team.auto_assign:
        return None
    memberships = _available_memberships(team)
    loads = agent_loads(user_ids=memberships)
    candidates = sorted(
        user_id for user_id, membership in memberships.items() if loads[user_id] < membership.max_concurrent_conversations
    )
    if not candidates:
        return None
    if team.strategy == Team.Strategy.LEAST_LOADED:
        chosen_id = min(candidates, key=lambda user_id: (loads[user_id], user_id))
    else:
        after = team.last_assigned_user_id or 0
        chosen_id = next((user_id for user_id in candidates if user_id > after), candidates[0])
    team.last_assigned_user_id = chosen_id
    team.save(update_fields=["last_assigned_user"])
    chosen = memberships[chosen_id].user
    conversation = locked(conversation)
    assignee_apply(conversation, chosen, by or Actor.system(), now(at))
    conversation.save(update_fields=["assignee"])
    return chosen
