"""The AI app's admin, one module per owner of its models."""

from ai.admin import ledger, settings

__all__ = ["ledger", "settings"]
