"""The AI app's admin, one module per concern (each registers its own models)."""

from ai.admin import categories, ledger, routing, settings
from ai.admin import drafts

__all__ = ["categories", "drafts", "ledger", "routing", "settings"]
