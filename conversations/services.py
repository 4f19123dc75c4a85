"""Every write on the desk: open a conversation, add messages, assign, change status and
priority, label, apply SLA, record CSAT. The admin, the API and the tasks call these.

Timestamps kept here, and nowhere else:
- `waiting_since`: set when the customer writes and nobody was waiting; cleared by a reply
  (agent or AI) and by resolving; a reopen starts a new wait.
- `first_response_at`: the first outgoing reply by an agent or the AI. Notes and activity do
  not count, and a reopen does not reset it.
- `last_activity_at`: any message or status change.

`at` arguments let imports and the demo seed record past events; live callers omit them.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import Membership
from accounts.selectors import memberships_by_user_id
from config.errors import ApplicationError
from conversations import events
from conversations.business_hours import BusinessHours
from conversations.events import Actor
from conversations.models import (
    Contact,
    Conversation,
    CSATResponse,
    Inbox,
    Message,
    Priority,
    SLATarget,
    Team,
    TeamMember,
    WidgetSession,
    new_hmac_secret,
    new_widget_token,
)

Status = Conversation.Status
# Conversations that count against an agent's max concurrent load.
ACTIVE_STATUSES = (Status.OPEN, Status.PENDING)


def _now(at: datetime | None) -> datetime:
    return at or timezone.now()


def _current_account():
    return connection.tenant


def _next_conversation_number() -> int:
    # A sequence per tenant schema (migration 0002): numbers never repeat, even under concurrency.
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('conversations_conversation_number_seq')")
        return cursor.fetchone()[0]


# ----------------------------------------------------------------------------- conversations


@transaction.atomic
def conversation_open(
    *,
    inbox: Inbox,
    contact: Contact,
    content: str,
    subject: str = "",
    priority: int = Priority.NONE,
    attachments: list | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> Conversation:
    """A customer starts a conversation with their first message."""
    if contact.blocked:
        raise ApplicationError("this contact is blocked", code="contact_blocked")
    content = (content or "").strip()
    if not content and not attachments:
        raise ApplicationError("a message needs content", code="empty_message", fields={"content": ["required"]})
    moment = _now(at)
    conversation = Conversation.objects.create(
        number=_next_conversation_number(),
        inbox=inbox,
        contact=contact,
        subject=(subject or content.splitlines()[0] if content else subject)[:300],
        status=Status.OPEN,
        priority=priority,
        team=inbox.default_team,
        waiting_since=moment,
        last_activity_at=moment,
        created_at=moment,
        idempotency_key=idempotency_key,
    )
    events.conversation_opened(conversation, Actor.contact(contact), at=moment)
    Message.objects.create(
        conversation=conversation, direction=Message.Direction.INCOMING, sender_type=Message.SenderType.CONTACT,
        sender_id=contact.pk, content=content, attachments=attachments or [], idempotency_key=idempotency_key, created_at=moment,
    )
    sla_apply(conversation=conversation, policy=inbox.sla_policy)
    if inbox.auto_assign and conversation_auto_assign(conversation=conversation, at=moment) is not None:
        conversation.refresh_from_db()
    return conversation


def conversation_open_once(*, inbox: Inbox, contact: Contact, idempotency_key: str | None, **fields) -> tuple[Conversation, bool]:
    """conversation_open that a retried request cannot repeat: the same contact and
    Idempotency-Key return the first conversation, also when two retries race (the unique
    (contact, idempotency_key) constraint decides). Returns (conversation, created)."""
    if idempotency_key:
        existing = Conversation.objects.filter(contact=contact, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
    try:
        return conversation_open(inbox=inbox, contact=contact, idempotency_key=idempotency_key, **fields), True
    except IntegrityError:
        winner = Conversation.objects.filter(contact=contact, idempotency_key=idempotency_key).first() if idempotency_key else None
        if winner is None:
            raise
        return winner, False


def message_add_incoming(
    *,
    conversation: Conversation,
    content: str,
    attachments: list | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> tuple[Message, bool]:
    """The customer writes. Returns (message, created); a repeated idempotency key returns the
    first message and writes nothing, also when two retries race."""
    content = (content or "").strip()
    if not content and not attachments:
        raise ApplicationError("a message needs content", code="empty_message", fields={"content": ["required"]})
    if idempotency_key:
        existing = Message.objects.filter(conversation=conversation, idempotency_key=idempotency_key).first()
        if existing:
            return existing, False
    try:
        with transaction.atomic():
            message = _message_add_incoming(conversation, content, attachments or [], idempotency_key, _now(at))
    except IntegrityError:
        if not idempotency_key:
            raise
        # The concurrent retry won the unique (conversation, idempotency_key) race.
        return Message.objects.get(conversation=conversation, idempotency_key=idempotency_key), False
    return message, True


def _message_add_incoming(conversation, content, attachments, idempotency_key, moment) -> Message:
    conversation = Conversation.objects.select_for_update(of=("self",)).select_related("contact").get(pk=conversation.pk)
    if conversation.contact.blocked:
        raise ApplicationError("this contact is blocked", code="contact_blocked")
    message = Message.objects.create(
        conversation=conversation, direction=Message.Direction.INCOMING, sender_type=Message.SenderType.CONTACT,
        sender_id=conversation.contact_id, content=content, attachments=attachments, idempotency_key=idempotency_key,
        created_at=moment,
    )
    conversation.last_activity_at = moment
    if conversation.status != Status.OPEN:
        # A customer who writes again needs an answer: resolved, pending and snoozed reopen.
        _status_apply(conversation, Status.OPEN, Actor.contact(conversation.contact), moment)
    if conversation.waiting_since is None:
        conversation.waiting_since = moment
    conversation.save()  # the row is locked above; a full save cannot lose a concurrent change
    return message


@transaction.atomic
def message_add_reply(
    *, conversation: Conversation, content: str, author=None, by_ai: bool = False, attachments: list | None = None,
    at: datetime | None = None,
) -> Message:
    """An agent (`author`) or the AI (`by_ai=True`) answers the customer."""
    content = (content or "").strip()
    if not content and not attachments:
        raise ApplicationError("a reply needs content", code="empty_message", fields={"content": ["required"]})
    if author is None and not by_ai:
        raise ApplicationError("a reply needs an author", code="no_author")
    moment = _now(at)
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    message = Message.objects.create(
        conversation=conversation, direction=Message.Direction.OUTGOING, kind=Message.Kind.TEXT,
        sender_type=Message.SenderType.AI if by_ai else Message.SenderType.AGENT,
        sender_id=None if by_ai else author.pk, content=content, attachments=attachments or [], created_at=moment,
    )
    conversation.last_activity_at = moment
    conversation.waiting_since = None
    fields = ["last_activity_at", "waiting_since"]
    if conversation.first_response_at is None:
        conversation.first_response_at = moment
        fields.append("first_response_at")
        if conversation.first_response_due_at and moment > conversation.first_response_due_at and not conversation.first_response_breached:
            conversation.first_response_breached = True
            fields.append("first_response_breached")
            events.sla_breached(conversation, target="first_response", due_at=conversation.first_response_due_at, at=moment)
    if conversation.assignee_id is None and author is not None:
        # Whoever answers an unassigned conversation takes it, as agents expect.
        _assignee_apply(conversation, author, Actor.agent(author), moment)
        fields.append("assignee")
    conversation.save(update_fields=fields)
    return message


@transaction.atomic
def message_add_note(*, conversation: Conversation, content: str, author, at: datetime | None = None) -> Message:
    """A private note between agents: never shown to the customer, never a response."""
    content = (content or "").strip()
    if not content:
        raise ApplicationError("a note needs content", code="empty_message", fields={"content": ["required"]})
    moment = _now(at)
    message = Message.objects.create(
        conversation=conversation, direction=Message.Direction.OUTGOING, kind=Message.Kind.NOTE,
        sender_type=Message.SenderType.AGENT, sender_id=author.pk, content=content, created_at=moment,
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=moment)
    return message


def _activity(conversation: Conversation, text: str, moment: datetime) -> None:
    Message.objects.create(
        conversation=conversation, direction=Message.Direction.OUTGOING, kind=Message.Kind.ACTIVITY,
        sender_type=Message.SenderType.SYSTEM, content=text, created_at=moment,
    )


# ----------------------------------------------------------------------------- status


def _status_apply(conversation: Conversation, status: str, actor: Actor, moment: datetime, snoozed_until=None) -> None:
    old = conversation.status
    if status == Status.RESOLVED:
        conversation.resolved_at = moment
        conversation.resolved_by = Conversation.ResolvedBy.AI if actor.type == Actor.ai().type else Conversation.ResolvedBy.AGENT
        conversation.waiting_since = None
        if conversation.resolution_due_at and moment > conversation.resolution_due_at and not conversation.resolution_breached:
            conversation.resolution_breached = True
            events.sla_breached(conversation, target="resolution", due_at=conversation.resolution_due_at, at=moment)
    elif old == Status.RESOLVED:
        # Reopened: a new wait and a new resolution clock; the first response stays the first.
        conversation.resolved_at = None
        conversation.resolved_by = ""
        conversation.waiting_since = moment
        _resolution_due_apply(conversation, start=moment)
    conversation.snoozed_until = snoozed_until if status == Status.SNOOZED else None
    conversation.status = status
    conversation.last_activity_at = moment
    events.status_changed(conversation, actor, old=old, new=status, at=moment)
    _activity(conversation, f"{actor.name or actor.type} changed the status from {old} to {status}", moment)


@transaction.atomic
def conversation_status_set(
    *, conversation: Conversation, status: str, by: Actor, snoozed_until: datetime | None = None, at: datetime | None = None
) -> Conversation:
    if status not in Status.values:
        raise ApplicationError(f"status {status!r} is not one of {', '.join(Status.values)}", code="invalid_status", fields={"status": ["invalid"]})
    moment = _now(at)
    if status == Status.SNOOZED and (snoozed_until is None or snoozed_until <= moment):
        raise ApplicationError("snoozing needs a time in the future", code="invalid_snooze", fields={"snoozed_until": ["must be in the future"]})
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if conversation.status == status and status != Status.SNOOZED:
        return conversation
    _status_apply(conversation, status, by, moment, snoozed_until)
    conversation.save()
    return conversation


def conversations_wake_snoozed(*, at: datetime | None = None) -> int:
    """Reopen every snoozed conversation whose time has come (beat runs this per tenant)."""
    moment = _now(at)
    woken = 0
    due = Conversation.objects.filter(status=Status.SNOOZED, snoozed_until__lte=moment).order_by("pk").values_list("pk", flat=True)
    for pk in list(due):
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update(skip_locked=True).filter(pk=pk, status=Status.SNOOZED).first()
            if conversation is None:
                continue
            _status_apply(conversation, Status.OPEN, Actor.system(), moment)
            if conversation.waiting_since is None:
                conversation.waiting_since = moment
            conversation.save()
            woken += 1
    return woken


@transaction.atomic
def conversation_priority_set(*, conversation: Conversation, priority: int, by: Actor, at: datetime | None = None) -> Conversation:
    if priority not in Priority.values:
        raise ApplicationError(f"priority {priority!r} is not one of {Priority.values}", code="invalid_priority", fields={"priority": ["invalid"]})
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if conversation.priority == priority:
        return conversation
    moment = _now(at)
    events.priority_changed(conversation, by, old=conversation.priority, new=priority, at=moment)
    conversation.priority = priority
    conversation.save(update_fields=["priority"])
    sla_apply(conversation=conversation, policy=conversation.sla_policy)
    return conversation


@transaction.atomic
def conversation_labels_add(*, conversation: Conversation, labels, by: Actor, at: datetime | None = None) -> None:
    present = set(conversation.labels.values_list("pk", flat=True))
    for label in labels:
        if label.pk not in present:
            conversation.labels.add(label)
            events.label_added(conversation, by, label=label, at=at)


@transaction.atomic
def conversation_labels_remove(*, conversation: Conversation, labels, by: Actor, at: datetime | None = None) -> None:
    present = set(conversation.labels.values_list("pk", flat=True))
    for label in labels:
        if label.pk in present:
            conversation.labels.remove(label)
            events.label_removed(conversation, by, label=label, at=at)


# ----------------------------------------------------------------------------- assignment


def _assignee_apply(conversation: Conversation, assignee, actor: Actor, moment: datetime) -> None:
    old = conversation.assignee.get_full_name() if conversation.assignee_id else ""
    conversation.assignee = assignee
    events.assignee_changed(conversation, actor, old=old, new=assignee.get_full_name() if assignee else "", at=moment)


@transaction.atomic
def conversation_assign(*, conversation: Conversation, assignee, by: Actor, at: datetime | None = None) -> Conversation:
    """Give the conversation to an agent of this account (or to nobody with assignee=None)."""
    if assignee is not None and not Membership.objects.filter(account=_current_account(), user=assignee).exists():
        raise ApplicationError("the assignee is not a member of this account", code="not_a_member", fields={"assignee": ["not a member"]})
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if conversation.assignee_id == (assignee.pk if assignee else None):
        return conversation
    _assignee_apply(conversation, assignee, by, _now(at))
    conversation.save(update_fields=["assignee"])
    return conversation


@transaction.atomic
def conversation_team_set(*, conversation: Conversation, team: Team | None, by: Actor, at: datetime | None = None) -> Conversation:
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if conversation.team_id == (team.pk if team else None):
        return conversation
    events.team_changed(conversation, by, old=conversation.team.name if conversation.team_id else "", new=team.name if team else "", at=_now(at))
    conversation.team = team
    conversation.save(update_fields=["team"])
    return conversation


def agent_loads(*, user_ids) -> dict[int, int]:
    """Open + pending conversations per agent."""
    rows = (
        Conversation.objects.filter(assignee_id__in=list(user_ids), status__in=ACTIVE_STATUSES)
        .values("assignee_id").annotate(load=Count("id"))
    )
    loads = {user_id: 0 for user_id in user_ids}
    loads.update({row["assignee_id"]: row["load"] for row in rows})
    return loads


@transaction.atomic
def conversation_auto_assign(*, conversation: Conversation, at: datetime | None = None):
    """Pick an agent from the conversation's team by its strategy. Only online agents below
    their max concurrent conversations qualify (busy and offline ones are skipped). Returns the
    agent, or None when the team has no auto-assignment or nobody qualifies."""
    if conversation.assignee_id is not None or conversation.team_id is None:
        return None
    # Lock the team: two conversations arriving together must not both take the same rota turn.
    team = Team.objects.select_for_update().get(pk=conversation.team_id)
    if not team.auto_assign:
        return None
    member_ids = sorted(TeamMember.objects.filter(team=team).values_list("user_id", flat=True))
    memberships = memberships_by_user_id(account=_current_account(), user_ids=member_ids)
    loads = agent_loads(user_ids=member_ids)
    candidates = [
        user_id for user_id in member_ids
        if user_id in memberships
        and memberships[user_id].availability == Membership.Availability.ONLINE
        and memberships[user_id].user.is_active
        and loads[user_id] < memberships[user_id].max_concurrent_conversations
    ]
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
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    _assignee_apply(conversation, chosen, Actor.system(), _now(at))
    conversation.save(update_fields=["assignee"])
    return chosen


def conversation_classification_set(*, conversation: Conversation, category: str, confidence: float) -> Conversation:
    """Keep the AI's latest classification on the row, where the queue filters on it."""
    Conversation.objects.filter(pk=conversation.pk).update(ai_category=category[:50], ai_confidence=confidence)
    conversation.ai_category, conversation.ai_confidence = category[:50], confidence
    return conversation


