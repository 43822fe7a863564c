"""Org send limit arithmetic (pure): fixed one-hour windows, as the 30,000 requests per org per hour is stated.

A fixed window lets a burst straddle two windows (up to twice the limit across the boundary); it is what the
limit's wording promises and costs one conditional UpdateItem per send.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

WINDOW = timedelta(hours=1)


def window_start(now: datetime) -> datetime:
    moment = now.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def window_key(org_id: str, now: datetime) -> str:
    return f"{org_id}#{window_start(now).strftime('%Y-%m-%dT%H')}"


def retry_after_seconds(now: datetime) -> int:
    """Whole seconds until the next window opens (at least 1, as Retry-After wants)."""
    remaining = (window_start(now) + WINDOW - now.astimezone(UTC)).total_seconds()
    return max(1, math.ceil(remaining))


def fits(used: int, requested: int, limit: int) -> bool:
    return requested <= limit and used + requested <= limit
