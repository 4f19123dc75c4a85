"""The provider contract: plain dataclasses in, plain dataclasses out, errors as exceptions.

A provider knows nothing about Django, tenants, the ledger or the cache (`ai.calls` does);
that is what lets the same provider code serve the pipeline, the knowledge base and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence


class ProviderError(Exception):
    """The call failed; `ai.calls` records it and falls back to `local`."""


class ProviderTimeout(ProviderError):
    pass


class ProviderRateLimited(ProviderError):
    """HTTP 429: retried with backoff, then a fallback."""


class ProviderUnavailable(ProviderError):
    """HTTP 5xx or the connection failed: retried with backoff, then a fallback."""


class ProviderBadOutput(ProviderError):
    """The answer did not parse against its JSON schema, or named a category, team or agent the
    tenant does not have: rejected, counted as an error, never acted on."""


@dataclass(frozen=True)
class CategoryOption:
    name: str
    description: str = ""


@dataclass(frozen=True)
class TeamOption:
    id: int
    name: str


@dataclass(frozen=True)
class AgentOption:
    id: int
    name: str


@dataclass(frozen=True)
class ClassifyRequest:
    """One customer message and the tenant's real lists: an answer outside them is rejected."""

    text: str
    categories: tuple[CategoryOption, ...] = ()
    teams: tuple[TeamOption, ...] = ()
    agents: tuple[AgentOption, ...] = ()
    # Earlier messages of the conversation, oldest first, for context (the LLM may use them).
    context: tuple[str, ...] = ()


@dataclass
class ClassifyResult:
    category: str | None  # None: out of scope (fits none of the tenant's categories)
    confidence: float  # 0..1
    priority: int  # conversations.models.Priority value
    sentiment: str  # ai.models.Sentiment value
    sentiment_score: float  # -1..1
    language: str  # ISO 639-1 code, or "und"
    reasoning: str
    evidence: dict = field(default_factory=dict)
    suggested_team_id: int | None = None
    suggested_agent_id: int | None = None
    classifier_version: int | None = None


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False  # True: no tokenizer for that model, an honest estimate


@dataclass
class ProviderResponse:
    value: object  # ClassifyResult | list[list[float]] | str
    model: str
    usage: Usage = field(default_factory=Usage)


class Provider(Protocol):
    name: str  # "local" | "openai"

    def classify(self, request: ClassifyRequest) -> ProviderResponse: ...

    def embed(self, texts: Sequence[str]) -> ProviderResponse: ...

    def generate(self, messages: Sequence[dict], *, max_tokens: int = 512, json_schema: dict | None = None) -> ProviderResponse: ...
