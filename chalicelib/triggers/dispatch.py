"""The part every trigger shares: write one record per recipient (10 writes in flight), enqueue the new
ones 10 per batch.

Re-running it with the same message ids (a redelivered stream batch or schedule tick) creates nothing new and
only re-enqueues records that never left `queued` - the sender's conditional claim drops the extra copies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from chalicelib.core import backoff, clock, fallback
from chalicelib.models.messages import (
    MessageRecord,
    MessageState,
    QueueBody,
)
from chalicelib.platform import metrics
from chalicelib.platform.logs import log
from chalicelib.stores import messages as message_store
from chalicelib.stores import queues, timeline


def dispatch(records: Sequence[MessageRecord]) -> list[str]:
    """Persist and enqueue; returns the message ids in input order."""
    pending: dict[str, list[QueueBody]] = defaultdict(list)
    stored = message_store.create_many(list(records))
    for record in records:
        existing = stored[record.message_id]
        if record.state != MessageState.queued:
            continue
        if existing is None or (existing.state == MessageState.queued and existing.attempts == 0):
            pending[record.channel].append(QueueBody(message_id=record.message_id, attempt=0))
        log(
            "message.created" if existing is None else "message.duplicate_trigger",
            message_id=record.message_id,
            channel=record.channel,
            source=record.source.kind,
        )
    for record in records:
        if record.timeline_entity and stored[record.message_id] is None:
            entity_type, _, entity_id = record.timeline_entity.partition("#")
            body = getattr(record.payload, "body", None) or getattr(record.payload, "text", "")
            timeline.add(entity_type, entity_id, record, str(body))
    for channel, bodies in pending.items():
        queues.enqueue(channel, bodies)
    _start_fallback_timers([r for r in records if stored[r.message_id] is None])
    created = [r for r in records if stored[r.message_id] is None]
    for record in created:
        if record.state == MessageState.failed:
            # Born dead (a record no message can carry, a contact no message can reach): on the DLQ like every
            # failed message, so its alarm fires and a redrive retries it once the cause is fixed.
            queues.dead_letter(record.channel, QueueBody(message_id=record.message_id, attempt=0),
                               record.last_error or "failed")
    for channel in {r.channel for r in created}:
        mine = [r for r in created if r.channel == channel]
        metrics.emit(
            {
                "Accepted": sum(1 for r in mine if r.state == MessageState.queued),
                "Failed": sum(1 for r in mine if r.state == MessageState.failed),
                "OptedOut": sum(1 for r in mine if r.state == MessageState.opted_out),
            },
            channel=channel,
        )
    return [r.message_id for r in records]


def _start_fallback_timers(created: Sequence[MessageRecord]) -> None:
    """The next channel's timer, on the message's own queue (SQS delays of up to 15 minutes, hop after hop):
    no polling, and it survives restarts and redeploys."""
    now = clock.now()
    for record in created:
        due = fallback.due_at(record)
        if due is None or record.state != MessageState.queued:
            continue
        queues.enqueue(record.channel, [QueueBody(message_id=record.message_id, attempt=0, check="fallback", due=due)],
                       delay=backoff.sqs_delay(now, due))
