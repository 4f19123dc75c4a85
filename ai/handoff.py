"""Handoff: when the AI must stop answering a conversation by itself and give it to people.

The rules, each a function of its own (tested alone), checked in this order by
`handoff_rule_fired` before every automatic answer (ai/autoreply.py):

1. `asks_for_person`: the customer asks for a person ("talk to a human", "agent please",
   "parler à un conseiller", "mit einem Menschen sprechen", "hablar con una persona", ...).
   Phrases for every language below are checked whatever language the message was detected
   in: a short "human please" is often detected as something else, and customers mix languages.
   A false alarm costs an agent a look; a miss leaves a customer arguing with a bot, so the
   patterns lean towards firing.
2. `category_never_automatic`: the message's (or the conversation's) category is on the
   inbox's never-automatic list (refunds, legal, ...).
3. `sentiment_strongly_negative`: the message's classification says frustrated, or negative
   at or below STRONGLY_NEGATIVE.
4. `ai_answers_unsettled`: the customer wrote again after two AI answers in a row, with no
   agent reply between: the AI has had its two tries.

`conversation_handoff` does the handoff: the conversation goes to its team's queue (the
inbox's default team when routing gave it none; auto-assigned when the inbox auto-assigns),
waits for a person, gets a private note saying why, a `handed_off` event and a ledger row; from
then on the AI never answers it by itself (drafts for agents continue).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from ai.models import AICall, Classification, Operation, Sentiment
from conversations import events, followups, services
from conversations.events import Actor
from conversations.models import Conversation, Message
from conversations.services._common import locked, now

# VADER's compound score (ai/local/sentiment.py) runs -1..1 with -0.05 as its own cut between
# neutral and negative. Ordinary complaints the AI can answer sit above -0.5 ("My parcel is
# late, sadly" -0.42, "This is terrible." -0.48); anger does not ("I am really disappointed,
# the product broke after one day" -0.73, "awful and useless, I hate this" -0.86). sentiment.py
# also clamps every English frustration cue ("third time", "unacceptable") to at most -0.5.
# "Frustrated" always hands off: it is the label of escalation cues (repeats, waiting,
# shouting, angry emoji), in any language.
STRONGLY_NEGATIVE = -0.5

# How many AI answers in a row the customer may answer before people take over.
AI_ANSWERS_BEFORE_HANDOFF = 2

RULE_ASKED_FOR_PERSON = "asked_for_person"
RULE_NEVER_AUTOMATIC = "never_automatic_category"
RULE_NEGATIVE_SENTIMENT = "negative_sentiment"
RULE_UNSETTLED = "ai_answers_unsettled"

REASON_CUSTOMER_BUTTON = "customer asked for a person"


@dataclass(frozen=True)
class Handoff:
    rule: str  # one of the RULE_* codes: analytics count handoffs per rule
    reason: str  # the sentence agents read on the note and the timeline


def _plain(text: str) -> str:
    """Lower case, accents off (NFKD, combining marks dropped), spaces collapsed: "Parler à
    un CONSEILLER" and "parler a un conseiller" read the same. Patterns go through it too."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).split())


