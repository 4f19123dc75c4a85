"""Every write on the desk, by concern. The admin, the APIs and the tasks call these, and only
these, so a change made from any door is the same change: one transaction, its event row,
its follow-up queued after commit (`conversations/followups.py`).

- `intake`: open a conversation, customer messages, replies, notes
- `assignment`: team and assignee (one service for both), auto-assignment
- `status`: status, snooze wake-up, priority
- `labels`, `classification`, `csat`
- `sla`: due times and breach flags
- `contacts`: contacts, the fields the business owns, custom attribute limits
- `inboxes`: creating one (within the plan), the widget token and the HMAC secret
- `erasure`: erasing one contact (personal data, message contents, AI artefacts)
- `retention`: the account's retention periods, applied in batches
- `search_words`: customers' words waiting in SearchWords, folded into the search documents

Import the package, not the modules: `from conversations import services`.
"""

from conversations.services.assignment import (
    agent_loads,
    conversation_assign,
    conversation_assignment_set,
    conversation_auto_assign,
    conversation_team_set,
)
from conversations.services.classification import conversation_category_set, conversation_classification_set
from conversations.services.contacts import (
    contact_business_fields_mark,
    contact_create,
    contact_get_or_create_by_external_id,
    contact_update,
    contact_update_by_customer,
    custom_attributes_check,
)
from conversations.services.csat import csat_record
from conversations.services.erasure import TOMBSTONE, ContactErasure, contact_erase
from conversations.services.inboxes import inbox_create, inbox_hmac_secret_rotate, inbox_limit_check, inbox_widget_token_rotate
from conversations.services.intake import (
    conversation_open,
    conversation_open_once,
    message_add_incoming,
    message_add_incoming_by_number,
    message_add_note,
    message_add_reply,
)
from conversations.services.labels import conversation_labels_add, conversation_labels_remove, conversation_labels_set
from conversations.services.retention import (
    RetentionRun,
    account_retention_set,
    ai_payloads_retention_apply,
    messages_retention_apply,
    retention_apply,
)
from conversations.services.search_words import search_words_discard, search_words_fold
from conversations.services.sla import sla_apply, sla_breaches_mark
from conversations.services.status import conversation_priority_set, conversation_status_set, conversations_wake_snoozed

__all__ = [
    "TOMBSTONE",
    "ContactErasure",
    "RetentionRun",
    "account_retention_set",
    "agent_loads",
    "ai_payloads_retention_apply",
    "contact_business_fields_mark",
    "contact_create",
    "contact_erase",
    "contact_get_or_create_by_external_id",
    "contact_update",
    "contact_update_by_customer",
    "conversation_assign",
    "conversation_assignment_set",
    "conversation_auto_assign",
    "conversation_category_set",
    "conversation_classification_set",
    "conversation_labels_add",
    "conversation_labels_remove",
    "conversation_labels_set",
    "conversation_open",
    "conversation_open_once",
    "conversation_priority_set",
    "conversation_status_set",
    "conversation_team_set",
    "conversations_wake_snoozed",
    "csat_record",
    "custom_attributes_check",
    "inbox_create",
    "inbox_hmac_secret_rotate",
    "inbox_limit_check",
    "inbox_widget_token_rotate",
    "message_add_incoming",
    "message_add_incoming_by_number",
    "message_add_note",
    "message_add_reply",
    "messages_retention_apply",
    "retention_apply",
    "search_words_discard",
    "search_words_fold",
    "sla_apply",
    "sla_breaches_mark",
]
