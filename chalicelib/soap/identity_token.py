"""The identity token a definition with `include_session_id` puts in `SessionId`.

Salesforce stopped sending session ids in 2026; we keep the element and, when asked, fill it with a
short-lived HMAC-SHA256 token naming the organization, the definition and the user to send as. A listener
that holds the stage's token key (an SSM parameter) verifies it to know the message came from us.
Format: `v1.<base64url(JSON claims)>.<base64url(signature)>`, the signature over `v1.<claims>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

VERSION = "v1"


class InvalidToken(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, signed: str) -> str:
    return _b64(hmac.new(key, signed.encode(), hashlib.sha256).digest())


def issue(key: bytes, *, org_id: str, action_id: str, user: str, issued_at: datetime, expires_at: datetime) -> str:
    claims = {
        "iss": org_id,
        "act": action_id,
        "sub": user,
        "iat": int(issued_at.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    body = f"{VERSION}.{_b64(json.dumps(claims, separators=(',', ':'), sort_keys=True).encode())}"
    return f"{body}.{_sign(key, body)}"


def verify(key: bytes, token: str, now: datetime) -> dict[str, Any]:
    """The claims of a genuine, unexpired token; InvalidToken otherwise."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise InvalidToken("not an identity token")
    body = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_sign(key, body), parts[2]):
        raise InvalidToken("signature does not match")
    try:
        claims = json.loads(_unb64(parts[1]))
    except ValueError as exc:
        raise InvalidToken("unreadable claims") from exc
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        raise InvalidToken("unreadable claims")
    if claims["exp"] < now.timestamp():
        raise InvalidToken("expired")
    return claims