# ----------------------------------------------------------------------------- SLA


def _target(policy, priority) -> SLATarget | None:
    if policy is None:
        return None
    return SLATarget.objects.filter(policy=policy, priority=priority).first()


def _due(conversation: Conversation, start: datetime, minutes: int) -> datetime:
    policy = conversation.sla_policy
    if policy is not None and policy.business_hours_only:
        return BusinessHours.of_inbox(conversation.inbox).add_minutes(start, minutes)
    return BusinessHours(schedule={}, tz=timezone.get_current_timezone()).add_minutes(start, minutes)


def _resolution_due_apply(conversation: Conversation, *, start: datetime) -> None:
    target = _target(conversation.sla_policy, conversation.priority)
    conversation.resolution_due_at = _due(conversation, start, target.resolution_minutes) if target else None
    conversation.resolution_breached = False


def sla_apply(*, conversation: Conversation, policy) -> Conversation:
    """Set the due times from the policy's target for the conversation's priority; a
    conversation whose priority has no target has no due times."""
    conversation.sla_policy = policy
    target = _target(policy, conversation.priority)
    if target is None:
        conversation.first_response_due_at = None
        conversation.resolution_due_at = None
    else:
        if conversation.first_response_at is None:
            conversation.first_response_due_at = _due(conversation, conversation.created_at, target.first_response_minutes)
        conversation.resolution_due_at = _due(conversation, conversation.created_at, target.resolution_minutes)
    conversation.save(update_fields=["sla_policy", "first_response_due_at", "resolution_due_at"])
    return conversation


