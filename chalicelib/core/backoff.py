"""Retry timing: Salesforce's outbound-message schedule (30 s doubling, gap capped at 2 h) with jitter."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

BASE_SECONDS = 30.0
CAP_SECONDS = 7200.0
SQS_MAX_DELAY = 900


def retry_delay(
    attempts: int, rng: random.Random | None = None, retry_after: float | None = None, base: float = BASE_SECONDS
) -> float:
    """Seconds to wait after `attempts` failed attempts; a provider's Retry-After is a floor."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not security
    gap = min(CAP_SECONDS, base * 2.0 ** max(attempts - 1, 0))
    jittered = gap * (0.8 + 0.4 * rng.random())
    delay = min(CAP_SECONDS, jittered)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def next_attempt(
    now: datetime,
    attempts: int,
    deadline: datetime,
    rng: random.Random | None = None,
    retry_after: float | None = None,
    base: float = BASE_SECONDS,
) -> datetime | None:
    """When to try again, or None when the next try would fall after the deadline (the message expires)."""
    at = now + timedelta(seconds=retry_delay(attempts, rng, retry_after, base))
    return at if at <= deadline else None


def sqs_delay(now: datetime, due: datetime) -> int:
    """SQS holds a message for at most 15 minutes; longer waits take several hops."""
    return max(0, min(SQS_MAX_DELAY, int((due - now).total_seconds() + 0.999)))
