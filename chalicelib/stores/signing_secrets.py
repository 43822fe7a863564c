"""Each JSON definition's Standard Webhooks signing secrets: one SSM SecureString per definition under the
stage's prefix (`/outbound/<stage>/webhook-secrets/<definition id>`), never in a table, a log or an answer but
the one that creates it.

The parameter holds `{"secrets": [{"secret": "whsec_...", "until": null}, {"secret": ..., "until": <ISO>}]}`:
the current secret first, then predecessors still honoured until their overlap ends. Senders read it through
a 60-second cache, so a rotation reaches every signature within a minute.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core import standard_webhooks
from chalicelib.platform import aws, secrets
from chalicelib.platform.settings import get_settings

CACHE_SECONDS = 60.0
DEFAULT_OVERLAP = timedelta(hours=24)


def name(definition_id: str) -> str:
    return f"/outbound/{get_settings().stage}/webhook-secrets/{definition_id}"


def _write(definition_id: str, entries: list[dict[str, Any]], *, overwrite: bool) -> None:
    aws.client("ssm").put_parameter(
        Name=name(definition_id), Type="SecureString", Overwrite=overwrite,
        Value=json.dumps({"secrets": entries}, separators=(",", ":")),
        **({} if overwrite else {"Description": "Outbound: Standard Webhooks signing secrets of one definition"}))


def _entries(definition_id: str) -> list[dict[str, Any]]:
    try:
        found = secrets.json_secret(name(definition_id), max_age=0)
    except secrets.SecretMissing:
        return []
    return [e for e in found.get("secrets", []) if isinstance(e, dict) and isinstance(e.get("secret"), str)]


def create(definition_id: str) -> str:
    """A new secret for a definition that has none (created as, or switched to, JSON). A definition that has one
    keeps it, and it is not shown again: the answer is then an empty string."""
    if _entries(definition_id):
        return ""
    secret = standard_webhooks.new_secret()
    _write(definition_id, [{"secret": secret, "until": None}], overwrite=True)
    return secret


def rotate(definition_id: str, now: datetime, overlap: timedelta = DEFAULT_OVERLAP) -> str:
    """A new current secret; every earlier one stays in force for at most `overlap` more (0: none does, as
    after a leak)."""
    secret = standard_webhooks.new_secret()
    ends = now + overlap
    previous = []
    for entry in _entries(definition_id):
        until = min(datetime.fromisoformat(entry["until"]), ends) if entry.get("until") else ends
        if until > now:
            previous.append({"secret": entry["secret"], "until": until.isoformat()})
    _write(definition_id, [{"secret": secret, "until": None}, *previous][:4], overwrite=True)
    secrets.forget(name(definition_id))
    return secret


def in_force(definition_id: str, now: datetime) -> list[str]:
    """The secrets an attempt signs with now: the current one, then any predecessor within its overlap."""
    found = secrets.json_secret(name(definition_id), max_age=CACHE_SECONDS)
    out: list[str] = []
    for entry in found.get("secrets", []):
        until = entry.get("until") if isinstance(entry, dict) else None
        if isinstance(entry, dict) and isinstance(entry.get("secret"), str) and (
                until is None or datetime.fromisoformat(until) > now):
            out.append(entry["secret"])
    return out


def delete(definition_id: str) -> None:
    try:
        aws.client("ssm").delete_parameter(Name=name(definition_id))
    except Exception as exc:
        if aws.error_code(exc) != "ParameterNotFound":
            raise
    secrets.forget(name(definition_id))
