"""Drafts: a reply proposed for a customer message, grounded in knowledge-base passages.

One draft per customer message, made by the message's follow-up (conversations/followups.py,
in Celery, in the tenant) after the message is classified; agents may ask for another one
(`draft_regenerate_run`, also in Celery). How a draft is made:

1. Retrieve the passages closest to the question (kb.search.passages_retrieve). A follow-up
   ("it still doesn't work") means little alone, so the conversation's recent customer
   messages are searched with it too, and each passage keeps its best similarity.
2. Nothing at or above `RELEVANCE_FLOOR`: the draft says so plainly (`no_source`, never sent
   automatically) and the question becomes a KnowledgeGap under its category.
3. With a paid provider (the tenant's chat model): the numbered passages go to the model,
   which must cite them as [1], [2]; a citation of a passage it was not given is removed and
   counted (`citations_removed`). A failing provider (or a spent budget) falls back to 4.
4. Locally: an extractive answer: the few sentences of the passages most similar to the
   question (not a whole chunk), between a greeting and a closing in the customer's language.

Confidence is the retrieval's (how far above the floor the best passage is), lowered when
the classifier found the message out of scope or an LLM cited nothing it was given. No
transaction is open during the embedding or generation calls.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Q

from accounts.plans import account_current
from ai import calls, plan_allowance
from ai.models import Classification, Draft, KnowledgeGap, Provider
from ai.settings_store import ai_settings_get
from conversations.models import Message
from kb.search import RELEVANCE_FLOOR, Passage, passages_retrieve

# Earlier customer messages searched with the question: enough for a follow-up to mean
# something, few enough that an old topic does not outweigh the new one.
CONTEXT_MESSAGES = 2
CONTEXT_CHARS = 500
# Passages retrieved, and how many of them a draft may use (and an LLM is given).
RETRIEVE = 6
PASSAGES_USED = 3
# The local draft: at most this many sentences, and only ones nearly as close to the
# question as the best (a sentence much further away is padding).
SENTENCES_MAX = 3
SENTENCE_MARGIN = 0.04
# A best passage this far above the floor is a confident match (confidence 1.0).
CONFIDENT_MARGIN = 0.08
OUT_OF_SCOPE_FACTOR = 0.8
UNCITED_FACTOR = 0.5
GENERATE_MAX_TOKENS = 400

# Greeting (with "{name}" for the customer's first name) and closing, per language. A
# language not here gets English; the passages themselves stay in the articles' language.
SALUTATIONS: dict[str, tuple[str, str, str]] = {
    # language: (greeting with name, greeting without name, closing)
    "en": ("Hello {name},", "Hello,", "I hope this helps. Let us know if you have any other questions."),
    "fr": ("Bonjour {name},", "Bonjour,", "J'espère que cela vous aide. N'hésitez pas à nous écrire si vous avez d'autres questions."),
    "de": ("Hallo {name},", "Hallo,", "Ich hoffe, das hilft Ihnen weiter. Melden Sie sich gern, wenn Sie weitere Fragen haben."),
    "es": ("Hola {name}:", "Hola:", "Espero que esto le sirva de ayuda. No dude en escribirnos si tiene más preguntas."),
    "it": ("Buongiorno {name},", "Buongiorno,", "Spero che questo le sia utile. Non esiti a scriverci per qualsiasi altra domanda."),
    "pt": ("Olá {name},", "Olá,", "Espero que isto ajude. Se tiver mais alguma dúvida, é só nos escrever."),
    "nl": ("Hallo {name},", "Hallo,", "Ik hoop dat dit helpt. Laat het ons gerust weten als u nog vragen heeft."),
}
LANGUAGE_NAMES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian", "pt": "Portuguese", "nl": "Dutch"}

NO_SOURCE_TEXT = (
    "No article in the knowledge base answers this question, so there is no draft to send. "
    "Please answer it yourself; the question is recorded as a knowledge gap for the {category} category."
)

_CITATION = re.compile(r"\s*\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'«(\[]?[A-ZÀ-ÖØ-Þ0-9])")
_MARKDOWN_NOISE = re.compile(r"^\s*(?:#{1,6}\s+|[-*+]\s+|\d+[.)]\s+|>\s*)")


@dataclass
class _Composed:
    """What a draft says and why, before it is stored."""

    content: str
    confidence: float
    reasoning: str
    sources: list[dict]
    provider: str
    model: str
    no_source: bool = False
    citations_removed: int = 0
    best_similarity: float | None = None
    latency_ms: float = 0.0
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- entry points


def message_draft(message: Message) -> Draft | None:
    """The pipeline's draft for one customer message (one per message: a second delivery of
    the follow-up returns the stored one). None when the message is not a text to answer."""
    if message.kind != Message.Kind.TEXT or message.direction != Message.Direction.INCOMING:
        return None
    existing = Draft.objects.filter(message=message, origin=Draft.Origin.PIPELINE).first()
    if existing is not None:
        return existing
    if plan_allowance.ai_allowance_used_up(account=account_current()) is not None:
        return None  # the plan's AI allowance is used up (the classify step said so on the timeline)
    classification = Classification.objects.filter(message=message).first()
    composed = _compose(message, classification=classification, use_cache=True)
    draft = Draft(conversation_id=message.conversation_id, message=message, origin=Draft.Origin.PIPELINE)
    _fill(draft, composed, classification)
    try:
        with transaction.atomic():
            # A draft for an older message than one already drafted arrives stale.
            if _newer_draft_exists(message):
                draft.status = Draft.Status.SUPERSEDED
            draft.save()
            _older_pending_supersede(message, keep=draft)
            if draft.no_source:
                _gap_record(message, draft=draft, classification=classification, best_similarity=composed.best_similarity)
    except IntegrityError:  # another delivery of the same follow-up stored it first
        return Draft.objects.filter(message=message, origin=Draft.Origin.PIPELINE).first()
    return draft


def draft_regenerate_run(*, draft: Draft) -> Draft:
    """Fill a regenerated draft (made empty by ai.services.draft_regenerate, in the request)
    with a new answer to its message. A second delivery finds it filled and leaves it."""
    if draft.content or draft.status != Draft.Status.PENDING:
        return draft
    message = draft.message
    if message is None:  # the message was deleted meanwhile
        draft.content, draft.no_source, draft.provider, draft.model = "The message this draft answered is gone.", True, Provider.LOCAL, "none"
        draft.save(update_fields=["content", "no_source", "provider", "model"])
        return draft
    classification = Classification.objects.filter(message=message).first()
    # The agent asked for another answer: an LLM is asked again rather than served its cached one.
    composed = _compose(message, classification=classification, use_cache=False)
    requested = draft.reasoning  # who asked, from which draft
    _fill(draft, composed, classification)
    draft.reasoning = f"{requested}\n{draft.reasoning}".strip()
    with transaction.atomic():
        updated = Draft.objects.filter(pk=draft.pk, content="", status=Draft.Status.PENDING).update(
            content=draft.content, confidence=draft.confidence, reasoning=draft.reasoning, sources=draft.sources,
            no_source=draft.no_source, citations_removed=draft.citations_removed, language=draft.language,
            provider=draft.provider, model=draft.model, latency_ms=draft.latency_ms,
        )
        if updated and draft.no_source and not KnowledgeGap.objects.filter(message=message).exists():
            _gap_record(message, draft=draft, classification=classification, best_similarity=composed.best_similarity)
    draft.refresh_from_db()
    return draft


# ----------------------------------------------------------------------------- storing


def _fill(draft: Draft, composed: _Composed, classification: Classification | None) -> None:
    draft.content = composed.content
    draft.confidence = round(composed.confidence, 4)
    draft.reasoning = composed.reasoning
    draft.sources = composed.sources
    draft.no_source = composed.no_source
    draft.citations_removed = composed.citations_removed
    draft.language = (classification.language if classification else "")[:16]
    draft.provider = composed.provider[:20]
    draft.model = composed.model[:100]
    draft.latency_ms = composed.latency_ms


def drafts_newer_than(message: Message) -> Q:
    """Drafts answering a later customer message of the same conversation."""
    return Q(message__created_at__gt=message.created_at) | Q(message__created_at=message.created_at, message_id__gt=message.pk)


def _newer_draft_exists(message: Message) -> bool:
    return Draft.objects.filter(conversation_id=message.conversation_id).filter(drafts_newer_than(message)).exists()


def _older_pending_supersede(message: Message, *, keep: Draft) -> int:
    """A new customer message makes the drafts for earlier ones stale."""
    return (
        Draft.objects.filter(conversation_id=message.conversation_id, status=Draft.Status.PENDING)
        .exclude(pk=keep.pk).exclude(drafts_newer_than(message)).exclude(message=message)
        .update(status=Draft.Status.SUPERSEDED)
    )


def _gap_record(message: Message, *, draft: Draft, classification: Classification | None, best_similarity: float | None) -> KnowledgeGap:
    category = classification.category if classification and not classification.is_out_of_scope else ""
    return KnowledgeGap.objects.create(
        category=category, question=message.content, conversation_id=message.conversation_id, message=message,
        draft=draft, best_similarity=best_similarity,
    )


# ----------------------------------------------------------------------------- composing


def _context(message: Message) -> list[str]:
    """The conversation's customer messages just before this one, oldest first."""
    earlier = (
        Message.objects.filter(conversation_id=message.conversation_id, direction=Message.Direction.INCOMING, kind=Message.Kind.TEXT)
        .filter(Q(created_at__lt=message.created_at) | Q(created_at=message.created_at, pk__lt=message.pk))
        .order_by("-created_at", "-pk").values_list("content", flat=True)[:CONTEXT_MESSAGES]
    )
    return [text[:CONTEXT_CHARS] for text in reversed(list(earlier))]


