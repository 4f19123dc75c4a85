"""The AI pipeline's background work. Thin, as every task here: ids in, one service call.

Classifying and routing a customer message is not a task of its own: it is a step of the
message's follow-up (conversations.followups.message_followup_run -> ai.pipeline.message_classify),
so it shares that task's after-commit queueing, its tenant, its retries and the sweep that
re-queues a follow-up that never ran. Tasks added below: periodic AI jobs (cache expiry,
nightly retraining), each appended at the end of this file by its owner.
"""

from __future__ import annotations
