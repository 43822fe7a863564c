"""The operator console: one self-contained page, served by the API itself so it works offline and
on AWS alike. No CDN: its script and style are written here, inline (console.html beside this module). The page
holds no secret: the operator types the API key, the tab keeps it (sessionStorage), every call carries it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from chalice.app import Response

from chalicelib.api.routing import Routes

PAGE = Path(__file__).resolve().with_name("console.html")
# Inline script and style only, calls to this API only, never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

routes = Routes(__name__)


@lru_cache(maxsize=1)
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


@routes.public("/console", methods=["GET"], name="console")
def page() -> Response:
    """The operator console page (no key needed to load it; every call it makes carries the key typed in)."""
    return Response(body=_page(), status_code=200, headers={"Content-Type": "text/html; charset=utf-8",
                                                            **SECURITY_HEADERS})