def _retrieve(question: str, context: list[str], *, message: Message) -> tuple[list[Passage], bool]:
    """Passages for the question, best first, and whether the context was needed. The
    question alone comes first: searched together, an earlier topic outweighs a new one
    ("refund?" then "and my parcel?" finds refunds again). Only when the question alone finds
    nothing relevant ("it still doesn't work") is it searched again in its context, each
    passage keeping its best similarity."""
    links = {"conversation": message.conversation, "message": message}
    found = {p.chunk_id: p for p in passages_retrieve(query=question, limit=RETRIEVE, **links)}
    alone_relevant = any(p.similarity >= RELEVANCE_FLOOR for p in found.values())
    if context and not alone_relevant:
        # The question first: a long context is cut at the end (passages_retrieve keeps the start).
        for passage in passages_retrieve(query="\n".join([question, *reversed(context)]), limit=RETRIEVE, **links):
            if passage.chunk_id not in found or passage.similarity > found[passage.chunk_id].similarity:
                found[passage.chunk_id] = passage
    return sorted(found.values(), key=lambda p: (-p.similarity, -p.score, p.chunk_id)), bool(context) and not alone_relevant


def _passage_name(passage: Passage) -> str:
    where = passage.heading_path if passage.heading_path and passage.heading_path != passage.title else ""
    return f"“{passage.title}”" + (f" › {where}" if where else "")


