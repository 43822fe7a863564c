"""What the service says about itself: that it is up, and its OpenAPI document."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.api import openapi
from chalicelib.api.http import reply
from chalicelib.api.routing import Routes
from chalicelib.platform.settings import get_settings

routes = Routes(__name__)


@routes.public("/health")
def health() -> Response:
    return reply(200, {"status": "ok", "stage": get_settings().stage})


@routes.public("/openapi.json", methods=["GET"], name="openapi_document")
def openapi_json(base_url: str) -> Response:
    """This API's OpenAPI 3.1 document."""
    return reply(200, openapi.document(routes.current_app.routes, base_url or "/", get_settings().stage))
