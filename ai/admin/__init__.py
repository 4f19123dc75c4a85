"""The AI pipeline in the desk's admin, one module per area; each owner registers its own
models in its module, and this package imports them all (one line each).

- categories: categories, training examples, the classification history, corrections
"""

from ai.admin import categories

__all__ = ["categories"]
