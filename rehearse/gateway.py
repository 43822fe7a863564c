"""HTTP to the emulated API Gateway, addressed by the stack's real execute-api URL.

This machine cannot resolve `<api-id>.execute-api.<region>.amazonaws.com`; ministack serves the same API under
`/_aws/execute-api/<api-id>/<stage>/...`. `route` maps one to the other (and a function URL to ministack's own
address) and keeps the original Host header, as
DNS would: the functions see the host API Gateway would give them (the API derives its public URL from it).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

EXECUTE_API = re.compile(r"^(?P<api>[a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com$")
# A function URL (the stack's provider webhooks): ministack serves it at its own address when the Host header is
# the function URL's host, as DNS would deliver it.
FUNCTION_URL = re.compile(r"^[a-z0-9]+\.lambda-url\.[a-z0-9-]+\.on\.aws$")


class Gateway:
    def __init__(self, emulator_url: str) -> None:
        self.emulator_url = emulator_url.rstrip("/")

    def route(self, url: str) -> tuple[str, dict[str, str]]:
        parts = urlsplit(url)
        if FUNCTION_URL.match(parts.hostname or ""):
            target = f"{self.emulator_url}{parts.path}"
            return target + (f"?{parts.query}" if parts.query else ""), {"Host": parts.netloc}
        match = EXECUTE_API.match(parts.hostname or "")
        if not match:
            return url, {}
        target = f"{self.emulator_url}/_aws/execute-api/{match['api']}{parts.path}"
        return target + (f"?{parts.query}" if parts.query else ""), {"Host": parts.netloc}


class Api:
    """The management API of the deployed stack, through API Gateway, with (or without) a bearer key."""

    def __init__(self, gateway: Gateway, base_url: str, key: str | None) -> None:
        self.gateway, self.base_url, self.key = gateway, base_url.rstrip("/"), key

    def with_key(self, key: str | None) -> Api:
        return Api(self.gateway, self.base_url, key)

    def call(self, method: str, path: str, body: Any = None, timeout: float = 60.0,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        target, routed = self.gateway.route(self.base_url + path)
        data = json.dumps(body).encode() if body is not None else None
        headers = {**routed, "Content-Type": "application/json", **(headers or {})}
        if self.key is not None:
            headers["Authorization"] = f"Bearer {self.key}"
        request = urllib.request.Request(target, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")
