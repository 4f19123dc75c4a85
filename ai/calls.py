"""Every AI call goes through here: the tenant's provider, then the ledger.

The one entry point per operation (`classify`, `embed`, `generate`) so that the ledger, the
response cache, the monthly budget, retries with backoff and the fallback to `local` are one
rule each, in one place, whatever feature (pipeline, knowledge base, drafts) makes the call.

(First cut: local provider and the ledger; the OpenAI-compatible provider, the cache, the
budget and the fallback plug in here.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ai.models import AICall, CallStatus, Operation
from ai.providers.base import ClassifyRequest, ClassifyResult, ProviderResponse
from ai.providers.local import LocalProvider


@dataclass
class CallOutcome:
    value: object
    provider: str
    model: str
    latency_ms: float
    call: AICall


def _ledger_write(*, operation: str, provider: str, response: ProviderResponse, latency_ms: float, status: str = CallStatus.OK, error: str = "", conversation=None, message=None) -> AICall:
    return AICall.objects.create(
        operation=operation,
        provider=provider,
        model=response.model,
        input_tokens=response.usage.input_tokens,
        output_tokens=response.usage.output_tokens,
        tokens_estimated=response.usage.estimated,
        latency_ms=latency_ms,
        status=status,
        error=error,
        conversation=conversation,
        message=message,
    )


def classify(*, request: ClassifyRequest, conversation=None, message=None) -> CallOutcome:
    """Classify one message with the tenant's provider; always answers (local at worst)."""
    provider = LocalProvider()
    started = time.perf_counter()
    response = provider.classify(request)
    latency_ms = (time.perf_counter() - started) * 1000
    call = _ledger_write(operation=Operation.CLASSIFY, provider=provider.name, response=response, latency_ms=latency_ms, conversation=conversation, message=message)
    assert isinstance(response.value, ClassifyResult)
    return CallOutcome(value=response.value, provider=provider.name, model=response.model, latency_ms=latency_ms, call=call)


def embed(*, texts: list[str], conversation=None, message=None) -> CallOutcome:
    provider = LocalProvider()
    started = time.perf_counter()
    response = provider.embed(texts)
    latency_ms = (time.perf_counter() - started) * 1000
    call = _ledger_write(operation=Operation.EMBED, provider=provider.name, response=response, latency_ms=latency_ms, conversation=conversation, message=message)
    return CallOutcome(value=response.value, provider=provider.name, model=response.model, latency_ms=latency_ms, call=call)
