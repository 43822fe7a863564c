"""X API v2 direct messages: POST /2/dm_conversations/with/{participant_id}/messages, JSON {"text": ...},
with the sending account's OAuth 2.0 user access token (scopes dm.write, users.read).

A recipient given as @handle is looked up first (GET /2/users/by/username/{handle}). 429 is retried at the
moment `x-rate-limit-reset` names (X's per-user limits: 200 DMs / 15 min, 1,000 / 24 h).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from chalicelib.models.messages import DirectMessagePayload
from chalicelib.platform.http_client import HttpResponse, TransportError, request
from chalicelib.platform.settings import get_settings
from chalicelib.senders import x_auth
from chalicelib.senders.outcomes import Accepted, Outcome, Permanent, Transient
from chalicelib.senders.provider_call import PROVIDER_TIMEOUT_SECONDS, json_object


def problem(answer: HttpResponse) -> tuple[str, str]:
    """(code, reason) from X's problem JSON ({"title", "detail", "type"}) or its older {"errors": [...]}."""
    data = json_object(answer.body)
    errors = data.get("errors") if isinstance(data.get("errors"), list) else []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    title = data.get("title") or first.get("title") or first.get("message") or "unexpected answer"
    detail = data.get("detail") or first.get("detail") or ""
    code = str(data.get("type") or first.get("type") or first.get("code") or answer.status).rsplit("/", 1)[-1]
    return code, f"X HTTP {answer.status}: {title}" + (f" ({detail})" if detail else "")


def interpret(answer: HttpResponse, now: float | None = None) -> Outcome:
    data = json_object(answer.body).get("data")
    if answer.status in (200, 201) and isinstance(data, dict) and data.get("dm_event_id"):
        return Accepted(provider_message_id=str(data["dm_event_id"]), state="sent")
    code, reason = problem(answer)
    if answer.status == 429:
        reset = answer.headers.get("x-rate-limit-reset")
        wait = None
        if reset and reset.isdigit():
            wait = max(0.0, float(reset) - (now if now is not None else time.time()))
        return Transient(reason=reason, code="rate_limited", retry_after=wait)
    if answer.status >= 500:
        return Transient(reason=reason, code=code)
    return Permanent(reason=reason, code=code)


def _call(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> HttpResponse:
    settings = get_settings()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return request(
        method,
        url,
        data,
        headers,
        timeout=min(settings.http_timeout_seconds, PROVIDER_TIMEOUT_SECONDS),
        max_bytes=settings.http_max_response_bytes,
    )


def deliver(payload: DirectMessagePayload) -> Outcome:
    try:
        token = x_auth.access_token(payload.account)
        outcome, refused = _send(payload, token)
        if refused:  # 401: the token expired or was revoked early: refresh once and try again
            outcome, _ = _send(payload, x_auth.access_token(payload.account, failed=token))
    except x_auth.Unavailable as exc:
        if exc.permanent:
            return Permanent(reason=exc.reason, code="x_token_refresh" if "refresh" in exc.reason else "credentials")
        return Transient(reason=exc.reason, code="x_token_refresh")
    except TransportError as exc:
        return Transient(reason=str(exc), code="transport")
    return outcome


def _send(payload: DirectMessagePayload, token: str) -> tuple[Outcome, bool]:
    """(outcome, whether X refused the token)."""
    base = get_settings().x_base_url.rstrip("/")
    participant = payload.recipient
    if not participant.isdigit():
        found = _call("GET", f"{base}/2/users/by/username/{quote(participant.lstrip('@'))}", token)
        if found.status == 401:
            return interpret(found), True
        user = json_object(found.body).get("data")
        if found.status != 200 or not isinstance(user, dict) or not user.get("id"):
            if found.status == 429 or found.status >= 500:
                return interpret(found), False
            code, reason = problem(found)
            return Permanent(reason=f"cannot resolve {participant}: {reason}", code="unknown_user"), False
        participant = str(user["id"])
    answer = _call("POST", f"{base}/2/dm_conversations/with/{participant}/messages", token, {"text": payload.text})
    return interpret(answer), answer.status == 401
