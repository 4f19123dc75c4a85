"""The AI pipeline's tables, all in the tenant's schema: nothing here is shared between tenants.

- `AISettings`: one row per tenant: which provider, which models, prices, budget, thresholds.
- `Category`: the tenant's own list of what a message can be about (editable by admins).
- `TrainingExample`: labelled text the tenant's classifier learns from (imported, corrections,
  demo), with its sentence embedding stored once so that retraining never re-embeds.
- `ClassifierVersion`: the trained classifier, versioned; the newest is the one in use.
- `Classification`: what the pipeline decided about one incoming message (one row per message,
  enforced by a unique constraint: Celery delivers at least once).
- `Correction`: an agent changing the AI's category; it becomes a training example.
- `RoutingRule`: ordered rules that send a classified conversation to a team.
- `AICall`: the ledger, one row per provider call (local ones too), cache hits included.
- `CachedResponse`: the response cache, per tenant because it lives in the tenant's schema.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.timezone import now
from pgvector.django import VectorField

from conversations.models import Conversation, Inbox, Label, Message, Priority, Team

# Both offline embedders (E5-small, MiniLM-L6) give 384 numbers; an example embedded by another
# model is re-embedded by `ai_train`, which compares `embedding_model`.
EMBEDDING_DIMENSIONS = 384


class Provider(models.TextChoices):
    LOCAL = "local", "Local (offline, no API key)"
    OPENAI = "openai", "OpenAI-compatible endpoint"


class Operation(models.TextChoices):
    CLASSIFY = "classify", "Classify"
    EMBED = "embed", "Embed"
    GENERATE = "generate", "Generate"
    # Not provider calls: the AI's own acts on a conversation (ai/autoreply.py, ai/handoff.py),
    # on the ledger beside the calls that led to them (no cost; latency = time to decide).
    AUTO_REPLY = "auto_reply", "Auto-reply sent"
    HANDOFF = "handoff", "Handed to people"


class AISettings(models.Model):
    """The tenant's AI configuration: a single row (`ai.settings_store.ai_settings_get` makes it)."""

    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.LOCAL)
    base_url = models.URLField(blank=True, help_text="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1")
    # Fernet token of the API key (ai/secrets.py); never shown back, never logged.
    api_key_encrypted = models.BinaryField(blank=True, default=b"", editable=False)
    chat_model = models.CharField(max_length=100, blank=True, help_text="Model used to classify and generate.")
    embedding_model = models.CharField(max_length=100, blank=True, help_text="Remote embedding model (blank: local).")
    # {"gpt-4o-mini": {"input": "0.00015", "output": "0.0006"}}: price per 1,000 tokens.
    prices = models.JSONField(default=dict, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    monthly_budget = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"), help_text="0: no paid calls limit.")
    timeout_seconds = models.FloatField(default=10.0)
    max_retries = models.PositiveSmallIntegerField(default=2)
    # Below this confidence the local classifier says "out of scope" instead of a category.
    out_of_scope_threshold = models.FloatField(null=True, blank=True, help_text="Blank: chosen when the model is trained.")
    # Below this confidence the routing rules do not act on the category.
    routing_confidence_threshold = models.FloatField(default=0.5)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "AI settings"
        verbose_name_plural = "AI settings"

    def __str__(self) -> str:
        return f"AI settings ({self.get_provider_display()})"


class Category(models.Model):
    # 50: the length of Conversation.ai_category, where the queue filters on it.
    name = models.CharField(max_length=50, unique=True)
    description = models.TextField(blank=True, help_text="What belongs here: shown to an LLM provider.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class TrainingExample(models.Model):
    class Source(models.TextChoices):
        IMPORT = "import", "Imported"
        CORRECTION = "correction", "Agent correction"
        DEMO = "demo", "Demo data"
        MANUAL = "manual", "Added in the admin"

    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="examples")
    text = models.TextField()
    # sha256 of the normalised text: one example per (category, text), so re-importing is a no-op.
    text_hash = models.CharField(max_length=64, editable=False)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.MANUAL)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Keys to the public user table are declared db_constraint=False: each database constraint
    # from a tenant schema puts two triggers on accounts_user, and at 1,000 tenants their number
    # made every sign-up slower (docs/performance.md, "Tenants at scale"). The ORM still applies
    # on_delete within a schema; accounts.services.user_delete applies it in every schema.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False)
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=100, blank=True, editable=False)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["category", "text_hash"], name="ai_example_unique_text")]
        indexes = [models.Index(fields=["created_at"], name="ai_example_created")]

    def __str__(self) -> str:
        return f"{self.category}: {self.text[:60]}"


