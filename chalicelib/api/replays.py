"""Replays by time window: POST starts a task (202), GET follows it."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.api.http import idempotent, parse, reply
from chalicelib.api.routing import Routes
from chalicelib.core.errors import require
from chalicelib.models.replays import ReplayInput
from chalicelib.operations import replays
from chalicelib.stores import replays as replay_store

routes = Routes(__name__)


@routes.management("/replays", methods=["POST"])
def create_replay(raw: bytes | None, idempotency_key: str | None = None) -> Response:
    """The first page is replayed in this call; the minute tick carries on (GET /replays/{id} follows it). With
    an Idempotency-Key a retried call answers as the first did and starts nothing."""
    return idempotent("replays", idempotency_key, raw, 202, lambda seed: replays.create(parse(ReplayInput, raw), seed))


@routes.management("/replays/{replay_id}", methods=["GET"])
def get_replay(replay_id: str) -> Response:
    return reply(200, require(replay_store.get(replay_id), "replay", replay_id))


@routes.management("/replays", methods=["GET"])
def list_replays() -> Response:
    found = sorted(replay_store.all_tasks(), key=lambda t: t.created_at, reverse=True)
    return reply(200, {"replays": [t.model_dump(mode="json") for t in found]})
