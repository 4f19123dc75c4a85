"""`ai.calls` rules that hold whatever the provider: one ledger row per call, the response cache
(hits on the ledger with what they saved; the local classifier's answers keyed by its version),
the monthly budget in the tenant's month, the cache_expire job, and tenants kept apart."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import tenant_context

from ai import calls
from ai.budget import month_start
from ai.cache import cache_put
from ai.local.classifier import IntentClassifier
from ai.models import AICall, CachedResponse, ClassifierVersion
from ai.providers.base import CategoryOption, ClassifyRequest
from ai.settings_store import ai_settings_get
from ai.tasks import cache_expire
from tests.ai.fake_openai import fake_openai, fake_openai_server, openai_configure  # noqa: F401

CATEGORIES = (CategoryOption("Billing", "charges"), CategoryOption("Shipping", "parcels"))
REQUEST = ClassifyRequest(text="I was charged twice this month", categories=CATEGORIES)
GOOD = {"category": "Billing", "confidence": 0.9, "priority": "medium", "sentiment": "negative", "language": "en", "reasoning": "A charge."}


@pytest.fixture
def in_alpha(db, alpha):
    with tenant_context(alpha), override_settings(AI_RETRY_BACKOFF_SECONDS=0.01):
        yield alpha


@pytest.fixture
def remote(in_alpha, fake_openai):
    openai_configure(fake_openai)
    fake_openai.script(fake_openai.chat(GOOD))
    return fake_openai


def test_the_default_is_local_with_one_free_ledger_row(in_alpha):
    outcome = calls.classify(request=REQUEST)

    assert outcome.provider == "local"
    row = AICall.objects.get()
    assert (row.operation, row.provider, row.status, row.cost, row.cache_hit) == ("classify", "local", "ok", Decimal("0"), False)
    assert row.input_tokens > 0 and row.tokens_estimated is False  # counted with the embedder's tokenizer


def test_a_second_identical_call_is_answered_from_the_cache(remote):
    first = calls.classify(request=REQUEST)
    # Same text up to whitespace: the normalised input is the same.
    again = calls.classify(request=ClassifyRequest(text="  I was charged   twice this month\n", categories=CATEGORIES))

    assert len(remote.requests) == 1
    assert again.value == first.value and again.provider == "openai"
    original, hit = AICall.objects.order_by("id")
    assert (hit.cache_hit, hit.status, hit.cost, hit.input_tokens) == (True, "ok", Decimal("0"), 0)
    assert hit.cost_saved == original.cost > 0
    entry = CachedResponse.objects.get()
    assert entry.hit_count == 1 and entry.last_hit_at is not None
    assert entry.expires_at - entry.created_at == timedelta(days=1)


def test_anything_the_answer_depends_on_misses_the_cache(remote):
    calls.classify(request=REQUEST)
    calls.classify(request=ClassifyRequest(text=REQUEST.text, categories=(*CATEGORIES, CategoryOption("Returns", ""))))
    calls.classify(request=ClassifyRequest(text=REQUEST.text.upper(), categories=CATEGORIES))
    ai_settings = ai_settings_get()
    ai_settings.chat_model = "gpt-other"
    ai_settings.prices["gpt-other"] = {"input": "1", "output": "1"}
    ai_settings.save()
    calls.classify(request=REQUEST)

    assert len(remote.requests) == 4
    assert not AICall.objects.filter(cache_hit=True).exists()


def test_an_expired_entry_is_not_used_and_the_job_deletes_it(remote):
    calls.classify(request=REQUEST)
    CachedResponse.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    calls.classify(request=REQUEST)
    assert len(remote.requests) == 2  # the refreshed entry replaced the expired one
    cache_put(key="0" * 64, operation="embed", provider="openai", model="embed-fake", response=[[1.0]], cost=Decimal("0"), input_tokens=1, output_tokens=0)
    CachedResponse.objects.filter(key="0" * 64).update(expires_at=timezone.now() - timedelta(days=1))

    assert cache_expire() == 1
    assert list(CachedResponse.objects.values_list("operation", flat=True)) == ["classify"]


def test_the_cache_expire_job_runs_for_every_tenant_from_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["ai-cache-expire"]
    assert entry["task"] == "ai.tasks.cache_expire" and "tenant_schemas" not in entry


def _train(version: int) -> None:
    texts = ["I was charged twice", "refund my payment", "my invoice is wrong", "where is my parcel", "the delivery is late", "track my package"]
    labels = ["Billing"] * 3 + ["Shipping"] * 3
    classifier = IntentClassifier(in_scope_target=0.5, calibration_folds=2).fit(texts, labels)
    ClassifierVersion.objects.create(version=version, blob=classifier.to_bytes(), embedding_model=classifier.embedder_name, categories=["Billing", "Shipping"])


def test_local_classifications_are_cached_per_classifier_version(in_alpha):
    _train(1)
    first = calls.classify(request=REQUEST)
    second = calls.classify(request=REQUEST)

    same = lambda r: (r.category, r.confidence, r.sentiment, r.language, r.reasoning, r.classifier_version)  # noqa: E731
    assert same(second.value) == same(first.value) and first.value.classifier_version == 1
    assert list(AICall.objects.order_by("id").values_list("cache_hit", flat=True)) == [False, True]
    assert second.model == first.model  # the ledger names the real local model on a hit too

    _train(2)  # a retrained model never answers from the old one's cache
    third = calls.classify(request=REQUEST)
    assert third.value.classifier_version == 2
    assert AICall.objects.order_by("-id").first().cache_hit is False

    ai_settings = ai_settings_get()  # nor does one after the owner moved the out-of-scope threshold
    ai_settings.out_of_scope_threshold = 0.99
    ai_settings.save()
    calls.classify(request=REQUEST)
    assert AICall.objects.order_by("-id").first().cache_hit is False


def test_an_untrained_desks_answer_is_not_cached(in_alpha):
    calls.classify(request=REQUEST)
    calls.classify(request=REQUEST)

    assert not CachedResponse.objects.exists()


def _spent(amount: str, *, at=None) -> None:
    AICall.objects.create(operation="classify", provider="openai", model="gpt-fake", cost=Decimal(amount), created_at=at or timezone.now())


def test_under_the_budget_paid_calls_go_on(remote):
    ai_settings = ai_settings_get()
    ai_settings.monthly_budget = Decimal("1.00")
    ai_settings.save()
    _spent("0.85")
    _spent("0.50", at=month_start() - timedelta(seconds=1))  # last month: not counted

    assert calls.classify(request=REQUEST).provider == "openai"
    assert len(remote.requests) == 1


def test_at_the_budget_local_takes_over_recorded_as_budget_exceeded(remote):
    ai_settings = ai_settings_get()
    ai_settings.monthly_budget = Decimal("1.00")
    ai_settings.save()
    _spent("0.60")
    _spent("0.40")

    outcome = calls.classify(request=REQUEST)

    assert outcome.provider == "local" and outcome.value is not None
    assert not remote.requests
    row = AICall.objects.order_by("-id").first()
    assert (row.provider, row.status, row.cost) == ("local", "budget_exceeded", Decimal("0"))
    assert "budget" in row.error


def test_local_spend_never_counts_against_the_budget(remote):
    ai_settings = ai_settings_get()
    ai_settings.monthly_budget = Decimal("1.00")
    ai_settings.save()
    AICall.objects.create(operation="classify", provider="local", model="x", cost=Decimal("5"))

    assert calls.classify(request=REQUEST).provider == "openai"


def test_the_budget_month_is_the_tenants_month(in_alpha):
    in_alpha.timezone = "Pacific/Auckland"  # UTC+13 in March
    moment = datetime(2026, 3, 31, 12, 0, tzinfo=dt_timezone.utc)  # already April 1st in Auckland

    start = month_start(at=moment)

    assert start.isoformat() == "2026-04-01T00:00:00+13:00"
    in_alpha.timezone = "UTC"
    assert month_start(at=moment).isoformat() == "2026-03-01T00:00:00+00:00"


def test_tenants_never_share_ledger_cache_or_settings(db, alpha, beta, fake_openai):
    with tenant_context(alpha):
        openai_configure(fake_openai)
        fake_openai.script(fake_openai.chat(GOOD))
        calls.classify(request=REQUEST)
    with tenant_context(beta):
        assert ai_settings_get().provider == "local"  # alpha's provider and key are not beta's
        assert not AICall.objects.exists() and not CachedResponse.objects.exists()
        outcome = calls.classify(request=REQUEST)  # same text: no cross-tenant cache hit
        assert outcome.provider == "local"
        assert list(AICall.objects.values_list("provider", "cache_hit")) == [("local", False)]
        expired = CachedResponse.objects.count()
    with tenant_context(alpha):
        CachedResponse.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        assert cache_expire() == 1
    with tenant_context(beta):
        assert CachedResponse.objects.count() == expired
    assert len(fake_openai.requests) == 1


def _expired_and_live(schema: str) -> None:
    from django_tenants.utils import schema_context

    with schema_context(schema):
        for key, expires in (("e" * 64, timezone.now() - timedelta(minutes=1)), ("l" * 64, timezone.now() + timedelta(hours=1))):
            cache_put(key=key, operation="classify", provider="openai", model="m", response={}, cost=Decimal("0"), input_tokens=0, output_tokens=0)
            CachedResponse.objects.filter(key=key).update(expires_at=expires)


def _keys(schema: str) -> list[str]:
    from django_tenants.utils import schema_context

    with schema_context(schema):
        return sorted(key[0] for key in CachedResponse.objects.values_list("key", flat=True))


@pytest.mark.usefixtures("committed_db", "celery_worker")
def test_the_beat_entry_expires_each_tenants_cache_on_a_real_worker(tmp_path):
    from tenant_schemas_celery.scheduler import TenantAwarePersistentScheduler

    from config.celery import app as celery_app
    from tests.conftest import wait_for

    _expired_and_live("alpha")
    _expired_and_live("beta")
    scheduler = TenantAwarePersistentScheduler(app=celery_app, schedule_filename=str(tmp_path / "beat"), lazy=True)
    scheduler.setup_schedule()
    with celery_app.producer_or_acquire() as producer:
        scheduler.apply_entry(scheduler.schedule["ai-cache-expire@__all_tenants_only__"], producer=producer)

    wait_for(lambda: _keys("alpha") == ["l"] and _keys("beta") == ["l"], what="expired cache rows deleted in alpha and beta")
