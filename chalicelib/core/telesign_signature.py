"""TeleSign's callback signature: the Authorization header is base64(HMAC-SHA256(base64-decoded API key, body)),
as the official SDK's `telesign.util.verify_telesign_callback_signature` checks it (the tests compare)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac


def compute(api_key: str, body: bytes) -> str:
    key = base64.b64decode(api_key, validate=True)
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode("ascii")


def valid(api_key: str, body: bytes, header: str | None) -> bool:
    """`header` as TeleSign sends it (the signature alone), or with a `TSA <customer id>:` prefix."""
    if not header or not api_key:
        return False
    signature = header.strip().rsplit(":", 1)[-1].strip() if header.strip().upper().startswith("TSA ") else header
    try:
        expected = compute(api_key, body)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(signature.strip().encode(), expected.encode())