def _retrieval_confidence(best: float) -> float:
    """0.5 at the floor, 1.0 at CONFIDENT_MARGIN above it: above the floor means some answer."""
    return 0.5 + 0.5 * min(1.0, max(0.0, (best - RELEVANCE_FLOOR) / CONFIDENT_MARGIN))


def _source(passage: Passage, *, cited: bool | None = None) -> dict:
    source = {
        "chunk_id": passage.chunk_id, "article_id": passage.article_id, "slug": passage.slug, "title": passage.title,
        "heading_path": passage.heading_path, "score": round(passage.score, 4), "similarity": round(passage.similarity, 4),
    }
    if cited is not None:
        source["cited"] = cited
    return source


def _compose(message: Message, *, classification: Classification | None, use_cache: bool) -> _Composed:
    started = time.perf_counter()
    context = _context(message)
    passages, context_used = _retrieve(message.content, context, message=message)
    question = "\n".join([*context, message.content]) if context_used else message.content
    relevant = [p for p in passages if p.similarity >= RELEVANCE_FLOOR][:PASSAGES_USED]
    best_similarity = passages[0].similarity if passages else None
    if not relevant:
        composed = _no_source(classification, best=passages[0] if passages else None)
    else:
        composed = None
        if _llm_configured():
            try:
                composed = _llm_draft(message, relevant, context=context, classification=classification, use_cache=use_cache)
            except calls.GenerationUnavailable as error:
                note = f"The chat model failed ({str(error)[:200]}): an extractive draft instead."
                composed = _local_draft(message, relevant, question=question, classification=classification)
                composed.reasoning = f"{note}\n{composed.reasoning}"
        if composed is None:
            composed = _local_draft(message, relevant, question=question, classification=classification)
        if classification is not None and classification.is_out_of_scope:
            composed.confidence *= OUT_OF_SCOPE_FACTOR
            composed.reasoning += "\nThe classifier found the message out of scope: confidence lowered."
    if context_used:
        composed.reasoning += f"\nThe message alone matched nothing: searched again with {len(context)} earlier customer message(s) as context."
    composed.best_similarity = best_similarity
    composed.latency_ms = (time.perf_counter() - started) * 1000
    return composed


