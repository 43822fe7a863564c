"""Sender pacing arithmetic (core/pacing.py): slots at the sender's rate, bursts, and provider windows kept."""

from __future__ import annotations

import random

import pytest

from chalicelib.core import pacing
from chalicelib.models.messages import PaceBucket


def run(bucket: PaceBucket, arrivals: list[float]) -> list[float]:
    """Send times for messages arriving at `arrivals`, reserving in arrival order as the store does."""
    tat: float | None = None
    sends = []
    for now in arrivals:
        at, tat = pacing.slot(bucket, tat, now)
        sends.append(at)
    return sends


def most_in_any_window(sends: list[float], window: float) -> int:
    ordered = sorted(sends)
    best, start = 0, 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - window:  # sends in (moment - window, moment]
            start += 1
        best = max(best, end - start + 1)
    return best


def test_a_burst_gets_one_slot_per_interval_at_the_senders_rate() -> None:
    sends = run(PaceBucket(key="k", per_second=1.0), [100.0] * 50)
    assert sends == [100.0 + k for k in range(50)]


def test_burst_messages_go_at_once_after_a_pause_then_the_rate_applies() -> None:
    bucket = PaceBucket(key="k", per_second=2.0, burst=5)
    sends = run(bucket, [0.0] * 8)
    assert sends[:5] == [0.0] * 5
    assert sends[5:] == [0.5, 1.0, 1.5]
    later = run(bucket, [0.0] * 8 + [100.0])  # idle long enough: the bucket is full again
    assert later[-1] == 100.0


def test_a_send_never_goes_before_it_arrives() -> None:
    rng = random.Random(7)
    arrivals = sorted(rng.uniform(0, 100) for _ in range(500))
    sends = run(PaceBucket(key="k", per_second=3.0, burst=4), arrivals)
    assert all(at >= now for at, now in zip(sends, arrivals, strict=True))


@pytest.mark.parametrize(("name", "limit", "window", "burst"), [*pacing.X_WINDOWS, pacing.X_APP_WINDOW])
def test_x_documented_limits_are_never_exceeded_in_any_window(name: str, limit: int, window: float,
                                                              burst: int) -> None:
    bucket = pacing.window_limit(name, limit, window, burst)
    rng = random.Random(name)
    # Bursts after pauses and steady pressure: the worst cases for a window count.
    arrivals = sorted([0.0] * (limit * 2) + [rng.uniform(0, 5 * window) for _ in range(limit * 3)])
    sends = run(bucket, arrivals)
    assert most_in_any_window(sends, window) <= limit
    assert most_in_any_window(sends, window) >= limit - 1  # and the budget is used, not wasted


def test_a_window_limit_without_room_for_its_burst_is_refused() -> None:
    with pytest.raises(ValueError, match="burst"):
        pacing.window_limit("k", 10, 60.0, 10)


def test_x_messages_take_the_accounts_windows_and_the_apps_sms_only_the_configured_pace() -> None:
    x = pacing.buckets("twitter", "x", "acct", None, 1)
    assert [b.key for b in x] == ["x#acct#15m", "x#acct#24h", "x#app24h"]
    assert pacing.buckets("sms", "twilio", "+15005550006", None, 1) == []
    (sms,) = pacing.buckets("sms", "twilio", "+15005550006", 1.0, 3)
    assert (sms.key, sms.per_second, sms.burst) == ("sms#twilio#+15005550006", 1.0, 3)
    paced_x = pacing.buckets("twitter", "x", "acct", 0.5, 1)
    assert paced_x[0].key == "twitter#x#acct" and len(paced_x) == 4
