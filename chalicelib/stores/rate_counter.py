"""The org's send counter in DynamoDB: one conditional ADD per send on one of the window's shards, shared by
every Lambda instance (core/rate_limit.py says why it is sharded)."""

from __future__ import annotations

import random
from datetime import datetime

from chalicelib.core import rate_limit
from chalicelib.core.errors import ApiError
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import to_item, to_value
from chalicelib.platform.settings import get_settings

KIND = "RATE"


def take(count: int, now: datetime) -> int | None:
    """Count `count` sends against this hour's window; returns the new total of the shard that took them (None
    without a limit: nothing is written), or raises the 429 when no shard has room for all of them."""
    settings = get_settings()
    limit = settings.send_limit_per_hour
    if limit == 0:
        return None
    window = rate_limit.window_key(settings.org_id, now)
    shares = rate_limit.shard_limits(limit)
    expires = int((rate_limit.window_start(now) + 2 * rate_limit.WINDOW).timestamp())
    for shard in rate_limit.shard_order(random.randrange(len(shares)), len(shares)):
        if not rate_limit.fits(0, count, shares[shard]):
            continue
        try:
            answer = aws.client("dynamodb").update_item(
                TableName=settings.config_table,
                Key=to_item({"pk": KIND, "sk": rate_limit.shard_key(window, shard)}),
                UpdateExpression="ADD used :n SET expires_at = :ttl",
                ConditionExpression="attribute_not_exists(used) OR used <= :room",  # rate_limit.fits, in DynamoDB
                ExpressionAttributeValues={
                    ":n": to_value(count),
                    ":room": to_value(shares[shard] - count),
                    ":ttl": to_value(expires),
                },
                ReturnValues="UPDATED_NEW",
            )
        except Exception as exc:
            if aws.is_conditional_failure(exc):
                continue
            raise
        return int(answer["Attributes"]["used"]["N"])
    raise _too_many(count, limit, now)


def _too_many(count: int, limit: int, now: datetime) -> ApiError:
    wait = rate_limit.retry_after_seconds(now)
    return ApiError(
        429,
        "rate_limited",
        f"the org's limit of {limit} messages per hour would be exceeded by {count} more; retry in {wait} s",
        headers={"Retry-After": str(wait)},
    )
