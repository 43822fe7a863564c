"""The minute tick's one job: re-enqueue records whose queue message was lost.

A queued record whose time is long past, or a sending record whose lease ran out, lost its queue message (a crash
between the write and the enqueue); it is enqueued again. Duplicates are harmless: the sender's conditional claim
lets exactly one copy through. Schedules no longer ride on this tick: EventBridge Scheduler fires them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from chalicelib.core import clock
from chalicelib.models.messages import MessageState, QueueBody
from chalicelib.platform.logs import log
from chalicelib.platform.settings import get_settings
from chalicelib.stores import messages as message_store
from chalicelib.stores import queues


def sweep(now: datetime, grace: timedelta) -> int:
    """Re-enqueue records whose queue message was lost; returns how many."""
    count = 0
    for state, behind in ((MessageState.queued, 0), (MessageState.sending, 1)):
        cursor = None
        while True:
            stuck, cursor = message_store.list_by_state(state, 100, cursor, due_before=now - grace)
            for record in stuck:
                queues.enqueue(
                    record.channel, [QueueBody(message_id=record.message_id, attempt=record.attempts - behind)]
                )
                log("message.swept", logging.WARNING, message_id=record.message_id, state=state.value)
                count += 1
            if cursor is None:
                break
    return count


def tick() -> dict[str, int]:
    grace = timedelta(seconds=get_settings().sweep_grace_seconds)
    return {"swept": sweep(clock.now(), grace)}
