"""Channel fallback, the decisions: whether a customer message's next channel is due, and its id.

The next step's message id derives from the logical message and the step, so taking a step is once by
construction: every trigger (a failure callback, its duplicates, the timer) builds the same message, and the
store creates it only once. Consent-related failures never fall back (the person said no, on some channel).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from chalicelib.core import ids
from chalicelib.models.messages import FallbackMark, MessageRecord, MessageState

# Twilio 21610 (replied STOP), 63014 (blocked by the user's action), WhatsApp 131050 (stopped marketing messages)
CONSENT_CODES = frozenset({"21610", "63014", "131050"})
Trigger = Literal["failed", "timer"]
S = MessageState


def next_id(mark: FallbackMark) -> str:
    return ids.deterministic_id("fallback", mark.logical, str(mark.step + 1))


def chain_ids(mark: FallbackMark) -> list[str]:
    """Every message id the chain has or may have, first to last."""
    total = mark.step + 1 + len(mark.plan)
    return [mark.logical, *(ids.deterministic_id("fallback", mark.logical, str(k)) for k in range(1, total))]


def verdict(record: MessageRecord, trigger: Trigger) -> Literal["go", "later", "never"]:
    """Pure: `go` takes the next step now; `later` looks again soon (the attempt is still being made); `never`:
    delivered, refused by the person, deleted by an operator, or no step left."""
    mark = record.fallback
    if mark is None or not mark.plan:
        return "never"
    if record.state in {S.delivered, S.opted_out, S.deleted, S.superseded}:
        return "never"
    if (record.error_code or "") in CONSENT_CODES:
        return "never"
    if record.state in {S.failed, S.undelivered, S.expired}:
        return "go"
    if trigger == "failed":
        return "never"  # a failure event for a message that is not failed (any more): nothing to do
    # Still being made, or waiting for the recipient's window: later. Sent, never delivered: the timer's case.
    return "later" if record.state in {S.queued, S.sending, S.deferred} else "go"


def due_at(record: MessageRecord) -> datetime | None:
    """When the timer of the next step falls due: its `after_seconds` from the message's creation."""
    mark = record.fallback
    if mark is None or not mark.plan:
        return None
    return record.created_at + timedelta(seconds=int(mark.plan[0].get("after_seconds", 300)))
