"""Instant sends."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.api.http import idempotent, parse
from chalicelib.api.routing import Routes
from chalicelib.models.customer import InstantSendRequest
from chalicelib.triggers import instant

routes = Routes(__name__)


@routes.management("/sends", methods=["POST"])
def create_send(raw: bytes | None, idempotency_key: str | None = None, base_url: str = "") -> Response:
    """`base_url`: where this API is reached, for the status callbacks of the messages it creates."""
    return idempotent("sends", idempotency_key, raw, 202,
                      lambda seed: instant.send(parse(InstantSendRequest, raw), seed, base_url))
