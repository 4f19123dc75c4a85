"""Every AI call goes through here: the tenant's provider, then the ledger.

The one entry point per operation (`classify`, `embed`, `generate`) so that the ledger, the
response cache, the monthly budget, retries with backoff and the fallback to `local` are one
rule each, in one place, whatever feature (pipeline, knowledge base, drafts) makes the call.

One call, in order:
1. The tenant's settings (ai.settings_store) say whether a paid provider is configured for the
   operation (`openai` with a chat model; for embed also an embedding model); otherwise local.
2. The response cache: a live entry answers with no request at all; the ledger row is a hit
   (`cache_hit`, cost 0, `cost_saved` = what the original call cost).
3. The monthly budget (ai.budget): spent -> no paid call; local answers, row `budget_exceeded`.
4. The provider, with retries and exponential backoff on 429 (honouring Retry-After up to
   AI_RETRY_AFTER_MAX_SECONDS) and 5xx/connection failures, `max_retries` times. A timeout is
   not retried (a slow endpoint stays slow: the conversation waits for local instead), nor is
   a 4xx (wrong key/model) or an answer refused as bad output.
5. On failure: the failed call's row (`error` or `timeout`, with the tokens a refused answer
   still billed), then local answers with a row of its own, status `fallback`. Nothing waits
   on a provider outage for longer than timeout x attempts + backoff.

Never call this inside `transaction.atomic`: a provider call can take seconds.
"""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable

from django.conf import settings

from ai import cache, plan_allowance
from ai.budget import budget_state
from ai.models import AICall, AISettings, CallStatus, ClassifierVersion, Operation, Provider
from ai.providers.base import (
    ClassifyRequest,
    ClassifyResult,
    ProviderError,
    ProviderRateLimited,
    ProviderResponse,
    ProviderTimeout,
    ProviderUnavailable,
    Usage,
)
from ai.providers.local import LocalProvider
from ai.providers.openai import PROMPT_VERSION, OpenAIProvider, endpoint_problem
from ai.secrets import SecretUnreadable
from ai.settings_store import ai_settings_api_key, ai_settings_get

MAX_ERROR_TEXT = 1000


class GenerationUnavailable(ProviderError):
    """No provider can generate text (local cannot; the paid one failed or is not configured):
    callers (drafts) stay extractive."""


@dataclass
class CallOutcome:
    value: object
    provider: str
    model: str
    latency_ms: float
    call: AICall


@dataclass
class _Plan:
    """One operation, as the generic path below needs it."""

    operation: str
    remote_model: str  # "" when no paid provider is configured for the operation
    remote_payload: object  # what the answer depends on, for the cache key
    remote_run: Callable[[OpenAIProvider], ProviderResponse]
    local_run: Callable[[], ProviderResponse]
    # () -> (model, payload) when a local answer may be cached, else None; asked only when local answers.
    local_cache: Callable[[], tuple[str, object] | None]
    to_json: Callable[[object], object]
    from_json: Callable[[object], object]
    use_cache: bool = True


def cost_of(*, ai_settings: AISettings, model: str, usage: Usage) -> Decimal:
    """From the tenant's price table: price per 1,000 input and output tokens, per model. The
    admin refuses a paid provider without prices for its models, so 0 here means "not priced"."""
    prices = (ai_settings.prices or {}).get(model) or {}
    try:
        per_input = Decimal(str(prices.get("input", "0")))
        per_output = Decimal(str(prices.get("output", "0")))
    except ArithmeticError:
        return Decimal("0")
    cost = (per_input * usage.input_tokens + per_output * usage.output_tokens) / 1000
    return cost.quantize(Decimal("0.000001"))


def _ledger_write(*, operation, provider, model, usage=None, latency_ms, status=CallStatus.OK, error="", cost=Decimal("0"), cost_saved=Decimal("0"), cache_hit=False, links) -> AICall:
    usage = usage or Usage()
    call = AICall.objects.create(
        operation=operation,
        provider=provider,
        model=model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        tokens_estimated=usage.estimated,
        cost=cost,
        cost_saved=cost_saved,
        cache_hit=cache_hit,
        latency_ms=latency_ms,
        status=status,
        error=error[:MAX_ERROR_TEXT],
        **links,
    )
    plan_allowance.ai_usage_record(call)  # the month's count against the plan's AI allowance
    return call


def _provider_build(ai_settings: AISettings) -> OpenAIProvider:
    # Checked on every call, not only when saved: a host name can be re-pointed later.
    problem = endpoint_problem(ai_settings.base_url, allow_private=settings.AI_PRIVATE_ENDPOINTS)
    if problem:
        raise ProviderError(problem)
    try:
        api_key = ai_settings_api_key(ai_settings=ai_settings)
    except SecretUnreadable as error:
        raise ProviderError(str(error)) from None
    return OpenAIProvider(
        base_url=ai_settings.base_url, api_key=api_key, chat_model=ai_settings.chat_model,
        embedding_model=ai_settings.embedding_model, timeout=ai_settings.timeout_seconds,
    )


