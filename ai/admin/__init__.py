"""The AI app's admin, one module per concern (each registers its own models)."""

from ai.admin import ledger, routing, settings

__all__ = ["ledger", "routing", "settings"]