def sla_breaches_mark(*, at: datetime | None = None) -> int:
    """Flag conversations whose due time passed unmet (beat runs this per tenant)."""
    moment = _now(at)
    marked = 0
    first_response_late = Conversation.objects.filter(
        first_response_at__isnull=True, first_response_due_at__lt=moment, first_response_breached=False
    ).exclude(status=Status.RESOLVED)
    resolution_late = Conversation.objects.filter(
        resolution_due_at__lt=moment, resolution_breached=False
    ).exclude(status=Status.RESOLVED)
    for target, queryset, flag, due_field in [
        ("first_response", first_response_late, "first_response_breached", "first_response_due_at"),
        ("resolution", resolution_late, "resolution_breached", "resolution_due_at"),
    ]:
        for conversation in queryset.order_by("pk"):
            with transaction.atomic():
                updated = Conversation.objects.filter(pk=conversation.pk, **{flag: False}).update(**{flag: True})
                if updated:
                    events.sla_breached(conversation, target=target, due_at=getattr(conversation, due_field), at=moment)
                    marked += 1
    return marked


# ----------------------------------------------------------------------------- CSAT


@transaction.atomic
def csat_record(*, conversation: Conversation, rating: int, comment: str = "", at: datetime | None = None) -> CSATResponse:
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ApplicationError("rating must be a whole number from 1 to 5", code="invalid_rating", fields={"rating": ["1-5"]})
    if CSATResponse.objects.filter(conversation=conversation).exists():
        raise ApplicationError("this conversation has already been rated", code="already_rated")
    moment = _now(at)
    try:
        with transaction.atomic():
            response = CSATResponse.objects.create(conversation=conversation, rating=rating, comment=(comment or "").strip(), created_at=moment)
    except IntegrityError as error:
        raise ApplicationError("this conversation has already been rated", code="already_rated") from error
    events.csat_recorded(conversation, Actor.contact(conversation.contact), rating=rating, at=moment)
    return response