def _no_source(classification: Classification | None, *, best: Passage | None) -> _Composed:
    category = classification.category if classification and classification.category else "out-of-scope"
    if best is None:
        why = "The knowledge base returned no passage for this question."
    else:
        why = f"The closest passage, {_passage_name(best)}, has similarity {best.similarity:.3f}, below the relevance floor {RELEVANCE_FLOOR:.3f}."
    return _Composed(
        content=NO_SOURCE_TEXT.format(category=category), confidence=0.0, reasoning=why, sources=[],
        provider=Provider.LOCAL, model="no-source", no_source=True,
    )


# ----------------------------------------------------------------------------- local: extractive


def _salutation(language: str, name: str) -> tuple[str, str]:
    greeting_named, greeting, closing = SALUTATIONS.get((language or "en").split("-")[0].lower(), SALUTATIONS["en"])
    first_name = (name or "").strip().split(" ")[0] if name else ""
    return (greeting_named.format(name=first_name) if first_name else greeting), closing


def _sentences(text: str) -> list[str]:
    """The passage's sentences (Markdown list marks and heading hashes dropped)."""
    sentences = []
    for line in text.splitlines():
        line = _MARKDOWN_NOISE.sub("", line).strip()
        if not line:
            continue
        sentences.extend(part.strip() for part in _SENTENCE_END.split(line) if len(part.strip()) > 3)
    return sentences


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


_WORD = re.compile(r"\w{3,}", re.UNICODE)


def _overlap(question: str, sentence: str) -> float:
    """Share of the question's words found in the sentence: the ranking when embeddings fail."""
    words = {w.lower() for w in _WORD.findall(question)}
    return len(words & {w.lower() for w in _WORD.findall(sentence)}) / len(words) if words else 0.0


def _sentences_rank(message: Message, question: str, passages: list[Passage]) -> list[tuple[float, int, int, str]]:
    """(score, passage index, position, sentence) for every sentence of the passages, best
    first, by similarity to `question` (the message, in its context when that was needed)."""
    candidates = [(i, position, sentence) for i, p in enumerate(passages) for position, sentence in enumerate(_sentences(p.text))]
    if not candidates:
        return []
    outcome = calls.embed(texts=[question, *[c[2] for c in candidates]], conversation=message.conversation, message=message)
    vectors = outcome.value or []
    ranked = []
    for k, (i, position, sentence) in enumerate(candidates):
        if len(vectors) == len(candidates) + 1 and vectors[0] is not None and vectors[k + 1] is not None:
            score = _cosine(vectors[0], vectors[k + 1])
        else:
            score = _overlap(question, sentence)
        # The passage's own rank breaks near-ties: the best passage's sentence wins.
        ranked.append((score - 0.005 * i, i, position, sentence))
    return sorted(ranked, key=lambda r: -r[0])


def _local_draft(message: Message, passages: list[Passage], *, question: str, classification: Classification | None) -> _Composed:
    ranked = _sentences_rank(message, question, passages)
    chosen = [r for r in ranked if r[0] >= ranked[0][0] - SENTENCE_MARGIN][:SENTENCES_MAX] if ranked else []
    # In the order the articles tell it: by article (best first), then passage, then sentence.
    article_rank = {}
    for p in passages:
        article_rank.setdefault(p.article_id, len(article_rank))
    chosen.sort(key=lambda r: (article_rank[passages[r[1]].article_id], passages[r[1]].chunk_id, r[2]))
    used = sorted({r[1] for r in chosen})
    body = " ".join(r[3] for r in chosen) or passages[0].text.strip()
    language = classification.language if classification else ""
    greeting, closing = _salutation(language, message.conversation.contact.name if message.conversation.contact_id else "")
    sources = [_source(passages[i]) for i in used] or [_source(passages[0])]
    best = passages[0].similarity
    lines = [f"Extractive: {len(chosen)} sentence(s) most similar to the question, from:"]
    for n, i in enumerate(used or [0], start=1):
        p = passages[i]
        picked = [r for r in chosen if r[1] == i]
        lines.append(f"[{n}] {_passage_name(p)}, similarity {p.similarity:.3f}"
                     + (f"; best sentence {max(r[0] for r in picked):.3f}" if picked else ""))
    lines.append(f"Confidence from the best passage's similarity {best:.3f} (floor {RELEVANCE_FLOOR:.3f}).")
    if (language or "en").split("-")[0] not in SALUTATIONS:
        lines.append(f"No greeting for language “{language}”: English used.")
    return _Composed(
        content=f"{greeting}\n\n{body}\n\n{closing}", confidence=_retrieval_confidence(best), reasoning="\n".join(lines),
        sources=sources, provider=Provider.LOCAL, model="extractive",
    )