# Per language: verbs of reaching someone, the people asked for, and "please". A request is a
# verb followed (within three words: "to a real", "avec un vrai") by a person, or a person
# followed by "please", or a whole message that is just the person ("human!"). German and
# Dutch put the verb last ("mit einem Menschen sprechen"), so there the person may come first.
_LANGUAGES: dict[str, dict] = {  # written as people write them: _plain() folds both sides
    "en": {
        "verbs": r"talk|speak|chat|connect|transfer|put me through|escalate|get me|give me|i want|i need|i would like|i'd like|let me talk",
        "people": r"humans?|(real|live|actual) (person|people|agent|human)|persons?|people|agents?|representatives?|reps?|operators?"
                  r"|someone|somebody|anyone|supervisor|manager|customer service|staff|support team",
        "please": r"please|pls|plz|now",
        "gap": r"(?: (?:to|with|a|an|the|your|some|one|of|real|live|actual|human|me|through))*",
        "phrases": r"\b(real|live|actual) (person|human|agent)\b|\bhuman being\b|\bnot (a|the|your) (bot|robot|machine|ai)\b"
                   r"|\bstop the bot\b|\bno more bots?\b",
    },
    "fr": {
        "verbs": r"parler|discuter|échanger|joindre|contacter|avoir|passez-moi|passer|mettre en relation|être mis en relation"
                 r"|transférer|je veux|je voudrais|je souhaite",
        "people": r"humains?|(vraie|vrai) (personne|humain|conseiller|conseillère)|personne réelle|personnes?|conseillers?|conseillères?"
                  r"|agents?|opérateurs?|opératrices?|quelqu'un|responsable|service client",
        "please": r"s'il vous plaît|s'il te plaît|svp|stp",
    },
    "de": {
        "verbs": r"sprechen|reden|verbinden|durchstellen|weiterleiten|kontaktieren|erreichen|ich will|ich möchte|ich brauche",
        "people": r"menschen?|echten? (menschen?|person|mitarbeiter(in)?)|personen?|mitarbeiter(in|innen)?|berater(in)?|kundenberater(in)?"
                  r"|kundendienst|sachbearbeiter(in)?|agenten?|jemand(em|en)?|ansprechpartner(in)?",
        "please": r"bitte",
        "person_first": True,
    },
    "es": {
        "verbs": r"hablar|comunicarme|contactar|pasar|pásame|páseme|transferir|transfiéreme|atienda|atender|quiero|necesito",
        "people": r"(una |un )?(persona|humano|ser humano|agente|asesora?|operadora?|representante|alguien|ejecutivo|ejecutiva)( real| de verdad)?",
        "please": r"por favor|porfa",
    },
    "it": {
        "verbs": r"parlare|passare|passarmi|contattare|mettermi in contatto|mettere in contatto|trasferire|voglio|vorrei",
        "people": r"operatore|operatrice|persona( reale| vera)?|umano|essere umano|agente|consulente|qualcuno|responsabile",
        "please": r"per favore|perfavore|per piacere",
    },
    "pt": {
        "verbs": r"falar|conversar|transferir|passar|contatar|contactar|quero|preciso|gostaria de",
        "people": r"atendentes?|pessoas?( real| de verdade)?|humanos?|ser humano|agentes?|operador(a|es)?|alguém|consultor(a)?|representante",
        "please": r"por favor|pf|pfv",
    },
    "nl": {
        "verbs": r"spreken|praten|verbinden|doorverbinden|contact|bellen|ik wil|ik zou graag",
        "people": r"mens(en)?|echte (persoon|mens|medewerker)|persoon|medewerker(s)?|medewerkster|iemand|agent|klantenservice",
        "please": r"alstublieft|alsjeblieft|graag|aub",
        "person_first": True,
    },
    "sv": {
        "verbs": r"prata|tala|snacka|koppla|kontakta|jag vill",
        "people": r"en människa|människor|en person|en riktig person|handläggare|personal|någon|kundtjänst|en agent",
        "please": r"tack|snälla",
    },
    "da": {
        "verbs": r"tale|snakke|forbinde|stille mig om|kontakte|jeg vil",
        "people": r"et menneske|mennesker|en person|en rigtig person|en medarbejder|medarbejdere|nogen|kundeservice|en agent",
        "please": r"tak|venligst",
    },
    "no": {  # Norwegian (Bokmål); fastText says "no"
        "verbs": r"snakke|prate|sette meg over|kontakte|jeg vil",
        "people": r"et menneske|mennesker|en person|en ekte person|en ansatt|en medarbeider|noen|kundeservice|en agent",
        "please": r"takk|vennligst",
    },
    "pl": {
        "verbs": r"rozmawiać|porozmawiać|połączyć|przełączyć|chcę|proszę o",
        "people": r"z człowiekiem|człowieka|z konsultantem|konsultanta|z osobą|z pracownikiem|pracownika|z kimś|z agentem|agenta",
        "please": r"proszę",
    },
    "ru": {
        "verbs": r"поговорить|говорить|связаться|соединить|соедините|переключить|переключите|хочу|позовите|позвать",
        "people": r"с человеком|человека|живым человеком|живого человека|с оператором|оператора|оператор|с менеджером|менеджера"
                  r"|с сотрудником|сотрудника|со специалистом|специалиста|с консультантом",
        "please": r"пожалуйста",
    },
    "tr": {
        "verbs": r"konuşmak|görüşmek|bağlayın|bağlar mısınız|istiyorum",
        "people": r"bir insanla|insanla|gerçek bir kişi|bir kişiyle|temsilciyle|müşteri temsilcisi|yetkiliyle|yetkili|operatörle|canlı destek",
        "please": r"lütfen",
        "person_first": True,
    },
}
# Languages without spaces between words: substrings, no word boundaries.
_SUBSTRINGS = {
    "ja": ("オペレーター", "オペレータ", "担当者", "人と話", "人間と話", "有人", "スタッフと話", "人に代わ", "人間に代わ"),
    # Not a bare 人工 ("artificial": 人工智能 is AI itself).
    "zh": ("人工客服", "转人工", "人工服务", "真人", "找人工", "客服人员", "轉人工", "人工客服"),
}


