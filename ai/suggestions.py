"""Who should take a classified message: a suggested team and a suggested agent, shown to
agents on the conversation page (the routing rules act; these only advise).

- Team: the matching routing rule's team; else the team that resolved the most conversations
  of that category in the last `LOOKBACK`; else the provider's own suggestion (an LLM's,
  already checked against the tenant's teams by ai.calls).
- Agent: among the suggested team's members who are available now (online in this account,
  active, below their max concurrent conversations: the same test auto-assignment uses), the
  one who resolved the most conversations of that category in the last `LOOKBACK`; else the
  provider's suggestion if that agent is one of them. Otherwise nobody: a suggestion needs
  evidence.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from accounts.models import Membership
from ai.models import Classification, RoutingRule
from conversations.models import Conversation, ConversationEvent, Team, TeamMember
from conversations.services import agent_loads

LOOKBACK = timedelta(days=30)


def _resolutions(category: str, since):
    """Resolutions by an agent of conversations in the category, since `since`."""
    return ConversationEvent.objects.filter(
        action="status_changed", new_value=Conversation.Status.RESOLVED, actor_type=ConversationEvent.ActorType.AGENT,
        created_at__gte=since, conversation__ai_category=category,
    )


def team_suggest(*, category: str, rule: RoutingRule | None, provider_team_id: int | None = None) -> Team | None:
    if rule is not None and rule.team_id is not None:
        return rule.team
    since = timezone.now() - LOOKBACK
    if category:
        best = (
            Conversation.objects.filter(status=Conversation.Status.RESOLVED, resolved_at__gte=since, ai_category=category, team__isnull=False)
            .values("team_id").annotate(resolved=Count("id")).order_by("-resolved", "team_id").first()
        )
        if best:
            return Team.objects.get(pk=best["team_id"])
    if provider_team_id is not None:
        return Team.objects.filter(pk=provider_team_id).first()
    return None


def agent_suggest(*, category: str, team: Team | None, provider_agent_id: int | None = None):
    if team is None:
        return None
    members = Membership.objects.filter(
        account=connection.tenant, user_id__in=TeamMember.objects.filter(team=team).values("user_id"),
        availability=Membership.Availability.ONLINE, user__is_active=True,
    ).select_related("user")
    members = {membership.user_id: membership for membership in members}
    if not members:
        return None
    loads = agent_loads(user_ids=members)
    available = [user_id for user_id, membership in members.items() if loads[user_id] < membership.max_concurrent_conversations]
    best = (
        _resolutions(category, timezone.now() - LOOKBACK).filter(actor_id__in=available)
        .values("actor_id").annotate(resolved=Count("id")).order_by("-resolved", "actor_id").first()
    ) if category else None
    if best:
        return members[best["actor_id"]].user
    return members[provider_agent_id].user if provider_agent_id in available else None


def classification_suggest(
    *, classification: Classification, rule: RoutingRule | None, provider_team_id: int | None = None,
    provider_agent_id: int | None = None,
) -> None:
    """Fill the (unsaved) classification's suggested team and agent."""
    category = "" if classification.is_out_of_scope else classification.category
    classification.suggested_team = team_suggest(category=category, rule=rule, provider_team_id=provider_team_id)
    classification.suggested_agent = agent_suggest(
        category=category, team=classification.suggested_team, provider_agent_id=provider_agent_id,
    )
