"""How urgent a customer message is, from its words: a conversations.models.Priority value.

Cues, strongest first: the customer says it is urgent ("urgent", "asap", "emergency"); the
service is down for them (outage, "is down", "can't log in", "not working"); money taken
wrongly ("charged twice", "double charge", fraud); security (hacked, breach, "someone else
logged in", phishing). A frustrated mood (ai.local.sentiment) raises the result by one level.
The words are English plus the commonest forms in Spanish, French, German, Portuguese and
Italian: a regular expression per level costs microseconds, and a customer writing "urgente"
in any of them means it.

An LLM provider that gives a priority is trusted over this (ai.providers.openai); this is the
offline provider's answer, and reads as the evidence an agent can check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class Priority:
    """conversations.models.Priority's values: ai.local stays free of Django, like its siblings."""

    NONE, LOW, MEDIUM, HIGH, URGENT = 0, 1, 2, 3, 4

_FLAGS = re.IGNORECASE | re.UNICODE

# Security and money taken wrongly: an agent must look now, whatever the customer's tone.
_URGENT = re.compile(
    r"\b(urgent(e|emente)?|dringend|urgence|asap|a\.s\.a\.p|emergency|emergencia|notfall"
    r"|hacked|gehackt|pirat[ée]|hackeado|hackerato|hack(er|ed)? (into|in)|compromised|breach|phishing|fraud(ulent)?|stolen (card|account|identity)"
    r"|(someone|somebody) (else )?(logged|signed) in|unauthori[sz]ed (charge|payment|access|login|transaction)s?"
    r"|charged (me )?(twice|two times|three times|double)|double[- ]charged|duplicate (charge|payment)|cobrado dos veces"
    r"|doppelt (abgebucht|belastet)|d[ée]bit[ée] deux fois|security (issue|problem|incident|hole|vulnerability))\b",
    _FLAGS,
)
# The product does not work for the customer: they cannot do their job until it does.
_HIGH = re.compile(
    r"\b(outage|(is|are|was|went|goes) down|down for (everyone|all|us|me)|not (working|loading|responding)|doesn'?t work"
    r"|stopped working|broken|crash(es|ed|ing)?|error 5\d\d|5\d\d error|can(no|')?t (log ?in|sign ?in|access|login|connect|pay|checkout)"
    r"|unable to (log ?in|sign ?in|access|login|connect|pay)|locked out|no (puedo|consigo) (entrar|acceder|iniciar)"
    r"|(ne |n')(peux|arrive) (pas|plus) (à )?(me connecter|acc[ée]der|payer)|kann mich nicht (anmelden|einloggen)|funktioniert nicht"
    r"|no funciona|ne (marche|fonctionne) (pas|plus)|n[ãa]o funciona|non funziona|data loss|lost (all )?(my|our) data"
    r"|production|immediately|right now|as soon as possible|lo antes posible|sofort|au plus vite|imediatamente|subito)\b",
    _FLAGS,
)
_SHOUTED_URGENT = re.compile(r"!{2,}")


@dataclass(frozen=True)
class Urgency:
    priority: int  # conversations.models.Priority value
    cues: tuple[str, ...] = ()


def urgency_assess(text: str, *, sentiment: str = "neutral") -> Urgency:
    """The message's priority from its cues; `sentiment` is an ai.models.Sentiment value."""
    urgent = [m.group(0).lower() for m in _URGENT.finditer(text)]
    high = [m.group(0).lower() for m in _HIGH.finditer(text)]
    if urgent:
        priority = Priority.URGENT
    elif high:
        priority = Priority.HIGH
    else:
        priority = Priority.NONE
    cues = urgent + high
    if sentiment == "frustrated":
        # A customer at the end of their patience is worth answering first, but a frustrated
        # "thanks for nothing" alone is not an outage: it rises one level, to medium at most
        # when there is no other cue.
        priority = min(Priority.URGENT, priority + 1) if priority else Priority.MEDIUM
        cues.append("frustrated")
    elif priority == Priority.HIGH and _SHOUTED_URGENT.search(text):
        priority = Priority.URGENT
        cues.append("!!")
    return Urgency(priority=int(priority), cues=tuple(dict.fromkeys(cues)))


def urgency_priority(text: str, *, sentiment: str = "neutral") -> int:
    """The priority alone, for the provider's one-line use."""
    return urgency_assess(text, sentiment=sentiment).priority