def _compile(spec: dict) -> re.Pattern:
    verbs, people, please = (_plain(spec[key]) for key in ("verbs", "people", "please"))
    gap = spec.get("gap", r"(?: \S+){0,3}")
    alternatives = [
        rf"\b(?:{verbs}){gap} (?:{people})\b",
        rf"\b(?:{people})[ ,!.]*(?:{please})\b",
        rf"^(?:{people})[ !.]*$",
    ]
    if spec.get("person_first"):
        alternatives.append(rf"\b(?:{people})(?: \S+){{0,3}} (?:{verbs})\b")
    if spec.get("phrases"):
        alternatives.append(_plain(spec["phrases"]))
    return re.compile("|".join(f"(?:{alternative})" for alternative in alternatives))


_PATTERNS = {language: _compile(spec) for language, spec in _LANGUAGES.items()}
_PLAIN_SUBSTRINGS = {language: tuple(_plain(s) for s in phrases) for language, phrases in _SUBSTRINGS.items()}

# The languages `asks_for_person` reads (README and tests list them from here).
PERSON_REQUEST_LANGUAGES = tuple(sorted([*_LANGUAGES, *_SUBSTRINGS]))


def asks_for_person(text: str, *, language: str = "") -> str | None:
    """The language whose phrasing of "let me talk to a person" the text uses, or None.
    `language` (the detected one) is tried first; every other language after it."""
    plain = _plain(re.sub(r"[’`´]", "'", text))
    if not plain:
        return None
    order = sorted(PERSON_REQUEST_LANGUAGES, key=lambda code: code != language)
    for code in order:
        if code in _PATTERNS and _PATTERNS[code].search(plain):
            return code
        if code in _PLAIN_SUBSTRINGS and any(phrase in plain for phrase in _PLAIN_SUBSTRINGS[code]):
            return code
    return None


def sentiment_strongly_negative(classification: Classification | None) -> bool:
    if classification is None:
        return False
    if classification.sentiment == Sentiment.FRUSTRATED:
        return True
    return classification.sentiment == Sentiment.NEGATIVE and classification.sentiment_score <= STRONGLY_NEGATIVE


def category_never_automatic(*, conversation: Conversation, classification: Classification | None) -> str | None:
    """The category (the message's, else the conversation's, which an agent may have
    corrected) that the inbox never lets the AI answer, or None."""
    never = {name.strip().lower() for name in conversation.inbox.ai_never_auto_categories if name.strip()}
    for category in (classification.category if classification else "", conversation.ai_category):
        if category and category.lower() in never:
            return category
    return None


