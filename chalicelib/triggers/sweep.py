"""The minute tick's one job: re-enqueue records whose queue message was lost, and only those, once.

Two places a queue message can be lost, two cheap looks (no index entry just for the sweep):
- a *first* enqueue (a crash between the record's write and the enqueue, with no redelivery to repeat it): new
  messages are read once, shard by shard, from `by_time` behind a per-shard mark (stores/sweep_marks.py) that
  stops at the first record it cannot yet judge;
- a *re-enqueue* (a retry, a pacing delay, an operator's retry): those records sit in the sparse attention
  index while queued, found by due time.
A crashed sender's message needs neither: SQS makes it visible again and the lease takeover claims it.

A burst waits in its queue too: while a channel's queue has messages waiting, its stuck-looking queued records
are taken to be among them and left alone (the mark waits before them). A record that is re-enqueued is first
marked with a conditional write (its due time moves to now), so two ticks or two sweepers never both re-enqueue
it. Each re-enqueue is a warning log line and a `Swept` metric: a lost message is news. Duplicates stay
harmless: the sender's conditional claim lets one copy through.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import get_args

from chalicelib.core import clock, lifecycle
from chalicelib.core.clock import iso
from chalicelib.models.messages import Channel, MessageRecord, MessageState, QueueBody
from chalicelib.operations import replays
from chalicelib.platform import aws, metrics
from chalicelib.platform.logs import log
from chalicelib.platform.settings import get_settings
from chalicelib.stores import message_keys as keys
from chalicelib.stores import message_listing, queues, sweep_marks, transitions
from chalicelib.stores import messages as message_store

PAGE = 100
PAGES_PER_SHARD = 300  # 8 shards x 30,000 new messages per one-minute tick: 4,000 messages/s
FIRST_LOOK = timedelta(hours=25)  # where a shard without a mark starts (a new or migrated table)
CHANNELS: tuple[str, ...] = get_args(Channel)


def _resend(record: MessageRecord, now: datetime, behind: int) -> int:
    if not message_store.mark_swept(record, now):
        return 0  # another sweep got it, or it moved on meanwhile
    queues.enqueue(record.channel, [QueueBody(message_id=record.message_id, attempt=record.attempts - behind)])
    log("message.swept", logging.WARNING, message_id=record.message_id, state=record.state.value,
        waited_seconds=round((now - record.due_at).total_seconds()))
    metrics.emit({"Swept": 1}, channel=record.channel, message_id=record.message_id)
    return 1


def _days(first: str, last: str) -> list[str]:
    day, end = datetime.strptime(first[:10], "%Y-%m-%d"), datetime.strptime(last[:10], "%Y-%m-%d")
    out = []
    while day <= end:
        out.append(day.strftime("%Y-%m-%d"))
        day += timedelta(days=1)
    return out


@dataclass
class _NewEntries:
    """One shard's new index entries from a mark on, page by page, at most PAGES_PER_SHARD pages a tick."""

    shard: int
    mark: str
    until: str
    complete: bool = False  # every entry up to `until` was read (so the mark may move to `until`)

    def __iter__(self) -> Iterator[tuple[str, MessageRecord | None]]:
        pages, start = 0, self.mark
        for day in _days(self.mark, self.until):
            while True:
                entries = message_listing.created_since(f"{day}#{self.shard:02d}", start, self.until, PAGE)
                pages += 1
                records = message_store.get_many([str(e["message_id"]) for e in entries])
                for entry in entries:
                    start = str(entry["time_sk"])
                    yield start, records.get(str(entry["message_id"]))
                if len(entries) < PAGE:
                    break
                if pages >= PAGES_PER_SHARD:
                    return
        self.complete = True


def _behind(record: MessageRecord | None, now: datetime, stuck_before: datetime,
            backlog: dict[str, bool]) -> int | None:
    """How many attempts a lost new message is behind (0 or 1); None when it needs nothing; -1 to hold here."""
    if record is None:
        return None
    if len(record.history) == 1 and record.state == MessageState.queued and record.due_at <= now:
        if record.due_at >= stuck_before or backlog.get(record.channel, False):
            return -1  # swept a moment ago, or most likely waiting its turn: judged by a later tick
        return 0
    if record.state == MessageState.sending and record.attempts == 1 and record.due_at < stuck_before:
        return 1  # a first attempt whose sender and message vanished
    return None


def _sweep_new(shard: int, stored: str | None, now: datetime, grace: timedelta,
               backlog: dict[str, bool]) -> tuple[int, str]:
    """New messages of one shard since its mark; the mark moves past each one judged. Returns the new mark."""
    stuck_before = now - grace
    until = iso(stuck_before)
    # No mark yet, or one ahead of this clock (a clock set back: a test's, or a skewed host): look a day back.
    rewind = stored is not None and stored > until
    mark = stored if stored is not None and not rewind else iso(now - FIRST_LOOK)
    count, entries = 0, _NewEntries(shard, mark, until)
    for time_sk, record in entries:
        behind = _behind(record, now, stuck_before, backlog)
        if behind == -1:
            return count, mark
        if behind is not None and record is not None:
            count += _resend(record, now, behind)
        mark = time_sk
    return count, max(mark, until) if entries.complete else mark


RELEASE_PAGES = 100  # 10,000 deferred messages released a tick; more wait for the next one


def release_deferred(now: datetime) -> int:
    """Deferred messages whose window opened (or whose deadline passed) go back to their queues; the tick's
    look at the attention index is what releases them, no queue message or timer waits per message."""
    released = 0
    for _ in range(RELEASE_PAGES):
        due = message_listing.attention_due(MessageState.deferred, now, PAGE)
        moved = 0
        for record in due:
            if record.state != MessageState.deferred or record.due_at > now:
                continue
            try:
                moved += int(transitions.run(record, lifecycle.Released(now)).changed)
            except Exception as exc:  # noqa: BLE001 - one record must not hold back the others
                log("message.release_failed", logging.ERROR, message_id=record.message_id,
                    error=f"{type(exc).__name__}: {exc}")
        released += moved
        if len(due) < PAGE or moved == 0:
            break
    if released:
        log("message.deferred_released", count=released)
    return released


def sweep(now: datetime, grace: timedelta) -> int:
    """Re-enqueue records whose queue message was lost; returns how many."""
    backlog = {channel: queues.waiting(channel) > 0 for channel in CHANNELS}
    count = 0
    for record in message_listing.attention_due(MessageState.queued, now - grace, PAGE):
        if record.state == MessageState.queued and not backlog.get(record.channel, False):
            count += _resend(record, now, behind=0)
    marks = sweep_marks.get_all()
    aws.client("dynamodb")  # created once here, not raced for by the workers
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda s: _sweep_new(s, marks.get(s), now, grace, backlog), range(keys.SHARDS)))
    sweep_marks.put_all({shard: mark for shard, (_, mark) in enumerate(results)})
    return count + sum(found for found, _ in results)


def tick() -> dict[str, int]:
    """The minute's housekeeping: lost queue messages, then running replays."""
    grace = timedelta(seconds=get_settings().sweep_grace_seconds)
    now = clock.now()
    released = release_deferred(now)
    swept = sweep(now, grace)
    return {"swept": swept, "released": released, "replays": replays.tick()}
