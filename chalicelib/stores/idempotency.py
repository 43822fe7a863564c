"""Idempotency-Key for POST requests: the same key with the same body returns the first answer; with another
body it is a 409. Keys live 24 hours (DynamoDB TTL), scoped per route.

The key also seeds the ids the request creates (see `seed`), so even a request whose answer was never stored
(the function died after sending) re-creates the same message ids on retry, and the conditional writes turn
the retry into a no-op instead of a second send. That is also why a key left `in_progress` by a request
that died (or lost AWS mid-way) is taken over once its lease, as long as the API function's timeout, is over.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.core import clock
from chalicelib.core.errors import ApiError, invalid
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import from_item, to_item, to_value
from chalicelib.platform.logs import log
from chalicelib.platform.settings import get_settings

KIND = "IDEMPOTENCY"
TTL_SECONDS = 24 * 3600
KEY = re.compile(r"^[A-Za-z0-9_\-:.]{1,255}$")


def fingerprint(raw: bytes | None) -> str:
    """Same JSON, same fingerprint, whatever the key order or spacing."""
    try:
        canonical = json.dumps(json.loads(raw or b"null"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = (raw or b"").decode("utf-8", "replace")
    return hashlib.sha256(canonical.encode()).hexdigest()


def seed(route: str, key: str) -> str:
    return hashlib.sha256(f"{route}#{key}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Answer:
    """What a request answered (a status and a JSON body), kept to be replayed."""

    status: int
    body: Any
    replayed: bool = False


def run(route: str, key: str | None, raw: bytes | None, handler: Callable[[str | None], Answer]) -> Answer:
    """Call `handler(seed or None)` at most once per (route, key, body)."""
    if key is None:
        return handler(None)
    if not KEY.match(key):
        raise invalid("Idempotency-Key", "1-255 characters: letters, digits, - _ : .")
    table = get_settings().config_table
    item_key = to_item({"pk": KIND, "sk": f"{route}#{key}"})
    client = aws.client("dynamodb")
    earlier = _own(client, table, item_key, fingerprint(raw))
    if earlier is not None:
        return earlier
    try:
        response = handler(seed(route, key))
    except Exception:
        # Refused (4xx) or broken (5xx): no answer to replay, so the key is free again.
        try:
            client.delete_item(TableName=table, Key=item_key)
        except Exception as exc:  # noqa: BLE001 - AWS unreachable: the lease frees the key instead
            log("idempotency.release_failed", logging.WARNING, route=route, error=f"{type(exc).__name__}: {exc}")
        raise
    client.update_item(
        TableName=table,
        Key=item_key,
        UpdateExpression="SET #s = :done, answer_status = :code, answer_body = :body",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":done": to_value("done"),
            ":code": to_value(response.status),
            ":body": to_value(json.dumps(response.body, default=str)),
        },
    )
    return response


def _own(client: Any, table: str, item_key: dict[str, Any], digest: str) -> Answer | None:
    """None once this request holds the key; otherwise the earlier answer to replay (or a 409)."""
    now = int(clock.now().timestamp())
    lease_until = now + int(get_settings().idempotency_lease_seconds)
    try:
        client.put_item(
            TableName=table,
            Item={
                **item_key,
                **to_item({"fingerprint": digest, "status": "in_progress", "lease_until": lease_until,
                           "expires_at": now + TTL_SECONDS}),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return None
    except Exception as exc:
        if not aws.is_conditional_failure(exc):
            raise
    item = client.get_item(TableName=table, Key=item_key, ConsistentRead=True).get("Item")
    if item is None:  # expired or released between our write and read: start over
        return _own(client, table, item_key, digest)
    stored = from_item(item)
    if stored.get("fingerprint") != digest:
        raise ApiError(
            409,
            "idempotency_conflict",
            "this Idempotency-Key was used with a different request body",
            [{"field": "Idempotency-Key", "message": "already used with a different body"}],
        )
    if stored.get("status") == "done":
        return Answer(int(stored["answer_status"]), json.loads(str(stored["answer_body"])), replayed=True)
    held_until = int(stored.get("lease_until") or 0)
    if held_until > now:
        raise ApiError(
            409,
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still being processed",
            headers={"Retry-After": str(max(1, held_until - now))},
        )
    try:  # the holder died without an answer: take the key over (only one taker wins the condition)
        client.update_item(
            TableName=table,
            Key=item_key,
            UpdateExpression="SET lease_until = :new",
            ConditionExpression="#s = :in_progress AND (attribute_not_exists(lease_until) OR lease_until = :old)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":new": to_value(lease_until), ":old": to_value(held_until),
                                       ":in_progress": to_value("in_progress")},
        )
    except Exception as exc:
        if not aws.is_conditional_failure(exc):
            raise
        return _own(client, table, item_key, digest)
    return None
