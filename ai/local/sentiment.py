"""Sentiment of a customer message: positive, neutral, negative or frustrated, with a score.

English: VADER (a rule-based lexicon tuned to short social-media text, MIT licence), plus
frustration cues a support desk cares about (waiting, repeating, escalating, shouting).
Other languages: VADER's lexicon is English, so only language-independent cues are read
(emoji, emoticons, "!!!", "?!", words in capitals) and the result says `reliable=False`;
it never guesses a mood from English words it found in, say, Spanish.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

POSITIVE, NEUTRAL, NEGATIVE, FRUSTRATED = "positive", "neutral", "negative", "frustrated"
_THRESHOLD = 0.05  # VADER's own cut between neutral and the rest

# English phrases that, in a support conversation, mean "this has gone on too long".
_FRUSTRATION_EN = re.compile(
    r"\b(still (not|no|hasn'?t|haven'?t|isn'?t|doesn'?t|waiting|broken)|(second|third|fourth|fifth|\d+(st|nd|rd|th)) time"
    r"|(yet|once) again|again and again|nobody|no one|no-one|ridiculous|unacceptable|useless|pathetic|joke|fed up|sick of|tired of|worst"
    r"|waiting (for|since)|been waiting|for (days|weeks|months)|hours? on hold|cancel (my|the) (account|subscription|order)"
    r"|speak to (a|your) (manager|supervisor|human)|real person|how many times|what is going on|never (again|works|got))\b",
    re.IGNORECASE,
)
_SHOUTING = re.compile(r"\b[A-Z]{4,}\b")
_PUNCTUATION = re.compile(r"(!{2,}|\?!|!\?|\?{3,})")
_NEGATIVE_EMOJI = re.compile("[\U0001F620-\U0001F62B\U0001F92C\U0001F44E\U0001F612\U0001F61E\U0001F61F\U0001F625\U0001F622\U0001F62D]|[:;]-?[(\\[]|>:\\(")
_POSITIVE_EMOJI = re.compile("[\U0001F600-\U0001F60D\U0001F642\U0001F44D\u2764\U0001F64F\U0001F389]|[:;]-?[)D\\]]")

_lock = threading.Lock()
_analyser = None


@dataclass(frozen=True)
class Sentiment:
    label: str
    score: float  # -1 (most negative) .. 1 (most positive)
    reliable: bool  # False when the language's words could not be read
    method: str
    cues: tuple[str, ...] = ()


def _analyser_get():
    global _analyser
    if _analyser is None:
        with _lock:
            if _analyser is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                _analyser = SentimentIntensityAnalyzer()
    return _analyser


def _shared_cues(text: str) -> list[str]:
    cues = []
    if _SHOUTING.search(text):
        cues.append("capitals")
    if _PUNCTUATION.search(text):
        cues.append("punctuation")
    return cues


def sentiment_analyse(text: str, *, language: str = "en") -> Sentiment:
    """The message's mood; `language` is an ISO 639-1 code (see language.language_detect)."""
    shared = _shared_cues(text)
    if language != "en":
        negative = len(_NEGATIVE_EMOJI.findall(text))
        positive = len(_POSITIVE_EMOJI.findall(text))
        score = max(-1.0, min(1.0, 0.3 * (positive - negative)))
        cues = tuple(shared + ["emoji"] * bool(negative or positive))
        if negative > positive and shared:
            label = FRUSTRATED
        elif score <= -_THRESHOLD:
            label = NEGATIVE
        elif score >= _THRESHOLD:
            label = POSITIVE
        else:
            label = NEUTRAL
        return Sentiment(label=label, score=round(score, 4), reliable=False, method="cues", cues=cues)

    score = _analyser_get().polarity_scores(text)["compound"]
    frustration = [m.group(0).lower() for m in _FRUSTRATION_EN.finditer(text)]
    cues = tuple(frustration + shared)
    if frustration and (score < _THRESHOLD or len(cues) >= 2):
        label = FRUSTRATED
        score = min(score, -0.5)
    elif score <= -_THRESHOLD:
        label = FRUSTRATED if len(shared) and score <= -0.5 else NEGATIVE
    elif score >= _THRESHOLD:
        label = POSITIVE
    else:
        label = NEUTRAL
    return Sentiment(label=label, score=round(score, 4), reliable=True, method="vader+cues", cues=cues)
