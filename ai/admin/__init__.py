"""The AI app's admin, one module per concern (each registers its own models)."""

from ai.admin import categories, ledger, routing, settings

__all__ = ["categories", "ledger", "routing", "settings"]
