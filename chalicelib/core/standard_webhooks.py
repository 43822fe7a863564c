"""Standard Webhooks 1.0 signing (`v1`, HMAC-SHA256): what a partner's `standardwebhooks` verifier checks.

The signed content is `webhook-id.webhook-timestamp.body`, the exact bytes sent; the secret is 24-64 random
bytes shown as `whsec_` + base64. Several signatures travel space-separated in one `webhook-signature` header,
which is how a rotated secret and its predecessor are both honoured during the overlap.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
SECRET_BYTES = 32


class BadSecret(ValueError):
    """Not a `whsec_` secret of 24 to 64 bytes."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    try:
        raw = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadSecret("a signing secret is whsec_ followed by base64") from exc
    if not 24 <= len(raw) <= 64:
        raise BadSecret("a signing secret holds 24 to 64 bytes")
    return raw


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of one message attempt under one secret."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_in_force: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of one attempt: the id stays across retries, the timestamp is the attempt's."""
    if not secrets_in_force:
        raise BadSecret("no signing secret in force")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets_in_force),
    }
