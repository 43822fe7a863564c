"""Sender budgets in DynamoDB: one item per bucket holding its TAT, moved by conditional UpdateItems only, so
every sender Lambda shares it without a lock and no two sends get the same slot (core/pacing.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.core import pacing
from chalicelib.models.messages import PaceBucket
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import to_item
from chalicelib.platform.settings import get_settings

KIND = "PACE"
KEEP_SECONDS = 2 * 86_400  # an idle bucket's item expires (TTL) this long after its last possible slot
ATTEMPTS = 8  # contention between "idle" and "busy" writers settles in a couple of rounds


class Contention(Exception):
    """The bucket kept changing under us: raised like any AWS error, so the queue message comes back and the
    attempt's lease is taken over."""


def _number(value: float) -> dict[str, str]:
    return {"N": f"{value:.6f}"}


def reserve(bucket: PaceBucket, now: datetime, latest: datetime) -> datetime | None:
    """The moment this send may go (`now` or later, its slot now reserved), or None when the bucket is booked
    beyond `latest` (nothing is reserved then)."""
    moment, cap = now.timestamp(), pacing.latest_tat(bucket, latest.timestamp())
    client = aws.client("dynamodb")
    key = to_item({"pk": KIND, "sk": bucket.key})
    expires = {"N": str(int(cap + pacing.interval(bucket) + KEEP_SECONDS))}
    table = get_settings().config_table
    for _ in range(ATTEMPTS):
        try:  # busy: the TAT is ahead of now; take the next slot
            answer = client.update_item(
                TableName=table, Key=key,
                UpdateExpression="SET tat = tat + :step, expires_at = :ttl",
                ConditionExpression="tat >= :now AND tat <= :cap",
                ExpressionAttributeValues={":step": _number(pacing.interval(bucket)), ":now": _number(moment),
                                           ":cap": _number(cap), ":ttl": expires},
                ReturnValues="UPDATED_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            tat = float(answer["Attributes"]["tat"]["N"])
            return datetime.fromtimestamp(pacing.slot(bucket, tat, moment)[0], UTC)
        except Exception as exc:
            if not aws.is_conditional_failure(exc):
                raise
            old = ((getattr(exc, "response", None) or {}).get("Item") or {}).get("tat")
            if old is not None and float(old["N"]) > cap:
                return None
        try:  # idle: start a new run at now
            client.update_item(
                TableName=table, Key=key,
                UpdateExpression="SET tat = :next, expires_at = :ttl",
                ConditionExpression="attribute_not_exists(tat) OR tat < :now",
                ExpressionAttributeValues={":next": _number(pacing.slot(bucket, None, moment)[1]),
                                           ":now": _number(moment), ":ttl": expires},
            )
            return now
        except Exception as exc:
            if not aws.is_conditional_failure(exc):
                raise
    raise Contention(f"sender budget {bucket.key} kept changing; try again")


def reserve_all(buckets: list[PaceBucket], now: datetime, latest: datetime) -> tuple[datetime, str] | None:
    """A slot in every bucket: (the latest of them, the bucket that set it), or None if one is booked past
    `latest`. Slots already taken in the others stay taken: the sender then runs under its budget, never over."""
    when, why = now, ""
    for bucket in buckets:
        at = reserve(bucket, now, latest)
        if at is None:
            return None
        if at > when:
            when, why = at, bucket.key
    return when, why
