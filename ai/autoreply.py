"""Auto-reply: the AI answers the customer by itself when the inbox allows it and it is sure,
and hands the conversation to people when it should not answer.

CONTRACT (lead): not built yet: `draft_autoreply` sends nothing. The `autoreply` engineer
builds it (inbox switch and threshold, sources required, handoff rules in ai/handoff.py); the
signature stays: the follow-up seam calls it after `ai.drafts.message_draft`.
"""

from __future__ import annotations

from ai.models import Draft


def draft_autoreply(draft: Draft) -> bool:
    """Send `draft` to the customer if the inbox's rules allow; True when sent."""
    return False
