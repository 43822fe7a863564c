"""The minute tick's one job: re-enqueue records whose queue message was lost, and only those, once.

A queued record whose time is long past, or a sending record whose lease ran out, may have lost its queue message
(a crash between the write and the enqueue). But a burst waits in its queue too: while a channel's queue has
messages waiting, its stuck-looking queued records are taken to be among them and left alone. A record that is
re-enqueued is first marked with a conditional write (its due time moves to now), so two ticks or two sweepers
never both re-enqueue it, and it looks stuck again only after another grace period. Work per tick is bounded,
and while backlogs wait, small: nothing is read when every queue has one, and paging stops at the first page
(oldest first) that only holds records waiting in backlogs; what is left is found by a later tick. Each
re-enqueue is a warning log line and a `Swept` metric: a lost message is news. Duplicates stay harmless: the
sender's conditional claim lets one copy through.
Schedules no longer ride on this tick: EventBridge Scheduler fires them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import get_args

from chalicelib.core import clock
from chalicelib.models.messages import Channel, MessageState, QueueBody
from chalicelib.platform import metrics
from chalicelib.platform.logs import log
from chalicelib.platform.settings import get_settings
from chalicelib.stores import messages as message_store
from chalicelib.stores import queues

PAGES_PER_STATE = 10  # 1,000 stuck-looking records per state per tick
CHANNELS: tuple[str, ...] = get_args(Channel)


def sweep(now: datetime, grace: timedelta) -> int:
    """Re-enqueue records whose queue message was lost; returns how many."""
    count = 0
    backlog: dict[str, bool] = {}
    for state, behind in ((MessageState.queued, 0), (MessageState.sending, 1)):
        if state == MessageState.queued:
            backlog = {channel: queues.waiting(channel) > 0 for channel in CHANNELS}
            if all(backlog.values()):
                continue  # every queue has a backlog: no queued record can be told lost; nothing to read
        cursor = None
        for _ in range(PAGES_PER_STATE):
            stuck, cursor = message_store.list_by_state(state, 100, cursor, due_before=now - grace)
            waiting = [r for r in stuck if state == MessageState.queued and backlog.get(r.channel, False)]
            if stuck and len(waiting) == len(stuck):
                break  # oldest first, and a whole page waits its turn in backlogs: the next tick looks again
            for record in stuck:
                if record in waiting:
                    continue  # waiting its turn in a backlog, most likely: not lost
                if not message_store.mark_swept(record, now):
                    continue  # another sweep got it, or it moved on meanwhile
                queues.enqueue(
                    record.channel, [QueueBody(message_id=record.message_id, attempt=record.attempts - behind)]
                )
                log("message.swept", logging.WARNING, message_id=record.message_id, state=state.value,
                    waited_seconds=round((now - record.due_at).total_seconds()))
                metrics.emit({"Swept": 1}, channel=record.channel, message_id=record.message_id)
                count += 1
            if cursor is None:
                break
    return count


def tick() -> dict[str, int]:
    grace = timedelta(seconds=get_settings().sweep_grace_seconds)
    return {"swept": sweep(clock.now(), grace)}