def _pause_before_retry(*, attempt: int, error: ProviderError) -> None:
    cap = settings.AI_RETRY_AFTER_MAX_SECONDS
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        delay = min(retry_after, cap)
    else:
        # Exponential with jitter, so workers that failed together do not retry together.
        delay = min(settings.AI_RETRY_BACKOFF_SECONDS * (2**attempt) * random.uniform(1.0, 1.25), cap)
    time.sleep(delay)


def _with_retries(*, run: Callable[[], ProviderResponse], attempts: int) -> ProviderResponse:
    for attempt in range(attempts):
        try:
            return run()
        except (ProviderRateLimited, ProviderUnavailable) as error:
            if attempt == attempts - 1:
                if attempts > 1:
                    error.args = (f"{error} (after {attempts} attempts)",)
                raise
            _pause_before_retry(attempt=attempt, error=error)
    raise AssertionError("unreachable")


def _local(plan: _Plan, *, status: str, reason: str, links: dict) -> CallOutcome:
    """Local answers (the default, a budget stop or a fallback); its answer may come from cache."""
    started = time.perf_counter()
    local_cache = plan.local_cache() if plan.use_cache else None
    if local_cache is not None:
        model, payload = local_cache
        key = cache.cache_key(operation=plan.operation, provider=Provider.LOCAL, model=model, payload=payload)
        entry = cache.cache_get(key=key)
        if entry is not None:
            latency_ms = (time.perf_counter() - started) * 1000
            call = _ledger_write(operation=plan.operation, provider=Provider.LOCAL, model=entry.model, latency_ms=latency_ms, status=status, error=reason, cache_hit=True, links=links)
            return CallOutcome(value=plan.from_json(entry.response), provider=Provider.LOCAL, model=entry.model, latency_ms=latency_ms, call=call)
    try:
        response = plan.local_run()
    except ProviderError as error:
        latency_ms = (time.perf_counter() - started) * 1000
        _ledger_write(operation=plan.operation, provider=Provider.LOCAL, model="", latency_ms=latency_ms, status=CallStatus.ERROR, error=f"{reason}; {error}".lstrip("; "), links=links)
        raise GenerationUnavailable(str(error)) from None
    latency_ms = (time.perf_counter() - started) * 1000
    if local_cache is not None:
        cache.cache_put(key=key, operation=plan.operation, provider=Provider.LOCAL, model=response.model, response=plan.to_json(response.value),
                        cost=Decimal("0"), input_tokens=response.usage.input_tokens, output_tokens=response.usage.output_tokens)
    call = _ledger_write(operation=plan.operation, provider=Provider.LOCAL, model=response.model, usage=response.usage, latency_ms=latency_ms, status=status, error=reason, links=links)
    return CallOutcome(value=response.value, provider=Provider.LOCAL, model=response.model, latency_ms=latency_ms, call=call)


def _call(plan: _Plan, *, ai_settings: AISettings, links: dict) -> CallOutcome:
    if ai_settings.provider != Provider.OPENAI or not plan.remote_model:
        return _local(plan, status=CallStatus.OK, reason="", links=links)

    model = plan.remote_model
    key = cache.cache_key(operation=plan.operation, provider=Provider.OPENAI, model=model, payload={"endpoint": ai_settings.base_url, "input": plan.remote_payload})
    started = time.perf_counter()
    if plan.use_cache:
        entry = cache.cache_get(key=key)
        if entry is not None:
            latency_ms = (time.perf_counter() - started) * 1000
            call = _ledger_write(operation=plan.operation, provider=Provider.OPENAI, model=entry.model, latency_ms=latency_ms, cache_hit=True, cost_saved=entry.cost, links=links)
            return CallOutcome(value=plan.from_json(entry.response), provider=Provider.OPENAI, model=entry.model, latency_ms=latency_ms, call=call)

    state = budget_state(ai_settings=ai_settings)
    if state.exhausted:
        reason = f"monthly AI budget spent ({state.spent:.2f} of {state.budget:.2f} {state.currency}): local answered"
        return _local(plan, status=CallStatus.BUDGET_EXCEEDED, reason=reason, links=links)

    try:
        provider = _provider_build(ai_settings)
        response = _with_retries(run=lambda: plan.remote_run(provider), attempts=ai_settings.max_retries + 1)
    except ProviderError as error:
        latency_ms = (time.perf_counter() - started) * 1000
        usage = getattr(error, "usage", None) or Usage()
        status = CallStatus.TIMEOUT if isinstance(error, ProviderTimeout) else CallStatus.ERROR
        _ledger_write(
            operation=plan.operation, provider=Provider.OPENAI, model=model, usage=usage, latency_ms=latency_ms, status=status,
            error=f"{type(error).__name__}: {error}", cost=cost_of(ai_settings=ai_settings, model=model, usage=usage), links=links,
        )
        return _local(plan, status=CallStatus.FALLBACK, reason=f"openai {status}: {str(error)[:300]}", links=links)

    latency_ms = (time.perf_counter() - started) * 1000
    cost = cost_of(ai_settings=ai_settings, model=response.model, usage=response.usage)
    call = _ledger_write(operation=plan.operation, provider=Provider.OPENAI, model=response.model, usage=response.usage, latency_ms=latency_ms, cost=cost, links=links)
    if plan.use_cache:
        cache.cache_put(key=key, operation=plan.operation, provider=Provider.OPENAI, model=response.model, response=plan.to_json(response.value),
                        cost=cost, input_tokens=response.usage.input_tokens, output_tokens=response.usage.output_tokens)
    return CallOutcome(value=response.value, provider=Provider.OPENAI, model=response.model, latency_ms=latency_ms, call=call)


