"""The knowledge base's embeddings: passages and the questions searched against them, in one
vector space.

Through `ai.calls.embed` (ledger, budget, fallback), passages with `purpose="passage"`. The
chunk column holds 384 numbers (the local E5). A tenant's remote embedding model that gives
vectors of another length cannot be stored: the knowledge base is then embedded locally, a
warning says so (in the log), and the decision is remembered for 30 days (per account and
model) so later rebuilds do not pay the remote model for vectors they throw away. Questions
must be embedded by the same model as the passages they are compared with: `query_embed`
follows the same rule (search uses it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.cache import cache

from ai import calls
from ai.local.embedders import DEFAULT_EMBEDDER, embedder_get
from ai.models import Provider
from ai.settings_store import ai_settings_get
from kb.models import EMBEDDING_DIMENSIONS

logger = logging.getLogger(__name__)

UNFIT_MEMORY_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class Embedded:
    vectors: list[list[float]]
    model: str


def _unfit_key(model: str) -> str:
    # The cache's keys are per tenant already (django_tenants.cache.make_key).
    return f"kb:remote-embedding-unfit:{model}"


def _remote_model() -> str:
    ai_settings = ai_settings_get()
    return ai_settings.embedding_model if ai_settings.provider == Provider.OPENAI else ""


def _local_only() -> bool:
    model = _remote_model()
    return not model or bool(cache.get(_unfit_key(model)))


def passage_model() -> str:
    """The model new passages are embedded with now (chunks carrying another are re-embedded)."""
    return DEFAULT_EMBEDDER if _local_only() else _remote_model()


def _embed(texts: list[str], *, purpose: str, links: dict | None = None) -> Embedded:
    if not texts:
        return Embedded(vectors=[], model=passage_model())
    links = links or {}
    outcome = calls.embed(texts=texts, purpose=purpose, local_only=_local_only(), **links)
    lengths = {len(vector) for vector in outcome.value}
    if lengths != {EMBEDDING_DIMENSIONS}:
        logger.warning(
            "the embedding model %s gives vectors of %s numbers; the knowledge base stores %d: it is embedded with the local model (%s) instead",
            outcome.model, "/".join(str(n) for n in sorted(lengths)), EMBEDDING_DIMENSIONS, DEFAULT_EMBEDDER,
        )
        cache.set(_unfit_key(outcome.model), True, UNFIT_MEMORY_SECONDS)
        outcome = calls.embed(texts=texts, purpose=purpose, local_only=True, **links)
    return Embedded(vectors=list(outcome.value), model=outcome.model)


def passage_tokens_count(text: str) -> int:
    """Tokens of a passage as the local E5 reads it (the chunk size limit is in these; a
    remote model's tokenizer is unknown here, and the local count is a fair estimate of it)."""
    return embedder_get(DEFAULT_EMBEDDER).count_tokens(text, purpose="passage")


def passages_embed(texts: list[str]) -> Embedded:
    return _embed(texts, purpose="passage")


def query_embed(query: str, *, conversation=None, message=None) -> Embedded:
    """A question's vector, by the model the passages were embedded with (the ledger row
    linked to the conversation/message it was asked in, when there is one)."""
    return _embed([query], purpose="query", links={"conversation": conversation, "message": message})
