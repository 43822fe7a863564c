"""Sender budgets in DynamoDB (stores/pacing.py): racing senders never share a slot, and a bucket booked past a
message's deadline refuses it without using a slot."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core import clock
from chalicelib.models.messages import PaceBucket
from chalicelib.stores import pacing as pacing_store


def bucket(per_second: float = 10.0, burst: int = 1) -> PaceBucket:
    return PaceBucket(key=f"sms#twilio#test-{uuid.uuid4().hex[:8]}", per_second=per_second, burst=burst)


def test_racing_senders_each_get_their_own_slot(runtime: Any) -> None:
    paced = bucket(per_second=10.0)
    now = clock.now()
    slots: list[datetime] = []
    barrier = threading.Barrier(8)

    def sender() -> None:
        barrier.wait()
        for _ in range(5):
            at = pacing_store.reserve(paced, now, now + timedelta(hours=1))
            assert at is not None
            slots.append(at)

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    offsets = sorted(round((at - now).total_seconds(), 3) for at in slots)
    assert offsets == [round(k * 0.1, 3) for k in range(40)]


def test_a_bucket_booked_past_the_deadline_refuses_without_taking_a_slot(runtime: Any) -> None:
    paced = bucket(per_second=1.0)
    now = clock.now()
    deadline = now + timedelta(seconds=2.5)
    got = [pacing_store.reserve(paced, now, deadline) for _ in range(5)]
    assert [None if at is None else round((at - now).total_seconds()) for at in got] == [0, 1, 2, None, None]
    # a message with a later deadline gets the slot the refused ones did not use
    later = pacing_store.reserve(paced, now, now + timedelta(hours=1))
    assert later is not None and round((later - now).total_seconds()) == 3


def test_an_idle_bucket_starts_again_at_now(runtime: Any) -> None:
    paced = bucket(per_second=1.0, burst=2)
    now = clock.now()
    first = [pacing_store.reserve(paced, now, now + timedelta(hours=1)) for _ in range(3)]
    assert [round((at - now).total_seconds()) for at in first if at] == [0, 0, 1]
    much_later = now + timedelta(minutes=5)
    assert pacing_store.reserve(paced, much_later, much_later + timedelta(hours=1)) == much_later


def test_all_buckets_give_the_latest_slot_and_name_it(runtime: Any) -> None:
    slow, fast = bucket(per_second=0.5), bucket(per_second=100.0)
    now = clock.now()
    latest = now + timedelta(hours=1)
    assert pacing_store.reserve_all([slow, fast], now, latest) == (now, "")
    at, why = pacing_store.reserve_all([slow, fast], now, latest) or (None, None)
    assert at == now + timedelta(seconds=2) and why == slow.key
