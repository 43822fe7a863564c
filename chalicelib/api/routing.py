"""Each resource declares its routes beside its handlers, on a `Routes` blueprint that app.py registers.

A handler is a plain function of plain values: its path parameters plus any of the request inputs named in
`INPUTS` (`raw` for the body, `query`, `headers`, `if_match`, `idempotency_key`, `base_url`), so it is called the
same way by a route, a test or the bench. The route passes exactly the inputs the handler's signature names;
a name it does not know is refused when the module is imported, not at the first request.

Every function of the stack loads app.py, and a route module loads the stores, models and templating its
handlers need: app.py registers them only where HTTP is served, so a sender's or the stream's cold start does not
pay for the API (`make bench` measures both).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint, Request, Response

from chalicelib.api.authorizer import bearer_key
from chalicelib.api.http import endpoint
from chalicelib.api.public_url import resolve
from chalicelib.platform import api_keys

Handler = Callable[..., Response]


def _base_url(request: Request) -> str:
    """Where this request reached the API (PUBLIC_API_URL overrides): Twilio calls back and signs that URL."""
    from chalicelib.platform.settings import get_settings

    return resolve(get_settings().public_api_url, request.headers, request.context or {},
                   request.to_original_event().get("path"))


def _body(request: Request) -> bytes | None:
    raw = request.raw_body
    return raw.encode() if isinstance(raw, str) else raw


INPUTS: dict[str, Callable[[Request], Any]] = {
    "raw": _body,
    "query": lambda request: request.query_params,
    "headers": lambda request: request.headers,
    "if_match": lambda request: request.headers.get("if-match"),  # only over the version it names (412)
    "idempotency_key": lambda request: request.headers.get("idempotency-key"),
    "base_url": _base_url,
}


class Routes(Blueprint):
    """A resource's routes. `management` routes carry the API key's authorizer on the stages that require one
    (API_AUTH); `public` ones answer without a key: providers' callbacks (they sign instead), health, the OpenAPI
    document, the console page."""

    def management(self, path: str, *, name: str | None = None, **options: Any) -> Callable[[Handler], Handler]:
        if api_keys.required():
            options["authorizer"] = bearer_key
        return self._declare(path, name, options)

    def public(self, path: str, *, name: str | None = None, **options: Any) -> Callable[[Handler], Handler]:
        return self._declare(path, name, options)

    def _declare(self, path: str, name: str | None, options: dict[str, Any]) -> Callable[[Handler], Handler]:
        """Register the handler behind a view that gathers its inputs; `name` is the operation id when it differs
        from the handler's. The handler itself is returned unchanged."""

        def declare(handler: Handler) -> Handler:
            in_path = set(re.findall(r"{(\w+)}", path))
            wanted = [p for p in inspect.signature(handler).parameters if p not in in_path]
            unknown = [p for p in wanted if p not in INPUTS]
            if unknown:
                raise TypeError(f"{handler.__qualname__}: {unknown} are neither in {path} nor request inputs")

            def view(**parameters: str) -> Response:
                request = self.current_request
                return handler(**parameters, **{input_name: INPUTS[input_name](request) for input_name in wanted})

            view.__name__ = name or handler.__name__
            view.__doc__ = handler.__doc__  # the OpenAPI document's summary
            self.route(path, name=view.__name__, **options)(endpoint(view))
            return handler

        return declare