# ----------------------------------------------------------------------------- LLM: cited


def _llm_configured() -> bool:
    """Asking `generate` when only local is set up would write a failed ledger row per draft."""
    ai_settings = ai_settings_get()
    return ai_settings.provider == Provider.OPENAI and bool(ai_settings.chat_model)


def _llm_messages(message: Message, passages: list[Passage], *, context: list[str], language: str) -> list[dict]:
    language_name = LANGUAGE_NAMES.get((language or "").split("-")[0], "the customer's language")
    system = (
        "You draft replies for a customer support agent. Answer the customer's last message using ONLY the numbered "
        "passages from the help centre. After each statement taken from a passage, cite it by its number in square "
        "brackets, like [1] or [2]. Never cite a number that is not in the list. If the passages do not answer the "
        f"question, say that plainly. Write in {language_name}, with a short greeting and closing; no more than "
        "120 words. Do not invent policies, prices or links."
    )
    numbered = "\n\n".join(f"[{n}] {p.title} — {p.heading_path}\n{p.text.strip()}" for n, p in enumerate(passages, start=1))
    earlier = "\n".join(f"- {text}" for text in context)
    user = f"Passages:\n\n{numbered}\n\n" + (f"Earlier messages from the customer:\n{earlier}\n\n" if earlier else "") + f"Customer's message:\n{message.content}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def citations_check(text: str, *, passages: int) -> tuple[str, set[int], int]:
    """`text` without citations of passages it was not given ([n] for n outside 1..passages),
    the valid numbers cited, and how many were removed."""
    cited: set[int] = set()
    removed = 0

    def keep_valid(match: re.Match) -> str:
        nonlocal removed
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        valid = [n for n in numbers if 1 <= n <= passages]
        removed += len(numbers) - len(valid)
        cited.update(valid)
        if not valid:
            return ""
        return match.group(0)[: len(match.group(0)) - len(match.group(0).lstrip())] + "[" + ", ".join(map(str, valid)) + "]"

    cleaned = _CITATION.sub(keep_valid, text)
    return cleaned.strip(), cited, removed


def _llm_draft(message: Message, passages: list[Passage], *, context: list[str], classification: Classification | None, use_cache: bool) -> _Composed:
    language = classification.language if classification else ""
    outcome = calls.generate(
        messages=_llm_messages(message, passages, context=context, language=language), max_tokens=GENERATE_MAX_TOKENS,
        use_cache=use_cache, conversation=message.conversation, message=message,
    )
    if outcome.provider != Provider.OPENAI:
        raise calls.GenerationUnavailable("the local provider answered")
    text = str(outcome.value or "").strip()
    if not text:
        raise calls.GenerationUnavailable("the chat model returned an empty answer")
    content, cited, removed = citations_check(text, passages=len(passages))
    best = passages[0].similarity
    confidence = _retrieval_confidence(best)
    lines = [f"Written by {outcome.model} from {len(passages)} numbered passage(s):"]
    for n, p in enumerate(passages, start=1):
        lines.append(f"[{n}] {_passage_name(p)}, similarity {p.similarity:.3f}" + (", cited" if n in cited else ", not cited"))
    if removed:
        lines.append(f"{removed} citation(s) of passages it was not given removed.")
    if not cited:
        confidence *= UNCITED_FACTOR
        lines.append("It cited no passage: confidence halved.")
    lines.append(f"Confidence from the best passage's similarity {best:.3f} (floor {RELEVANCE_FLOOR:.3f}).")
    return _Composed(
        content=content, confidence=confidence, reasoning="\n".join(lines),
        sources=[_source(p, cited=n in cited) for n, p in enumerate(passages, start=1)],
        provider=outcome.provider, model=outcome.model, citations_removed=removed,
    )
