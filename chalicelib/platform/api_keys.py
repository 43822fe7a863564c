"""The management API's key check (a Chalice built-in authorizer, so API Gateway calls it before any route).

Keys live in SSM (`API_KEYS_PARAM`, JSON {"keys": ["sha256:<hex>", ...]}: several, so a key can be rotated
without downtime) as SHA-256 digests, so the parameter's readers never hold a usable key; a presented key is
hashed and compared in constant time. An entry without the `sha256:` prefix is a key stored as given (stacks
deployed before hashing) and still matches. `API_AUTH=off` (the local stage) lets every request through; anything
else requires a key; with it off the routes are declared without the authorizer. Webhooks are not behind it:
providers sign their calls instead.

Revocation: API Gateway caches an authorizer's answer per key for `API_KEY_CACHE_SECONDS`, and each authorizer
instance caches the key list as long; a key removed from the parameter stops passing within twice that (two
minutes with the default 60 s).
"""

from __future__ import annotations

import hashlib
import hmac
import os

OFF = {"off", "false", "0", "no"}
PREFIX = "sha256:"
DEFAULT_CACHE_SECONDS = 60


def cache_seconds() -> int:
    """Read without loading settings: api/authorizer.py sets its TTL at import (API Gateway allows 0-3600)."""
    value = os.environ.get("API_KEY_CACHE_SECONDS", "")
    return max(0, min(3600, int(value))) if value.isdigit() else DEFAULT_CACHE_SECONDS


def digest(key: str) -> str:
    """What the parameter stores for a key."""
    return PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _matches(presented: str, stored: str) -> bool:
    if stored.startswith(PREFIX):
        return hmac.compare_digest(digest(presented).encode(), stored.lower().encode())
    return hmac.compare_digest(presented.encode(), stored.encode())


def required() -> bool:
    """Read without loading settings: api/routing.py decides at import whether routes carry the authorizer at all
    (API Gateway and chalice local answer 401 before any authorizer runs when the header is missing)."""
    return (os.environ.get("API_AUTH") or "on").strip().lower() not in OFF


def allowed(authorization: str | None, keys_param: str, auth_on: bool = True) -> bool:
    """`authorization` is the Authorization header: "Bearer <key>"; `keys_param` the stage's SSM parameter of
    key digests (the caller's settings: this module reads none, the authorizer imports it before any settings load)."""
    if not auth_on:
        return True
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return False
    presented = presented.strip()
    from chalicelib.platform.secrets import SecretMissing, json_secret

    try:
        keys = json_secret(keys_param, max_age=cache_seconds()).get("keys") or []
    except SecretMissing:
        return False
    return any(_matches(presented, str(key)) for key in keys)
