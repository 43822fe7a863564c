"""Pure: a window's messages as a time series for the console's charts, from the same records the health view
counts (so a chart's totals are the health view's): per bucket (a minute over the last hour, an hour beyond),
messages created by the state they are in now and by channel; provider latency percentiles (sent -> delivered);
what is pending now and how long the oldest has waited."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from chalicelib.core import clock
from chalicelib.models.messages import MessageRecord, MessageState

SERIES = ("delivered", "sent", "failed", "expired", "other")  # each state falls in exactly one
OUTCOME = {MessageState.delivered: "delivered", MessageState.sent: "sent", MessageState.failed: "failed",
           MessageState.undelivered: "failed", MessageState.expired: "expired"}
PENDING = frozenset({MessageState.queued, MessageState.sending})
PERCENTILES = (50, 90, 99)


def bucket_seconds(hours: float) -> int:
    return 60 if hours <= 1 else 3600


def _floor(moment: datetime, seconds: int) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, moment.tzinfo)


def _latency(record: MessageRecord) -> float | None:
    """Seconds from the provider's acceptance (sent) to its delivery report, when the record holds both."""
    sent = next((h.at for h in record.history if h.state == MessageState.sent), None)
    delivered = next((h.at for h in record.history if h.state == MessageState.delivered), None)
    if sent is None or delivered is None or delivered < sent:
        return None
    return (delivered - sent).total_seconds()


def percentile(values: list[float], p: int) -> float:
    """Nearest-rank percentile of sorted `values` (not empty)."""
    return values[max(0, math.ceil(p / 100 * len(values)) - 1)]


def chart(records: Iterable[MessageRecord], now: datetime, hours: float) -> dict[str, object]:
    size = bucket_seconds(hours)
    first = _floor(now - timedelta(hours=hours), size)
    count = int((_floor(now, size) - first).total_seconds() // size) + 1
    by_state: list[Counter[str]] = [Counter() for _ in range(count)]
    by_channel: list[Counter[str]] = [Counter() for _ in range(count)]
    latencies: list[float] = []
    pending = 0
    oldest: datetime | None = None
    for record in records:
        index = int((record.created_at - first).total_seconds() // size)
        if not 0 <= index < count:
            continue
        by_state[index][OUTCOME.get(record.state, "other")] += 1
        by_channel[index][record.channel] += 1
        if (latency := _latency(record)) is not None:
            latencies.append(latency)
        if record.state in PENDING:
            pending += 1
            oldest = record.created_at if oldest is None or record.created_at < oldest else oldest
    latencies.sort()
    return {
        "bucket_seconds": size,
        "buckets": [{"start": clock.iso(first + timedelta(seconds=i * size)),
                     "states": {s: by_state[i][s] for s in SERIES},
                     "channels": dict(sorted(by_channel[i].items()))} for i in range(count)],
        "latency_seconds": {f"p{p}": round(percentile(latencies, p), 3) for p in PERCENTILES} if latencies else None,
        "latency_samples": len(latencies),
        "pending": pending,
        "oldest_pending_seconds": None if oldest is None else round((now - oldest).total_seconds()),
    }
