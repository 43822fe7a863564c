"""Partner endpoints' circuits: which are paused or disabled and why, and an operator's resume."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.api.http import known_parameters, page_limit, reply
from chalicelib.api.routing import Routes
from chalicelib.core.errors import invalid, require
from chalicelib.platform.dynamo_codec import BadCursor
from chalicelib.stores import circuits

routes = Routes(__name__)


@routes.management("/endpoints", methods=["GET"])
def list_endpoints(query: dict[str, str] | None) -> Response:
    """Every endpoint that has failed since it was last healthy, or ever been paused: a healthy one that never
    failed has no entry."""
    query = known_parameters(query, {"limit", "cursor"})
    try:
        found, cursor = circuits.page(page_limit(query.get("limit")), query.get("cursor"))
    except BadCursor as exc:
        raise invalid("cursor", str(exc)) from exc
    return reply(200, {"endpoints": [circuits.view(c) for c in found], "cursor": cursor})


@routes.management("/endpoints/{endpoint_id}", methods=["GET"])
def get_endpoint(endpoint_id: str) -> Response:
    return reply(200, circuits.view(require(circuits.get_by_id(endpoint_id), "endpoint", endpoint_id)))


@routes.management("/endpoints/{endpoint_id}/resume", methods=["POST"])
def resume_endpoint(endpoint_id: str) -> Response:
    """Closed again, with a fresh count: messages waiting on it go at their next look (within the hour); ones
    that expired meanwhile come back with a retry or a replay."""
    return reply(200, circuits.view(require(circuits.resume(endpoint_id), "endpoint", endpoint_id)))