def ai_answers_unsettled(*, message: Message) -> bool:
    """The customer wrote `message` after AI_ANSWERS_BEFORE_HANDOFF AI answers in a row (the
    latest replies before it, no agent reply among or after them)."""
    before = Q(created_at__lt=message.created_at) | Q(created_at=message.created_at, pk__lt=message.pk)
    replies = list(
        Message.objects.filter(conversation_id=message.conversation_id, direction=Message.Direction.OUTGOING, kind=Message.Kind.TEXT)
        .filter(before).order_by("-created_at", "-id").values_list("sender_type", flat=True)[:AI_ANSWERS_BEFORE_HANDOFF]
    )
    return len(replies) == AI_ANSWERS_BEFORE_HANDOFF and all(sender == Message.SenderType.AI for sender in replies)


def handoff_rule_fired(*, message: Message, classification: Classification | None) -> Handoff | None:
    """The first handoff rule that fires for this customer message, or None."""
    conversation = message.conversation
    language = asks_for_person(message.content, language=classification.language if classification else "")
    if language:
        return Handoff(RULE_ASKED_FOR_PERSON, f"the customer asked for a person ({language})")
    category = category_never_automatic(conversation=conversation, classification=classification)
    if category:
        return Handoff(RULE_NEVER_AUTOMATIC, f"the AI never answers “{category}” in this inbox")
    if sentiment_strongly_negative(classification):
        return Handoff(RULE_NEGATIVE_SENTIMENT, f"the customer is upset ({classification.sentiment}, {classification.sentiment_score:.2f})")
    if ai_answers_unsettled(message=message):
        return Handoff(RULE_UNSETTLED, f"{AI_ANSWERS_BEFORE_HANDOFF} AI answers in a row did not settle it")
    return None


@transaction.atomic
def conversation_handoff(
    *, conversation: Conversation, reason: str, rule: str = RULE_ASKED_FOR_PERSON, message: Message | None = None,
    at: datetime | None = None,
) -> bool:
    """Give the conversation to people; False (and nothing written) when it already was.
    `message`: the customer message that triggered it, linked on the ledger row."""
    moment = now(at)
    conversation = locked(conversation)
    if conversation.ai_handoff_at is not None:
        return False
    reason = reason.strip()[:300]
    by = Actor.ai(reason)
    inbox = conversation.inbox
    if conversation.team_id is None and inbox.default_team_id is not None:
        services.conversation_team_set(conversation=conversation, team=inbox.default_team, by=by, at=moment)
    if conversation.status != Conversation.Status.OPEN:
        services.conversation_status_set(conversation=conversation, status=Conversation.Status.OPEN, by=by, at=moment)
    conversation = locked(conversation)  # as the services above left it
    conversation.ai_handoff_at, conversation.ai_handoff_reason = moment, reason
    fields = ["ai_handoff_at", "ai_handoff_reason"]
    if conversation.waiting_since is None:
        # The AI's last answer stopped the wait (intake.py); asking for a person starts one,
        # so the queue puts the conversation where a person will see it.
        conversation.waiting_since = moment
        fields.append("waiting_since")
    conversation.save(update_fields=fields)
    events.handed_off(conversation, rule=rule, reason=reason, at=moment)
    services.message_add_note(conversation=conversation, by_ai=True, at=moment,
                              content=f"The AI handed this conversation to the team: {reason}. It will not answer it by itself any more.")
    AICall.objects.create(
        operation=Operation.HANDOFF, provider="local", model=f"handoff:{rule}"[:100], conversation=conversation, message=message,
        created_at=moment,
    )
    followups.conversation_changed(conversation, at=moment)
    if inbox.auto_assign and conversation.assignee_id is None:
        services.conversation_auto_assign(conversation=conversation, by=by, at=moment)
    return True
