"""Provider credentials from SSM Parameter Store (SecureString JSON), cached briefly, never logged."""

from __future__ import annotations

import json
import time
from typing import Any

from chalicelib import aws

_TTL_SECONDS = 300.0
_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def json_parameter(name: str) -> dict[str, Any]:
    hit = _cache.get(name)
    if hit and time.monotonic() - hit[0] < _TTL_SECONDS:
        return hit[1]
    answer = aws.client("ssm").get_parameter(Name=name, WithDecryption=True)
    value = json.loads(answer["Parameter"]["Value"])
    if not isinstance(value, dict):
        raise ValueError(f"parameter {name} must hold a JSON object")
    _cache[name] = (time.monotonic(), value)
    return value


def reset() -> None:
    _cache.clear()
