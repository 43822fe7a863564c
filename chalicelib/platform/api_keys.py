"""The management API's key check (a Chalice built-in authorizer, so API Gateway calls it before any route).

Keys live in SSM (`API_KEYS_PARAM`, JSON {"keys": ["...", "..."]}: several, so a key can be rotated without
downtime) and are compared in constant time. `API_AUTH=off` (the local stage) lets every request through;
anything else requires a key; with it off the routes are declared without the authorizer. Webhooks are not behind
it: Twilio signs its calls instead.
"""

from __future__ import annotations

import hmac
import os

OFF = {"off", "false", "0", "no"}


def required() -> bool:
    """Read without loading settings: app.py decides at import whether routes carry the authorizer at all
    (API Gateway and chalice local answer 401 before any authorizer runs when the header is missing)."""
    return (os.environ.get("API_AUTH") or "on").strip().lower() not in OFF


def allowed(authorization: str | None) -> bool:
    """`authorization` is the Authorization header: "Bearer <key>"."""
    from chalicelib.platform.settings import get_settings

    settings = get_settings()
    if not settings.api_auth:
        return True
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return False
    presented = presented.strip()
    from chalicelib.platform.secrets import SecretMissing, json_parameter

    try:
        keys = json_parameter(settings.api_keys_param).get("keys") or []
    except SecretMissing:
        return False
    return any(hmac.compare_digest(presented.encode(), str(key).encode()) for key in keys)
