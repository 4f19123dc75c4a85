"""The response cache, per tenant (its rows live in the tenant's schema).

The key is the sha256 of everything the answer depends on: the operation, provider, model,
endpoint, the normalised input, and whatever else shapes the answer (the category, team and
agent lists and prompt version for an LLM's classification; the classifier version for the
local one). Change any of them and the old entry is simply never asked for again; the beat job
`ai.tasks.cache_expire` deletes rows past their TTL.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from datetime import timedelta
from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from ai.models import CachedResponse, Operation

# How long an answer stays good. Embeddings never change for a given model; a classification
# may go stale as the desk's lists change (those are in the key anyway); generated text is the
# most context-dependent, so it is kept the shortest.
TTL = {
    Operation.CLASSIFY: timedelta(days=1),
    Operation.EMBED: timedelta(days=30),
    Operation.GENERATE: timedelta(hours=1),
}
# Bumped when the stored shape of a response changes.
FORMAT_VERSION = 1


def text_normalise(text: str) -> str:
    """Same meaning, same key: Unicode NFC and runs of whitespace collapsed (case is kept: it
    can carry tone, "HELP" is not "help")."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def cache_key(*, operation: str, provider: str, model: str, payload: object) -> str:
    material = json.dumps(
        {"v": FORMAT_VERSION, "operation": operation, "provider": provider, "model": model, "payload": payload},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def cache_get(*, key: str) -> CachedResponse | None:
    """A live entry, its hit counted."""
    entry = CachedResponse.objects.filter(key=key, expires_at__gt=timezone.now()).first()
    if entry is not None:
        moment = timezone.now()
        CachedResponse.objects.filter(pk=entry.pk).update(hit_count=F("hit_count") + 1, last_hit_at=moment)
        entry.hit_count += 1
        entry.last_hit_at = moment
    return entry


def cache_put(*, key: str, operation: str, provider: str, model: str, response: object, cost: Decimal, input_tokens: int, output_tokens: int) -> None:
    # One statement that also replaces an expired row with the same key (not yet deleted by the
    # beat job) and lets two workers that missed at the same moment both succeed.
    moment = timezone.now()
    CachedResponse.objects.bulk_create(
        [CachedResponse(
            key=key, operation=operation, provider=provider, model=model, response=response, cost=cost,
            input_tokens=input_tokens, output_tokens=output_tokens, created_at=moment, expires_at=moment + TTL[operation],
        )],
        update_conflicts=True, unique_fields=["key"],
        update_fields=["response", "cost", "input_tokens", "output_tokens", "created_at", "expires_at", "hit_count", "last_hit_at"],
    )


def cache_expire() -> int:
    """Delete the current tenant's expired entries; how many went."""
    deleted, _ = CachedResponse.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
