"""Org send limit arithmetic (pure): fixed one-hour windows, as Dynamics' 30,000 requests per org per hour is
stated. A limit of 0 means none (the default: a stage sized for thousands of messages a second).

A fixed window lets a burst straddle two windows (up to twice the limit across the boundary); it is what the
limit's wording promises and costs one conditional UpdateItem per send. A limit of SHARDED_FROM or more per
hour (a rate one item's partition could not take: DynamoDB gives a partition 1,000 writes a second) is split
over SHARDS items, each allowed its share; a send tries them from a random one on and is refused only when none
has room for all of it, so near the end of a window up to SHARDS x 99 messages of the limit can go unused. A
smaller limit is one item, exact.
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


SHARDS = 8
SHARDED_FROM = 1_000_000


def fits(used: int, requested: int, limit: int) -> bool:
    return requested <= limit and used + requested <= limit


def shard_limits(limit: int) -> list[int]:
    """Each shard's share (one shard below SHARDED_FROM); together exactly `limit`."""
    shards = SHARDS if limit >= SHARDED_FROM else 1
    base, extra = divmod(limit, shards)
    return [base + (1 if shard < extra else 0) for shard in range(shards)]


def shard_order(first: int, shards: int) -> list[int]:
    """Every shard once, from `first` on (a random start spreads concurrent sends)."""
    return [(first + step) % shards for step in range(shards)]


def shard_key(window: str, shard: int) -> str:
    return f"{window}#{shard}"
