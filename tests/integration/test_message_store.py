"""message_store.create_many: parallel writes, still one conditional write per record."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.core import clock, ids
from chalicelib.models.messages import MessageRecord, MessageSource, MessageState, SmsPayload
from chalicelib.stores import messages as message_store
from chalicelib.stores.messages import new_record
from tests.factories import claim

LATER = timedelta(days=30)


def records(count: int, tag: str) -> list[MessageRecord]:
    """Records due in 30 days: never enqueued, so the runtime's sweeper must not pick them up meanwhile."""
    now = clock.now()
    return [
        new_record(
            ids.deterministic_id("test", tag, str(i)),
            "sms",
            SmsPayload(to=f"+1415555{i:04d}", sender="+15005550006", body=f"body {i}"),
            MessageSource(kind="instant", ref=tag),
            now,
        ).model_copy(update={"due_at": now + LATER})
        for i in range(count)
    ]


def test_new_records_are_all_written(runtime: Any) -> None:
    batch = records(101, ids.random_id("t"))
    assert message_store.create_many(batch) == {r.message_id: None for r in batch}
    stored = [message_store.get(r.message_id) for r in batch]
    assert [s.payload.body for s in stored if s] == [r.payload.body for r in batch]  # type: ignore[union-attr]


def test_existing_records_are_returned_as_stored_and_not_overwritten(runtime: Any) -> None:
    batch = records(5, ids.random_id("t"))
    message_store.create(batch[1].model_copy(update={"due_at": clock.now()}))  # due now, so it can be claimed
    claimed = claim(batch[1].message_id, 0, clock.now(), clock.now() + LATER)
    assert claimed.state == MessageState.sending
    result = message_store.create_many(batch)
    assert [mid for mid, old in result.items() if old is not None] == [batch[1].message_id]
    assert result[batch[1].message_id].state == MessageState.sending  # type: ignore[union-attr]
    assert message_store.get(batch[1].message_id).state == MessageState.sending  # type: ignore[union-attr]
    for record in (batch[0], *batch[2:]):
        assert message_store.get(record.message_id) is not None


def test_replaying_the_same_records_writes_nothing_new(runtime: Any) -> None:
    batch = records(30, ids.random_id("t"))
    message_store.create_many(batch)
    again = message_store.create_many([*batch, batch[0]])  # a duplicate id inside one call is one action
    assert set(again) == {r.message_id for r in batch}
    assert all(old is not None and old.state == MessageState.queued for old in again.values())


def test_settling_again_after_a_lost_answer_is_not_an_error(runtime: Any) -> None:
    """The settle reached DynamoDB but its answer did not come back, so the sender settles again: the second
    write finds its own outcome already in place and accepts it, instead of failing into a takeover."""
    from chalicelib.senders.outcomes import Accepted, Permanent
    from chalicelib.senders.pipeline import settle

    [record] = records(1, ids.random_id("t"))
    message_store.create(record.model_copy(update={"due_at": clock.now()}))
    claimed = claim(record.message_id, 0, clock.now(), clock.now() + LATER)
    outcome = Accepted(provider_message_id="SM1", state="sent")
    first = settle(claimed, outcome)
    again = settle(claimed, outcome)
    assert first.state == again.state == MessageState.sent
    assert [h.state for h in again.history].count(MessageState.sent) == 1
    # A different outcome for the same attempt, once one is written, changes nothing (it is logged, dropped).
    assert settle(claimed, Permanent(reason="no", code="x")).state == MessageState.sent
    assert message_store.get(record.message_id).state == MessageState.sent  # type: ignore[union-attr]


def test_racing_claims_on_one_record_have_exactly_one_winner(runtime: Any) -> None:
    """DynamoDB's conditional writes are atomic; the local runtime makes moto's so (local/atomic_dynamodb.py).
    Without that, moto let two racing senders both claim a fresh record (4 to 17 of 300 trials here)."""
    import threading

    trials, racers = 150, 6  # without the lock: 17 of 300 trials had two winners here
    winners: list[int] = []
    for record in records(trials, ids.random_id("race")):
        # Due now, and created just before its race: the runtime's sweeper (5 s grace here) never sees it queued.
        # `now` is read per trial: read once, a slow machine made later trials' records look overdue, the sweeper
        # queued one, the runtime's sender claimed it first and that trial had no winner.
        now = clock.now()
        record = record.model_copy(update={"due_at": now - timedelta(seconds=1)})
        assert message_store.create(record) is None
        barrier, won = threading.Barrier(racers), list[int]()

        def race(record: MessageRecord = record, barrier: threading.Barrier = barrier, won: list[int] = won,
                 now: datetime = now) -> None:
            barrier.wait()
            try:
                claim(record.message_id, 0, now, now + LATER)  # a lease no one takes over
                won.append(1)
            except message_store.Conflict:
                pass

        threads = [threading.Thread(target=race) for _ in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners.append(len(won))
    assert winners == [1] * trials, f"{sum(1 for w in winners if w > 1)} trials with more than one winner"
