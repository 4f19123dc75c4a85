"""Drafts: a reply proposed for a customer message, grounded in knowledge-base passages.

CONTRACT (lead): first cut, extractive from the best passage, no LLM. The `drafts` engineer
replaces the body (recent context in the query, greeting/closing per language, LLM drafts with
numbered passages and the citation check, confidence, knowledge gaps per category); the
signature of `message_draft` stays: the follow-up seam calls it.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from ai.models import Draft, KnowledgeGap
from conversations.models import Message
from kb.search import RELEVANCE_FLOOR, passages_retrieve


def message_draft(message: Message) -> Draft | None:
    """The pipeline's draft for one customer message (one per message: a second delivery of
    the follow-up returns the stored one). None when the message is not a text to answer."""
    if message.kind != Message.Kind.TEXT or message.direction != Message.Direction.INCOMING:
        return None
    existing = Draft.objects.filter(message=message, origin=Draft.Origin.PIPELINE).first()
    if existing is not None:
        return existing
    passages = [p for p in passages_retrieve(query=message.content, limit=3) if p.similarity >= RELEVANCE_FLOOR]
    classification = getattr(message, "ai_classification", None)
    if passages:
        best = passages[0]
        draft = Draft(
            content=best.text, confidence=best.similarity, no_source=False,
            sources=[{"chunk_id": p.chunk_id, "article_id": p.article_id, "slug": p.slug, "title": p.title,
                      "heading_path": p.heading_path, "score": p.score, "similarity": p.similarity} for p in passages],
        )
    else:
        draft = Draft(content="I could not find an answer to this in the knowledge base.", confidence=0.0, no_source=True)
    draft.conversation_id, draft.message = message.conversation_id, message
    draft.provider, draft.model = "local", "extractive"
    draft.language = classification.language if classification else ""
    try:
        with transaction.atomic():
            draft.save()
            if draft.no_source:
                KnowledgeGap.objects.create(
                    category=classification.category if classification else "", question=message.content,
                    conversation_id=message.conversation_id, message=message, draft=draft,
                )
    except IntegrityError:  # another delivery of the same follow-up stored it first
        return Draft.objects.filter(message=message, origin=Draft.Origin.PIPELINE).first()
    return draft
