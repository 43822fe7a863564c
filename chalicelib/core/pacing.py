"""Sender pacing (pure): how fast one sending number or account may send, as a generic cell rate algorithm.

Each bucket keeps one number, its theoretical arrival time (TAT). A send reserves the next slot and moves the TAT
on by one interval, so a burst of N messages gets N distinct slots at the sender's rate in one pass: each message
is delayed once, to its own slot, instead of all of them retrying at the same moment. `burst` sends may go at
once after an idle spell. In any window of T seconds a bucket lets at most `burst + per_second * T` sends
through; `window_limit` uses that to stay under a provider's "N per window" limit before it answers 429.
"""

from __future__ import annotations

from chalicelib.models.messages import PaceBucket

# X's documented per-user limits for POST /2/dm_conversations/.../messages (and the app's daily one).
X_WINDOWS = (("15m", 200, 900.0, 20), ("24h", 1000, 86_400.0, 100))
X_APP_WINDOW = ("app24h", 15_000, 86_400.0, 500)


def interval(bucket: PaceBucket) -> float:
    return 1.0 / bucket.per_second


def tolerance(bucket: PaceBucket) -> float:
    """How far ahead of its slot a send may go: what lets `burst` sends through at once."""
    return (bucket.burst - 1) * interval(bucket)


def slot(bucket: PaceBucket, tat: float | None, now: float) -> tuple[float, float]:
    """(when this send may go, the bucket's new TAT) for a bucket last left at `tat` (None: never used)."""
    start = now if tat is None or tat < now else tat
    return max(now, start - tolerance(bucket)), start + interval(bucket)


def latest_tat(bucket: PaceBucket, latest_send: float) -> float:
    """The highest TAT at which a new reservation still gets a slot no later than `latest_send`."""
    return latest_send + tolerance(bucket)


def window_limit(key: str, limit: int, window_seconds: float, burst: int) -> PaceBucket:
    """A bucket that never lets more than `limit` sends into any `window_seconds` (burst + rate * window)."""
    if not 1 <= burst < limit:
        raise ValueError("burst must be at least 1 and below the window's limit")
    return PaceBucket(key=key, per_second=(limit - burst) / window_seconds, burst=burst)


def buckets(channel_type: str, provider: str, sender: str, per_second: float | None, burst: int) -> list[PaceBucket]:
    """The buckets a message from `sender` reserves a slot in: the configuration's own pace (shared by every
    configuration sending from that number or account) and, for X, the provider's documented limits."""
    found: list[PaceBucket] = []
    if per_second is not None:
        found.append(PaceBucket(key=f"{channel_type}#{provider}#{sender}", per_second=per_second, burst=burst))
    if channel_type == "twitter":
        found += [window_limit(f"x#{sender}#{name}", limit, seconds, b) for name, limit, seconds, b in X_WINDOWS]
        name, limit, seconds, b = X_APP_WINDOW
        found.append(window_limit(f"x#{name}", limit, seconds, b))
    return found
