"""How a message's payload is stored: it never changes after rendering, yet every state change rewrites the
whole item and pays a write unit per KB of it. So it is kept compressed (zlib, a binary attribute), and one whose
compressed form exceeds `payload_inline_bytes` goes to S3 (a claim check; the bucket's lifecycle rule expires it
with the retention) and the item keeps only its key. A SOAP message of 100 wide notifications thus costs its
three writes at about one write unit each instead of hundreds, and no payload can outgrow DynamoDB's 400 KB.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections import OrderedDict
from typing import Any

from chalicelib.platform import aws
from chalicelib.platform.settings import get_settings

PLAIN, PACKED, CLAIM = "payload", "payload_z", "payload_ref"
_CACHE_SIZE = 64  # S3 payloads read back in this container (a record is read after each of its updates)
_cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
_lock = threading.Lock()


def claim_key(message_id: str) -> str:
    return f"payloads/{message_id}.json.z"


def encode(message_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The item attributes that hold `payload` (plain values, not DynamoDB-typed)."""
    packed = zlib.compress(json.dumps(payload, separators=(",", ":")).encode(), 6)
    settings = get_settings()
    if len(packed) <= settings.payload_inline_bytes:
        return {PACKED: packed}
    key = claim_key(message_id)
    aws.client("s3").put_object(Bucket=settings.payload_bucket, Key=key, Body=packed,
                                ContentType="application/json", ContentEncoding="deflate")
    _remember(key, payload)
    return {CLAIM: key}


def decode(data: dict[str, Any]) -> dict[str, Any]:
    """The payload from an item's attributes (any of the three forms: items written before this change hold
    the plain map)."""
    if PACKED in data:
        raw = data.pop(PACKED)
        return dict(json.loads(zlib.decompress(bytes(raw))))
    if CLAIM in data:
        key = str(data.pop(CLAIM))
        with _lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
        body = aws.client("s3").get_object(Bucket=get_settings().payload_bucket, Key=key)["Body"].read()
        payload = dict(json.loads(zlib.decompress(body)))
        _remember(key, payload)
        return payload
    return dict(data.pop(PLAIN))


def _remember(key: str, payload: dict[str, Any]) -> None:
    with _lock:
        _cache[key] = payload
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