# ----------------------------------------------------------------------------- contacts


def contact_create(*, name: str = "", email: str = "", phone: str = "", external_id: str | None = None, custom_attributes: dict | None = None) -> Contact:
    if external_id and Contact.objects.filter(external_id=external_id).exists():
        raise ApplicationError(f"a contact with external id {external_id!r} exists", code="duplicate_external_id", fields={"external_id": ["taken"]})
    return Contact.objects.create(
        name=name.strip(), email=email.strip().lower(), phone=phone.strip(), external_id=external_id or None,
        custom_attributes=custom_attributes or {},
    )


_UNSET = object()


def contact_update(
    *, contact: Contact, name: str | None = None, email: str | None = None, phone: str | None = None,
    external_id=_UNSET, custom_attributes: dict | None = None, blocked: bool | None = None,
) -> Contact:
    """Change a contact; fields left as None stay. Custom attributes merge (a key set to null
    is removed). `external_id=None` clears it."""
    fields = []
    if name is not None:
        contact.name, fields = name.strip(), fields + ["name"]
    if email is not None:
        contact.email, fields = email.strip().lower(), fields + ["email"]
    if phone is not None:
        contact.phone, fields = phone.strip(), fields + ["phone"]
    if external_id is not _UNSET:
        external_id = external_id or None
        if external_id and Contact.objects.exclude(pk=contact.pk).filter(external_id=external_id).exists():
            raise ApplicationError(f"a contact with external id {external_id!r} exists", code="duplicate_external_id", fields={"external_id": ["taken"]})
        contact.external_id, fields = external_id, fields + ["external_id"]
    if custom_attributes is not None:
        merged = {**contact.custom_attributes, **custom_attributes}
        contact.custom_attributes = {key: value for key, value in merged.items() if value is not None}
        fields.append("custom_attributes")
    if blocked is not None:
        contact.blocked, fields = blocked, fields + ["blocked"]
    if fields:
        contact.save(update_fields=fields)
    return contact


# ----------------------------------------------------------------------------- inboxes


def inbox_widget_token_rotate(*, inbox: Inbox) -> Inbox:
    """A new widget token; sites embedding the old one stop reaching this inbox."""
    inbox.widget_token = new_widget_token()
    inbox.save(update_fields=["widget_token"])
    return inbox


@transaction.atomic
def inbox_hmac_secret_rotate(*, inbox: Inbox) -> Inbox:
    """A new HMAC secret for signing customer identifiers. Sessions bound to a customer
    through the old secret end now: whoever held a leaked secret could have signed any
    identity, so those bindings are no longer proof of who the customer is."""
    inbox = Inbox.objects.select_for_update().get(pk=inbox.pk)
    inbox.hmac_secret = new_hmac_secret()
    inbox.save(update_fields=["hmac_secret"])
    WidgetSession.objects.filter(inbox=inbox, identified=True, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return inbox
