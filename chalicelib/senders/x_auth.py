"""The access token a DM is sent with. An account's credentials (SSM, `X_CREDENTIALS_PARAM`) are either a static
OAuth 2.0 user access token (a string) or `{"client_id", "client_secret", "refresh_token"}` (no `client_secret`
for a public PKCE client: the refresh then names the client in the body, no Basic auth): then the token is
refreshed before it expires and after a 401, once, with `POST /2/oauth2/token` (grant_type=refresh_token, Basic
auth for a confidential client), and the refresh token X rotates to is kept (stores/x_tokens.py): X's refresh
tokens are single-use. Putting a new refresh token in the credentials (after re-authorising) takes effect at once.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from chalicelib.core import clock
from chalicelib.platform.http_client import TransportError, request
from chalicelib.platform.logs import log
from chalicelib.platform.secrets import json_parameter
from chalicelib.platform.settings import get_settings
from chalicelib.senders.provider_call import PROVIDER_TIMEOUT_SECONDS, json_object
from chalicelib.stores import x_tokens

EARLY_SECONDS = 120  # refresh this long before the token expires (X's last 2 hours)
LEASE_SECONDS = 20
WAIT_SECONDS = 8  # how long a sender waits for another one's refresh


class Unavailable(Exception):
    def __init__(self, reason: str, permanent: bool) -> None:
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


def credentials(account: str) -> str | Mapping[str, Any]:
    found = json_parameter(get_settings().x_credentials_param).get(account)
    if isinstance(found, str) and found:
        return found
    # A confidential client has a secret; a public client (PKCE, no secret) refreshes with its id alone.
    if isinstance(found, dict) and all(isinstance(found.get(k), str) and found.get(k)
                                       for k in ("client_id", "refresh_token")) and (
            found.get("client_secret") is None or (isinstance(found.get("client_secret"), str)
                                                   and found.get("client_secret"))):
        return found
    raise Unavailable(f"no X credentials for account {account}", permanent=True)


def access_token(account: str, failed: str | None = None) -> str:
    """A token to send with; `failed`: the token X just refused (401), which is never returned again."""
    found = credentials(account)
    if isinstance(found, str):
        if failed == found:
            raise Unavailable(f"X refused the access token of {account} (a static token: renew it)", permanent=True)
        return found
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        now = clock.now().timestamp()
        state = x_tokens.get(account)
        reseeded = state.seed is not None and state.seed != found["refresh_token"]
        fresh = state.access_token and state.expires_at > now + EARLY_SECONDS and state.access_token != failed
        if fresh and not reseeded:
            return str(state.access_token)
        leased = x_tokens.lease(account, state, now, LEASE_SECONDS)
        if leased is not None:
            return _refresh(account, found, leased, reseeded)
        if time.monotonic() > deadline:  # another sender is refreshing and has not finished
            raise Unavailable(f"X token refresh for {account} under way elsewhere", permanent=False)
        time.sleep(0.2)


def _refresh(account: str, found: Mapping[str, Any], leased: x_tokens.TokenState, reseeded: bool) -> str:
    settings = get_settings()
    seed = str(found["refresh_token"])
    refresh_token = seed if reseeded or not leased.refresh_token else leased.refresh_token
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if found.get("client_secret"):
        # As tweepy's OAuth2UserHandler (requests-oauthlib) sends it for a confidential client: the client in
        # Basic auth, not in the body; no scope (the grant keeps the scopes the user gave).
        basic = base64.b64encode(f"{found['client_id']}:{found['client_secret']}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
    else:
        # A public client (PKCE, no secret): X's documented refresh names the client in the body, no Basic auth.
        form["client_id"] = str(found["client_id"])
    body = urlencode(form).encode()
    try:
        answer = request("POST", f"{settings.x_base_url.rstrip('/')}/2/oauth2/token", body, headers,
                         timeout=min(settings.http_timeout_seconds, PROVIDER_TIMEOUT_SECONDS),
                         max_bytes=settings.http_max_response_bytes)
    except TransportError as exc:
        x_tokens.release(account, leased)
        raise Unavailable(f"X token refresh: {exc}", permanent=False) from exc
    data = json_object(answer.body)
    if answer.status != 200 or not data.get("access_token"):
        x_tokens.release(account, leased)
        reason = f"X token refresh for {account} failed: HTTP {answer.status} " \
                 f"{data.get('error') or ''} {data.get('error_description') or ''}".strip()
        log("x.token_refresh_failed", account=account, status=answer.status, reason=reason)
        raise Unavailable(reason, permanent=answer.status in (400, 401, 403))
    expires_in = float(data.get("expires_in") or 7200)
    # RFC 6749 section 6: the server may answer without a new refresh token; the one just used then stays valid.
    rotated = str(data.get("refresh_token") or refresh_token)
    expires_at = clock.now().timestamp() + expires_in
    if not x_tokens.save(account, leased, str(data["access_token"]), expires_at, rotated, seed):
        # Our lease was taken over (we were too slow): the rotated refresh token is lost with this write. Tell
        # the operator rather than guess; the next refresh will say whether the stored one still works.
        log("x.token_save_lost", account=account)
    log("x.token_refreshed", account=account, expires_in=expires_in)
    return str(data["access_token"])
