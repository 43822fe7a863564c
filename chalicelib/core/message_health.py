"""Pure: how a definition's or a configuration's messages are doing over a window (the health view)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from chalicelib.models.messages import MessageRecord, MessageState

DIED = frozenset({MessageState.failed, MessageState.undelivered, MessageState.expired})
ENDED_WELL = frozenset({MessageState.sent, MessageState.delivered})
PENDING = frozenset({MessageState.queued, MessageState.sending})


def summarize(records: Iterable[MessageRecord], now: datetime) -> dict[str, Any]:
    """Counts by state; failure rate over the messages that ended (died or sent/delivered); the newest error;
    the oldest message still pending and how long it has waited."""
    counts: Counter[str] = Counter()
    last_error: MessageRecord | None = None
    oldest_pending: MessageRecord | None = None
    for record in records:
        counts[record.state.value] += 1
        if record.last_error and (last_error is None or record.updated_at > last_error.updated_at):
            last_error = record
        if record.state in PENDING and (oldest_pending is None or record.created_at < oldest_pending.created_at):
            oldest_pending = record
    died = sum(counts[s.value] for s in DIED)
    ended = died + sum(counts[s.value] for s in ENDED_WELL)
    return {
        "total": sum(counts.values()),
        "by_state": dict(sorted(counts.items())),
        "failure_rate": round(died / ended, 4) if ended else None,
        "last_error": None if last_error is None else {
            "message_id": last_error.message_id, "state": last_error.state.value, "error_code": last_error.error_code,
            "last_error": last_error.last_error, "at": last_error.updated_at.isoformat()},
        "oldest_pending": None if oldest_pending is None else {
            "message_id": oldest_pending.message_id, "state": oldest_pending.state.value,
            "created_at": oldest_pending.created_at.isoformat(),
            "waiting_seconds": round((now - oldest_pending.created_at).total_seconds())},
    }
