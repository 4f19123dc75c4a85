"""The support desk (tenant schema): teams, inboxes, contacts, conversations, messages, labels,
canned responses, SLA policies, CSAT and the conversation timeline.

Trigram indexes are on UPPER(column) because Django's `icontains` compiles to
`UPPER(col) LIKE UPPER(%s)` on PostgreSQL; an index on the bare column would not serve it.

Rules live in services/ (writes), selectors.py (reads) and access.py (who sees what); these
models hold state, constraints and indexes only.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Case, F, Q, When
from django.db.models.functions import Upper
from django.utils.timezone import now

from accounts.models import validate_timezone
from conversations.business_hours import validate_business_hours


def new_widget_token() -> str:
    return secrets.token_urlsafe(24)


def new_hmac_secret() -> str:
    return secrets.token_hex(32)


class Priority(models.IntegerChoices):
    # Integers, so "ORDER BY priority DESC" puts urgent first.
    NONE = 0, "None"
    LOW = 1, "Low"
    MEDIUM = 2, "Medium"
    HIGH = 3, "High"
    URGENT = 4, "Urgent"


class Team(models.Model):
    class Strategy(models.TextChoices):
        ROUND_ROBIN = "round_robin", "Round robin"
        LEAST_LOADED = "least_loaded", "Least loaded"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    auto_assign = models.BooleanField(default=True, help_text="Assign new conversations of this team to an available member.")
    strategy = models.CharField(max_length=20, choices=Strategy.choices, default=Strategy.ROUND_ROBIN)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="TeamMember", related_name="+")
    # Keys to the public user table are declared db_constraint=False: each database constraint
    # from a tenant schema puts two triggers on accounts_user, and at 1,000 tenants their number
    # made every sign-up slower (docs/performance.md, "Tenants at scale"). The ORM still applies
    # on_delete within a schema; accounts.services.user_delete applies it in every schema.
    # Round robin's place in the rota: the member who got the last conversation.
    last_assigned_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False, editable=False
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamMember(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_constraint=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="conversations_teammember_unique")]
        indexes = [models.Index(fields=["user"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class SLAPolicy(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    business_hours_only = models.BooleanField(
        default=True, help_text="Count only the inbox's business hours towards the targets."
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return self.name


class SLATarget(models.Model):
    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="targets")
    priority = models.PositiveSmallIntegerField(choices=Priority.choices)
    first_response_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    resolution_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])

    class Meta:
        ordering = ["policy", "-priority"]
        constraints = [models.UniqueConstraint(fields=["policy", "priority"], name="conversations_slatarget_unique")]
        verbose_name = "SLA target"

    def __str__(self) -> str:
        return f"{self.policy}: {self.get_priority_display()}"


class Inbox(models.Model):
    class Channel(models.TextChoices):
        WEB_WIDGET = "web_widget", "Web widget"
        EMAIL = "email", "Email"
        API = "api", "API"

    name = models.CharField(max_length=100, unique=True)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.WEB_WIDGET)
    widget_token = models.CharField(max_length=64, unique=True, default=new_widget_token, editable=False)
    hmac_secret = models.CharField(
        max_length=64, default=new_hmac_secret, editable=False,
        help_text="Signs customer identifiers (HMAC-SHA256) so the widget can bind a known customer.",
    )
    allowed_origins = ArrayField(
        models.CharField(max_length=200), default=list, blank=True,
        help_text="Origins allowed to call the widget API, e.g. https://www.example.com",
    )
    greeting = models.TextField(blank=True)
    widget_color = models.CharField(max_length=7, default="#1f6feb", help_text="The widget's accent colour, e.g. #1f6feb")
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    business_hours = models.JSONField(
        default=dict, blank=True, validators=[validate_business_hours],
        help_text='Per weekday, opening intervals: {"mon": [["09:00", "17:00"]], ...}. Empty: always open.',
    )
    default_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="inboxes")
    sla_policy = models.ForeignKey(SLAPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="inboxes")
    auto_assign = models.BooleanField(default=True)
    ai_auto_reply = models.BooleanField(default=False)
    ai_confidence_threshold = models.FloatField(
        default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="The AI answers on its own only at or above this confidence.",
    )
    # AI categories the AI never answers by itself in this inbox (e.g. refunds, legal): it
    # hands those conversations to the team instead (ai/autoreply.py).
    ai_never_auto_categories = ArrayField(
        models.CharField(max_length=50), default=list, db_default=[], blank=True,
        help_text="Categories the AI never answers on its own here, e.g. billing,account",
    )
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "inboxes"

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    external_id = models.CharField(max_length=200, null=True, blank=True, help_text="The customer's id in your own system.")
    custom_attributes = models.JSONField(default=dict, blank=True)
    # The fields the business set ("name", "email", "phone", "custom_attributes.<key>"): the
    # customer's own updates from the widget may not change them (services/contacts.py).
    business_fields = ArrayField(
        models.CharField(max_length=100), default=list, blank=True,
        help_text="Fields set by your team, which the customer cannot change from the widget, e.g. name,custom_attributes.plan",
    )
    blocked = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=now, editable=False)
    # Set when the contact's personal data and messages were erased (services/erasure.py): the
    # row stays, so its conversations stay countable; who erased it is kept for the audit.
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False, editable=False
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], condition=Q(external_id__isnull=False), name="conversations_contact_external_id_unique"),
        ]
        indexes = [
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="contact_name_trgm"),
            GinIndex(OpClass(Upper("email"), name="gin_trgm_ops"), name="contact_email_trgm"),
            models.Index(fields=["email"], name="contact_email"),
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or f"Contact {self.pk}"


class Label(models.Model):
    name = models.SlugField(max_length=50, unique=True)
    description = models.CharField(max_length=200, blank=True)
    color = models.CharField(max_length=7, default="#6b7280", help_text="Hex colour, e.g. #1f6feb")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CannedResponse(models.Model):
    short_code = models.SlugField(max_length=50, unique=True, help_text="Type /code in the reply box.")
    body = models.TextField()

    class Meta:
        ordering = ["short_code"]

    def __str__(self) -> str:
        return f"/{self.short_code}"


# The text search configuration of Conversation.search_document, for writes and queries alike.
SEARCH_CONFIG = "english"


class ConversationManager(models.Manager):
    def get_queryset(self):
        # The search document is for the database's index only: never read into Python (it is
        # kilobytes per row), and so never written back by a save() of a whole row.
        return super().get_queryset().defer("search_document")


# The queue's order (selectors.QUEUE_ORDER) and the indexes that serve it: one tuple, so an
# index cannot drift from the order it exists for (it would stop serving it without a sound).
QUEUE_ORDER = (F("waiting_since").asc(nulls_last=True), F("priority").desc(), F("queue_activity_at").desc(), F("id").desc())


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PENDING = "pending", "Pending"
        SNOOZED = "snoozed", "Snoozed"
        RESOLVED = "resolved", "Resolved"

    class ResolvedBy(models.TextChoices):
        AGENT = "agent", "Agent"
        AI = "ai", "AI"

    number = models.PositiveIntegerField(unique=True, editable=False, help_text="Shown as #123; per tenant.")
    inbox = models.ForeignKey(Inbox, on_delete=models.PROTECT, related_name="conversations")
    # No index of its own on contact, assignee or team: conv_contact_created, conv_assignee_status
    # and conv_scope lead with them (lookups and ON DELETE use those), and every index is
    # written again by each message's UPDATE of this row (never a HOT update: see Meta.indexes).
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="conversations", db_index=False)
    subject = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NONE)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False,
        db_constraint=False,
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations", db_index=False)
    labels = models.ManyToManyField(Label, blank=True, related_name="conversations")
    # Since when the customer has been waiting for a reply; None while nobody waits.
    waiting_since = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # When the resolution clock started: at open, again at each reopen (services/sla.py).
    resolution_clock_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolved_by = models.CharField(max_length=10, choices=ResolvedBy.choices, blank=True)
    last_activity_at = models.DateTimeField(default=now)
    # The queue's order after waiting_since and priority (conv_queue_order): the last activity of
    # a conversation nobody waits on, NULL while the customer waits (waiting_since orders those,
    # one moment each). Computed by PostgreSQL from the two columns, so it cannot disagree with
    # them; and a customer's message on a waiting conversation, which moves last_activity_at
    # only, leaves it NULL: no indexed column changes, a HOT update (services/intake.py).
    queue_activity_at = models.GeneratedField(
        expression=Case(When(waiting_since__isnull=True, then=F("last_activity_at")), output_field=models.DateTimeField()),
        output_field=models.DateTimeField(null=True), db_persist=True,
    )
    created_at = models.DateTimeField(default=now, editable=False)
    # The AI's classification, kept on the row so the queue can filter on it.
    ai_category = models.CharField(max_length=50, blank=True)
    ai_confidence = models.FloatField(null=True, blank=True)
    # Set when the AI handed the conversation to people (the customer asked for a person, was
    # upset, ...): from then on the AI no longer answers it by itself (ai/autoreply.py).
    ai_handoff_at = models.DateTimeField(null=True, blank=True)
    ai_handoff_reason = models.CharField(max_length=300, blank=True, db_default="")
    # SLA: due times set when a policy applies; breach flags set once a due time passes unmet.
    sla_policy = models.ForeignKey(SLAPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    first_response_breached = models.BooleanField(default=False)
    resolution_breached = models.BooleanField(default=False)
    # The client's Idempotency-Key of the request that opened it: a retry finds this row.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, editable=False)
    # The words of the subject and of every message but activity lines (notes included), for
    # the queue's full-text search (selectors.conversation_search). Written by
    # services/intake.py (a customer's message on an open conversation through SearchWords,
    # folded in here in batches: services/search_words.py), erasure and retention (migration
    # 0007 filled it for older rows); capped below PostgreSQL's 1 MB tsvector limit
    # (intake.SEARCH_DOCUMENT_CAP).
    search_document = SearchVectorField(null=True, editable=False)

    objects = ConversationManager()

    class Meta:
        ordering = ["-last_activity_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "idempotency_key"], condition=Q(idempotency_key__isnull=False),
                name="conversation_idempotency_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(status="snoozed", snoozed_until__isnull=False) | ~Q(status="snoozed"),
                name="conversation_snoozed_has_until",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-priority", "waiting_since"], name="conv_queue"),
            models.Index(fields=["assignee", "status"], name="conv_assignee_status"),
            # The agent's visibility (team, or assigned to them) with the columns the queue's
            # filters test, so a page's capped count is an index-only scan of this narrow index
            # instead of a read of up to 10,001 wide rows (docs/performance.md, branch deskdb8).
            # It also serves lookups by team and ON DELETE of a team. None of these columns is
            # written by a customer's message (the HOT update below stays HOT).
            models.Index(
                fields=["team", "status", "assignee"], include=["priority", "inbox", "first_response_breached", "resolution_breached",
                                                              "ai_category", "id"],
                name="conv_scope",
            ),
            models.Index(fields=["contact", "-created_at"], name="conv_contact_created"),
            models.Index(fields=["status", "snoozed_until"], name="conv_snoozed", condition=Q(status="snoozed")),
            models.Index(fields=["ai_category"], name="conv_ai_category"),
            GinIndex(OpClass(Upper("subject"), name="gin_trgm_ops"), name="conv_subject_trgm"),
            GinIndex(fields=["search_document"], name="conv_search_document"),
            # The queue's order (selectors.conversation_queue, the admin's with its pk
            # tie-breaker), so a page of it is an index walk, not a sort of every conversation.
            # last_activity_at itself is in NO index (queue_activity_at stands for it here, and
            # search_document's words arrive through SearchWords), so a customer's message on a
            # waiting conversation is a HOT update: no index entry written, the page's free
            # space (fillfactor, migration 0016) takes the new row version.
            # Team and assignee included (deskdb8): an agent's page past the first finds its ids
            # by an index-only walk (config.pagination's deferred join), the visibility tested
            # on the index entries instead of on every skipped row.
            models.Index(
                *QUEUE_ORDER,
                include=["team", "assignee"], name="conv_queue_order",
            ),
            # The queue's order for the two filters people click that keep few rows (SLA
            # breached, unassigned): the page walks the small partial index and stops after 50
            # rows, the capped count reads it alone (team and assignee included for agents).
            models.Index(
                *QUEUE_ORDER,
                include=["team", "assignee"], condition=Q(first_response_breached=True) | Q(resolution_breached=True),
                name="conv_sla_breached_order",
            ),
            models.Index(
                *QUEUE_ORDER,
                include=["team"], condition=Q(assignee__isnull=True), name="conv_unassigned_order",
            ),
            # Reports by day (analytics: today's live figures, the queue's drill-down by day).
            models.Index(fields=["created_at"], name="conv_created"),
            models.Index(fields=["first_response_at"], name="conv_first_response"),
            models.Index(fields=["ai_handoff_at"], name="conv_ai_handoff", condition=models.Q(ai_handoff_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.subject}".strip()

    @property
    def priority_name(self) -> str:
        return Priority(self.priority).label.lower()

    @property
    def sla_breached(self) -> bool:
        return self.first_response_breached or self.resolution_breached


class SearchWords(models.Model):
    """One customer message's words, searchable at once, waiting to be folded into its
    conversation's search document (services/search_words.py, every five minutes per tenant).

    Why not straight into the document: a GIN-indexed column written by every message makes
    every message a non-HOT update of the conversation (an entry in each of its indexes) that
    rewrites the whole document (tens of kB for a long thread). A row here is one small
    insert; the fold rewrites each document once per batch. The queue's search reads both
    (selectors.conversation_search). Erasure and retention delete a conversation's rows when
    they rebuild its document."""

    # No foreign key constraint: its check would be one more lookup in the hot statement, and
    # the conversation is locked by that statement anyway; the ORM still cascades a delete.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False,
    )
    words = SearchVectorField()

    class Meta:
        indexes = [
            models.Index(fields=["conversation", "id"], name="searchwords_conversation"),
            GinIndex(fields=["words"], name="searchwords_words"),
        ]


class Message(models.Model):
    class Direction(models.TextChoices):
        INCOMING = "incoming", "Incoming"
        OUTGOING = "outgoing", "Outgoing"

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        NOTE = "note", "Private note"
        ACTIVITY = "activity", "Activity"

    class SenderType(models.TextChoices):
        CONTACT = "contact", "Customer"
        AGENT = "agent", "Agent"
        AI = "ai", "AI"
        SYSTEM = "system", "System"

    # No index of its own: message_thread leads with it (the thread, and ON DELETE CASCADE).
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEXT)
    sender_type = models.CharField(max_length=10, choices=SenderType.choices)
    sender_id = models.BigIntegerField(null=True, blank=True, help_text="Contact id or user id, by sender type.")
    content = models.TextField()
    attachments = models.JSONField(default=list, blank=True, help_text="Metadata only: name, size, content type, url.")
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)
    # An AI answer's knowledge-base sources, shown as links under it: [{"slug", "title", "url"}].
    # (Database defaults on the columns added after launch: bulk loaders list their columns.)
    sources = models.JSONField(default=list, db_default=[], blank=True)
    created_at = models.DateTimeField(default=now, editable=False)
    read_at = models.DateTimeField(null=True, blank=True)
    # When the follow-up work of a customer message ran (conversations/followups.py); a sweep
    # re-queues incoming messages still without it, e.g. when the broker was down on arrival.
    followup_done_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "idempotency_key"], condition=Q(idempotency_key__isnull=False),
                name="message_idempotency_key_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at", "id"], name="message_thread"),
            # The widget's poll: a page of a conversation's messages by id, newest first or after
            # a cursor, read as 50 entries of this index whatever the thread's length (and one
            # plan for every poll): conversations/api/widget.py, _PollPage.
            models.Index(fields=["conversation", "id"], name="message_page"),
            # Small: only incoming messages whose follow-up has not run yet, which the sweep reads.
            models.Index(
                fields=["created_at"], name="message_followup_pending",
                condition=Q(direction="incoming", followup_done_at__isnull=True),
            ),
            models.Index(fields=["created_at"], name="message_created"),  # reports by day (analytics)
        ]

    def __str__(self) -> str:
        return f"{self.get_sender_type_display()}: {self.content[:60]}"


class CSATResponse(models.Model):
    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="csat")
    rating = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="csat_rating_1_to_5")]
        verbose_name = "CSAT response"

    def __str__(self) -> str:
        return f"{self.rating}/5 for #{self.conversation.number}"


class ConversationEvent(models.Model):
    """One change to a conversation: who did what, from which value to which, when.

    The conversation's timeline and the audit trail are both read from here (events.py writes).
    """

    class ActorType(models.TextChoices):
        AGENT = "agent", "Agent"
        CONTACT = "contact", "Customer"
        AI = "ai", "AI"
        SYSTEM = "system", "System"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    actor_type = models.CharField(max_length=10, choices=ActorType.choices)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=200, blank=True, help_text="As it was at the time.")
    action = models.CharField(max_length=40)
    field = models.CharField(max_length=40, blank=True)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)
    # Why an automatic change was made ("rule 'Billing to Finance' matched category billing
    # (0.91)"), so agents can see why the AI moved their conversation; blank for people.
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="event_timeline"),
            models.Index(fields=["created_at"], name="event_created"),  # reports by day (analytics)
        ]

    def __str__(self) -> str:
        return f"#{self.conversation_id} {self.action} {self.field}: {self.old_value} → {self.new_value}"


class WidgetSession(models.Model):
    """A browser's session with one inbox as one contact. The bearer token handed to the
    widget is a signed, expiring reference to this row; revoking the row ends the token."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="widget_sessions")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="widget_sessions")
    identified = models.BooleanField(default=False, help_text="Bound to a known customer by a verified HMAC identifier.")
    created_at = models.DateTimeField(default=now, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["contact", "inbox"], name="widget_session_contact")]

    def __str__(self) -> str:
        return f"{self.contact} on {self.inbox}"


class MessageFeedback(models.Model):
    """A customer's thumbs up or down on an AI answer: one per message, changeable."""

    class Rating(models.TextChoices):
        UP = "up", "Helpful"
        DOWN = "down", "Not helpful"

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="feedback")
    rating = models.CharField(max_length=4, choices=Rating.choices)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.rating} on message {self.message_id}"
