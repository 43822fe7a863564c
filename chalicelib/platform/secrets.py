"""Credentials and certificates from SSM Parameter Store (SecureString) or Secrets Manager, as JSON objects,
cached briefly, never logged.

A reference names its store: `/path/in/ssm` is an SSM parameter, `secretsmanager:<name or ARN>` (or a
Secrets Manager ARN) is a secret.
"""

from __future__ import annotations

import json
import time
from typing import Any

from chalicelib.platform import aws

_TTL_SECONDS = 300.0
_cache: dict[str, tuple[float, dict[str, Any]]] = {}
SECRETS_MANAGER_PREFIX = "secretsmanager:"


class SecretMissing(LookupError):
    """The reference names nothing readable (wrong name, deleted, or no permission)."""


def reference_problem(reference: str, stage: str | None = None) -> str | None:
    """Why a reference cannot name a secret, or None: checked at save time, before anything is read. With
    `stage`, it must also lie under that stage's prefix, the only secrets its IAM policy lets it read."""
    if reference.startswith(SECRETS_MANAGER_PREFIX) or reference.startswith("arn:aws:secretsmanager:"):
        name = reference.removeprefix(SECRETS_MANAGER_PREFIX)
        if name.startswith("arn:"):
            name = name.split(":secret:", 1)[-1]
        if not name:
            return "names no secret"
        if stage and not name.startswith(f"outbound/{stage}/"):
            return f"must name a secret under outbound/{stage}/ (the stage's functions may read no other)"
        return None
    if reference.startswith("/") and len(reference) > 1 and " " not in reference:
        if stage and not reference.startswith(f"/outbound/{stage}/"):
            return f"must be a parameter under /outbound/{stage}/ (the stage's functions may read no other)"
        return None
    return "must be an SSM parameter path (/...) or secretsmanager:<name or ARN>"


def _read(reference: str) -> str:
    try:
        if reference.startswith(SECRETS_MANAGER_PREFIX) or reference.startswith("arn:aws:secretsmanager:"):
            secret_id = reference.removeprefix(SECRETS_MANAGER_PREFIX)
            return str(aws.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
        return str(aws.client("ssm").get_parameter(Name=reference, WithDecryption=True)["Parameter"]["Value"])
    except Exception as exc:
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code", "")
        if code in {"ParameterNotFound", "ResourceNotFoundException", "AccessDeniedException"}:
            raise SecretMissing(f"{reference}: {code}") from exc
        raise


def json_secret(reference: str, max_age: float = _TTL_SECONDS) -> dict[str, Any]:
    hit = _cache.get(reference)
    if hit and time.monotonic() - hit[0] < max_age:
        return hit[1]
    value = json.loads(_read(reference))
    if not isinstance(value, dict):
        raise ValueError(f"{reference} must hold a JSON object")
    _cache[reference] = (time.monotonic(), value)
    return value


def json_parameter(name: str) -> dict[str, Any]:
    """An SSM parameter holding a JSON object (provider credentials)."""
    return json_secret(name)


def forget(reference: str) -> None:
    """Drop one cached value (this process just changed it)."""
    _cache.pop(reference, None)


def reset() -> None:
    _cache.clear()
