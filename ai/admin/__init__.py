"""The AI pipeline's admin, one module per concern (each registers its own models)."""

from ai.admin import routing  # noqa: F401
