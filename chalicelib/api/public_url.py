"""The URL this API is reached at, which providers call back and sign (Twilio's X-Twilio-Signature covers it).

A first deploy must work without editing config, so the URL is not configuration by default: API Gateway tells
each request where it arrived (host, and the stage or base-path prefix in `requestContext.path`). The
`PUBLIC_API_URL` setting overrides it, for a custom domain in front of a CDN or a proxy that rewrites the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def from_request(headers: Mapping[str, str], context: Mapping[str, Any], path: str | None) -> str | None:
    """`https://<host><prefix>` where `<prefix>` is what API Gateway put before the route (`/api`, a base path);
    None when the request does not say (chalice local)."""
    host = context.get("domainName") or headers.get("host")
    full = context.get("path")
    if not host or not isinstance(full, str) or not path:
        return None
    if not full.endswith(path):
        return None
    scheme = (headers.get("x-forwarded-proto") or "https").split(",")[0].strip() or "https"
    return f"{scheme}://{host}{full[: len(full) - len(path)]}".rstrip("/")


def resolve(configured: str, headers: Mapping[str, str], context: Mapping[str, Any], path: str | None) -> str:
    """The configured URL if there is one, else the request's own; "" when neither is known."""
    if configured:
        return configured.rstrip("/")
    return from_request(headers, context, path) or ""
