"""moto's SQS without a cost per call that grows with the queue's depth, in the local runtime's moto server.

moto builds the list of every visible message on each ReceiveMessage, and computes every queue attribute, the
three approximate counts included, for each message it is sent (to read ContentBasedDeduplication) and each one
it hands out (MessageRetentionPeriod): a burst of N cost N², and a 2,000-SMS burst spent most of its time in moto
counting its queue. Here a receive walks the queue lazily and stops at its batch, and sends and receives read the
attributes without the counts, as SQS's own cost does not grow with depth; GetQueueAttributes answers the same
counts as before. And moto's SQS reads the time through a datetime round trip, several times per message per
receive; it reads `time.time()` here, the same instant without the cost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

_PATCHED = "_outbound_lazy"


def patch() -> None:
    """Idempotent; call before the server starts."""
    from moto.sqs.models import Queue

    if getattr(Queue, _PATCHED, False):
        return

    def messages(self: Any) -> Iterator[Any]:
        return (m for m in self._messages if m.visible and not m.delayed)

    def approximate_number_of_messages(self: Any) -> int:
        return sum(1 for _ in messages(self))

    def wait_for_messages(self: Any, timeout: int) -> None:  # its predicate must be the truth of "any visible"
        with self._messages_lock:
            self._messages_lock.wait_for(lambda: any(True for _ in messages(self)), timeout=timeout)

    from moto.sqs import models

    models.unix_time = lambda dt=None: time.time() if dt is None else _epoch(dt)
    models.unix_time_millis = lambda dt=None: (time.time() if dt is None else _epoch(dt)) * 1000
    Queue.wait_for_messages = wait_for_messages  # type: ignore[method-assign]
    Queue.messages = property(messages)  # type: ignore[assignment,method-assign]
    Queue.approximate_number_of_messages = property(approximate_number_of_messages)  # type: ignore[assignment,method-assign]
    _sends_without_counts()  # after the count above is replaced: it wraps the lazy one
    setattr(Queue, _PATCHED, True)


def _epoch(moment: Any) -> float:
    from moto.core.utils import unix_time

    return float(unix_time(moment))


def _sends_without_counts() -> None:
    """A send reads ContentBasedDeduplication and a receive MessageRetentionPeriod, each through `attributes`,
    which computes the three approximate counts too: during a send or a receive the counts answer 0 at once."""
    from moto.sqs.models import Queue, SQSBackend

    busy = threading.local()
    for name in ("approximate_number_of_messages", "approximate_number_of_messages_delayed",
                 "approximate_number_of_messages_not_visible"):
        count = getattr(Queue, name).fget

        def skipped(self: Any, count: Any = count) -> int:
            return 0 if getattr(busy, "active", False) else int(count(self))

        setattr(Queue, name, property(skipped))

    for name in ("send_message", "receive_message"):
        call = getattr(SQSBackend, name)

        def without_counts(self: Any, *args: Any, call: Any = call, **kwargs: Any) -> Any:
            busy.active = True
            try:
                return call(self, *args, **kwargs)
            finally:
                busy.active = False

        setattr(SQSBackend, name, without_counts)
