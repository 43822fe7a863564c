"""The console's chart data (pure): every message of the window lands in exactly one bucket and one series, so a
chart's totals are the health view's counts for the same records; latency percentiles by nearest rank."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core.message_chart import OUTCOME, chart, percentile
from chalicelib.core.message_health import summarize
from chalicelib.models.messages import MessageRecord, MessageSource, MessageState, SmsPayload, StateChange

NOW = datetime(2026, 12, 5, 14, 30, 20, tzinfo=UTC)


def message(n: int, age_seconds: float, state: MessageState, channel: str = "sms",
            latency: float | None = None) -> MessageRecord:
    created = NOW - timedelta(seconds=age_seconds)
    history = [StateChange(state=MessageState.queued, at=created)]
    if latency is not None:
        history += [StateChange(state=MessageState.sent, at=created + timedelta(seconds=1)),
                    StateChange(state=MessageState.delivered, at=created + timedelta(seconds=1 + latency))]
    return MessageRecord(message_id=f"m{n}", channel=channel, state=state, created_at=created, updated_at=created,
                         deadline=created, due_at=created, source=MessageSource(kind="instant", ref="s"),
                         payload=SmsPayload(to="+14155550100", sender="+1", body="b"), history=history)


def test_an_hour_is_sixty_one_minute_buckets_and_each_message_counts_once() -> None:
    records = [message(1, 10, MessageState.delivered, latency=2.0), message(2, 70, MessageState.failed),
               message(3, 75, MessageState.queued, "whatsapp"), message(4, 3599, MessageState.expired)]
    drawn: Any = chart(records, NOW, 1)
    buckets = drawn["buckets"]
    assert drawn["bucket_seconds"] == 60 and len(buckets) == 61  # 13:30 .. 14:30, both partial
    assert buckets[0]["start"].startswith("2026-12-05T13:30:00") and buckets[-1]["start"].startswith("2026-12-05T14:30")
    assert buckets[-1]["states"] == {"delivered": 1, "sent": 0, "failed": 0, "expired": 0, "other": 0}
    assert buckets[-2]["states"]["failed"] == 1 and buckets[-2]["states"]["other"] == 1
    assert buckets[-2]["channels"] == {"sms": 1, "whatsapp": 1}
    assert drawn["pending"] == 1 and drawn["oldest_pending_seconds"] == 75
    assert drawn["latency_seconds"] == {"p50": 2.0, "p90": 2.0, "p99": 2.0}


def test_an_empty_window_draws_empty_buckets() -> None:
    drawn: Any = chart([], NOW, 168)
    assert drawn["bucket_seconds"] == 3600 and len(drawn["buckets"]) == 169
    assert all(sum(b["states"].values()) == 0 for b in drawn["buckets"])
    assert drawn["latency_seconds"] is None and drawn["pending"] == 0 and drawn["oldest_pending_seconds"] is None


def test_percentiles_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 90), percentile(values, 99)) == (50.0, 90.0, 99.0)
    assert percentile([7.0], 99) == 7.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 24 * 3600 - 1), st.sampled_from(list(MessageState)),
                          st.sampled_from(["sms", "whatsapp", "soap", "twitter"])), max_size=60))
def test_chart_totals_are_the_health_views_counts(rows: list[tuple[float, MessageState, str]]) -> None:
    records = [message(n, age, state, channel) for n, (age, state, channel) in enumerate(rows)]
    drawn: Any = chart(records, NOW, 24)
    health = summarize(records, NOW)
    totals = {s: sum(b["states"][s] for b in drawn["buckets"]) for s in ("delivered", "sent", "failed", "expired",
                                                                          "other")}
    expected = dict.fromkeys(totals, 0)
    for state, count in health["by_state"].items():
        expected[OUTCOME.get(MessageState(state), "other")] += count
    assert totals == expected and sum(totals.values()) == health["total"]
    assert sum(sum(b["channels"].values()) for b in drawn["buckets"]) == health["total"]