class ClassifierVersion(models.Model):
    """A trained classifier. Workers compare the newest version number with the one they hold
    and load the new blob without a restart."""

    version = models.PositiveIntegerField(unique=True)
    blob = models.BinaryField(editable=False)  # ai.local.classifier.IntentClassifier.to_bytes()
    embedding_model = models.CharField(max_length=100)
    categories = models.JSONField(default=list)
    example_count = models.PositiveIntegerField(default=0)
    out_of_scope_threshold = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)  # e.g. cross-validated accuracy
    training_seconds = models.FloatField(default=0)
    trained_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"classifier v{self.version}"


class Sentiment(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEUTRAL = "neutral", "Neutral"
    NEGATIVE = "negative", "Negative"
    FRUSTRATED = "frustrated", "Frustrated"


class Classification(models.Model):
    """What the pipeline decided about one incoming message. The conversation's own
    `ai_category`/`ai_confidence` mirror the latest one; these rows are the history."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="ai_classification")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="ai_classifications")
    category = models.CharField(max_length=50, blank=True, help_text="Blank when out of scope.")
    is_out_of_scope = models.BooleanField(default=False)
    confidence = models.FloatField()
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NONE)
    sentiment = models.CharField(max_length=20, choices=Sentiment.choices, default=Sentiment.NEUTRAL)
    sentiment_score = models.FloatField(default=0.0)  # -1 .. 1
    language = models.CharField(max_length=16, blank=True)  # ISO 639-1 where known
    reasoning = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)  # nearest examples, scores, raw fields
    suggested_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    suggested_agent = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False)
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100)
    classifier_version = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["conversation", "-created_at"], name="ai_classification_latest"),
            models.Index(fields=["created_at"], name="ai_classification_created"),
        ]

    def __str__(self) -> str:
        return f"{self.category or 'out of scope'} ({self.confidence:.2f}) for message {self.message_id}"


class Correction(models.Model):
    """An agent changed the AI's category of a conversation."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="ai_corrections")
    classification = models.ForeignKey(Classification, null=True, blank=True, on_delete=models.SET_NULL, related_name="corrections")
    from_category = models.CharField(max_length=50, blank=True)
    to_category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="corrections")
    corrected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False)
    example = models.ForeignKey(TrainingExample, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_at"], name="ai_correction_created")]

    def __str__(self) -> str:
        return f"{self.from_category or '-'} -> {self.to_category} on #{self.conversation_id}"


class RoutingRule(models.Model):
    """Evaluated in `position` order after classification; the first rule that matches acts.
    A blank condition matches anything."""

    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, null=True, blank=True, help_text="Matches this priority or higher.")
    language = models.CharField(max_length=16, blank=True)
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Send to this team.")
    set_priority = models.PositiveSmallIntegerField(choices=Priority.choices, null=True, blank=True)
    add_label = models.ForeignKey(Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class CallStatus(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"
    TIMEOUT = "timeout", "Timeout"
    BUDGET_EXCEEDED = "budget_exceeded", "Budget exceeded"
    FALLBACK = "fallback", "Fell back to local"


class AICall(models.Model):
    """The ledger: one row per provider call, local ones and cache hits included."""

    operation = models.CharField(max_length=20, choices=Operation.choices)
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    # True when the counts are an estimate (no tokenizer for that model) rather than counted.
    tokens_estimated = models.BooleanField(default=False)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    # On a cache hit: what the call would have cost.
    cost_saved = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    latency_ms = models.FloatField(default=0)
    cache_hit = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=CallStatus.choices, default=CallStatus.OK)
    error = models.TextField(blank=True)
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "AI call"
        indexes = [
            models.Index(fields=["created_at"], name="ai_call_created"),
            models.Index(fields=["provider", "created_at"], name="ai_call_provider"),
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.provider}/{self.model} {self.status}"


class CachedResponse(models.Model):
    # sha256 of operation + model + normalised input + whatever else the answer depends on.
    key = models.CharField(max_length=64, unique=True)
    operation = models.CharField(max_length=20, choices=Operation.choices)
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100)
    response = models.JSONField()
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    hit_count = models.PositiveIntegerField(default=0)
    last_hit_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="ai_cache_expires")]

    def __str__(self) -> str:
        return f"{self.operation} {self.model} ({self.hit_count} hits)"