def _identity(value):
    return value


def _classifier_newest() -> tuple | None:
    # The row id and training time with the version: a version number alone can repeat (a
    # training rolled back, a tenant re-created), and a stale answer must never be served.
    return ClassifierVersion.objects.order_by("-version").values_list("version", "pk", "trained_at").first()


def classify(*, request: ClassifyRequest, conversation=None, message=None) -> CallOutcome:
    """Classify one message with the tenant's provider; always answers (local at worst).

    The local answer is cached too, keyed by the classifier version, the tenant's out-of-scope
    threshold and the whole request (text, context, categories, teams, agents: everything the
    local provider can see): the same request to the same trained model gets the same answer,
    so a retrain, a threshold change or a renamed category misses the cache by itself, and a duplicate message ("hi", "thanks", a re-sent question) costs a
    lookup instead of an embedding. An untrained desk's answer ("out of scope") is not cached.
    """
    text = cache.text_normalise(request.text)
    remote_payload = {
        "prompt": PROMPT_VERSION,
        "text": text,
        "context": [cache.text_normalise(c) for c in request.context],
        "categories": [[c.name, c.description] for c in request.categories],
        "teams": [[t.id, t.name] for t in request.teams],
        "agents": [[a.id, a.name] for a in request.agents],
    }

    def local_cache():
        newest = _classifier_newest()
        if newest is None:
            return None
        return f"classifier-v{newest[0]}", {"request": remote_payload, "classifier": newest, "out_of_scope_threshold": ai_settings.out_of_scope_threshold}

    local = LocalProvider()
    ai_settings = ai_settings_get()
    plan = _Plan(
        operation=Operation.CLASSIFY,
        remote_model=ai_settings.chat_model,
        remote_payload=remote_payload,
        remote_run=lambda provider: provider.classify(request),
        local_run=lambda: local.classify(request),
        local_cache=local_cache,
        to_json=dataclasses.asdict,
        from_json=lambda data: ClassifyResult(**data),
    )
    outcome = _call(plan, ai_settings=ai_settings, links={"conversation": conversation, "message": message})
    assert isinstance(outcome.value, ClassifyResult)
    return outcome


def embed(*, texts: list[str], purpose: str = "query", local_only: bool = False, conversation=None, message=None) -> CallOutcome:
    """Sentence embeddings. Remote only when the tenant set an embedding model (its vectors may
    have another length than the local 384: callers storing them compare `outcome.model`);
    local embeddings are not cached (computing one is cheaper than storing it).

    `purpose`: "query" (a question or message) or "passage" (knowledge-base text that answers
    questions): E5 prefixes them differently and retrieval needs both sides right. Remote
    models take no prefix. `local_only`: the local model even when a remote one is set (the
    knowledge base when the remote vectors would not fit its 384-number column)."""
    local = LocalProvider()
    ai_settings = ai_settings_get()
    plan = _Plan(
        operation=Operation.EMBED,
        remote_model="" if local_only else ai_settings.embedding_model,
        remote_payload=[cache.text_normalise(t) for t in texts],
        remote_run=lambda provider: provider.embed(texts),
        local_run=lambda: local.embed(texts, purpose=purpose),
        local_cache=lambda: None,
        to_json=_identity,
        from_json=_identity,
    )
    return _call(plan, ai_settings=ai_settings, links={"conversation": conversation, "message": message})


def generate(*, messages: list[dict], max_tokens: int = 512, json_schema: dict | None = None, use_cache: bool = True, conversation=None, message=None) -> CallOutcome:
    """Text (or, with `json_schema`, a validated object) from the tenant's chat model.
    Raises GenerationUnavailable when no provider can answer (local does not generate)."""
    local = LocalProvider()
    ai_settings = ai_settings_get()
    plan = _Plan(
        operation=Operation.GENERATE,
        remote_model=ai_settings.chat_model,
        remote_payload={"messages": messages, "max_tokens": max_tokens, "json_schema": json_schema},
        remote_run=lambda provider: provider.generate(messages, max_tokens=max_tokens, json_schema=json_schema),
        local_run=lambda: local.generate(messages, max_tokens=max_tokens, json_schema=json_schema),
        local_cache=lambda: None,
        to_json=_identity,
        from_json=_identity,
        use_cache=use_cache,
    )
    return _call(plan, ai_settings=ai_settings, links={"conversation": conversation, "message": message})
