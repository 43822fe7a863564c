"""A partner's SOAP listener served by the stage itself, for the local walkthrough: what it checks and keeps is
soap/reference_listener.py's, and it answers 404 unless the stage enables it."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.api.http import reply
from chalicelib.api.routing import Routes
from chalicelib.soap import reference_listener as listener

routes = Routes(__name__)


@routes.public("/reference-listener", methods=["POST"], content_types=["text/xml", "application/soap+xml"],
               name="reference_listener")
def receive(raw: bytes | None) -> Response:
    status, body = listener.receive(raw or b"")
    return Response(body=body.decode("utf-8"), status_code=status, headers={"Content-Type": "text/xml; charset=utf-8"})


@routes.management("/reference-listener/received", methods=["GET"], name="reference_listener_received")
def received() -> Response:
    return reply(200, {"notifications": listener.received()})