class Draft(models.Model):
    """A reply the AI proposes for a customer message, grounded in knowledge-base passages.

    Agents use it (it fills the reply box; sent unchanged: accepted, changed: edited), discard
    it (rejected) or regenerate it (the old one superseded). An inbox with auto-reply on may
    send it to the customer itself (ai/autoreply.py). `sources` are the passages it was built
    from, as they were when it was made (the article may change later).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        EDITED = "edited", "Edited"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded"
        AUTO_SENT = "auto_sent", "Sent by the AI"

    class Origin(models.TextChoices):
        PIPELINE = "pipeline", "After the customer's message"
        REGENERATE = "regenerate", "Regenerated by an agent"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="ai_drafts")
    # The customer message it answers.
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="ai_drafts")
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.PIPELINE)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    content = models.TextField()
    confidence = models.FloatField(default=0.0)
    reasoning = models.TextField(blank=True)
    # [{"chunk_id", "article_id", "slug", "title", "heading_path", "score", "similarity"}], in
    # the order the draft numbers them ([1] is the first).
    sources = models.JSONField(default=list, blank=True)
    # Nothing relevant was found: the draft says so, is never sent automatically, and the
    # question is recorded as a KnowledgeGap.
    no_source = models.BooleanField(default=False)
    # Citations an LLM made to passages it was not given: removed from `content`, counted here.
    citations_removed = models.PositiveSmallIntegerField(default=0)
    language = models.CharField(max_length=16, blank=True)
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=100)
    latency_ms = models.FloatField(default=0)
    # Once used: the reply that used it, who, and how close the sent text stayed to the draft
    # (difflib ratio, 1.0 = unchanged).
    sent_message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    used_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False)
    used_at = models.DateTimeField(null=True, blank=True)
    similarity = models.FloatField(null=True, blank=True)
    rejected_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Celery delivers at least once: one pipeline draft per customer message.
            models.UniqueConstraint(
                fields=["message"], condition=models.Q(origin="pipeline"), name="ai_draft_one_per_message",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "-created_at"], name="ai_draft_latest"),
            models.Index(fields=["created_at"], name="ai_draft_created"),
        ]

    def __str__(self) -> str:
        return f"draft {self.pk} ({self.status}) for #{self.conversation_id}"


class KnowledgeGap(models.Model):
    """A customer question the knowledge base had no answer for (no passage above the relevance
    floor), kept per category so managers see where articles are missing."""

    category = models.CharField(max_length=50, blank=True, help_text="The AI's category of the question; blank: out of scope.")
    question = models.TextField()
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    message = models.OneToOneField(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="ai_knowledge_gap")
    draft = models.ForeignKey(Draft, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The best passage's similarity, below the floor: how close the knowledge base came.
    best_similarity = models.FloatField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True, help_text="Set when an article now answers it.")
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["category", "-created_at"], name="ai_gap_category")]

    def __str__(self) -> str:
        return f"{self.category or 'out of scope'}: {self.question[:60]}"
