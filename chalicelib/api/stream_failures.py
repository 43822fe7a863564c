"""Record changes the stream handler could not process (triggers/stream_failures.py): list, replay, delete."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.api.http import reply
from chalicelib.api.routing import Routes
from chalicelib.core.errors import ApiError, require
from chalicelib.stores import config as config_store
from chalicelib.triggers.stream_failures import STREAM_FAILURE, StreamFailure, replay

routes = Routes(__name__)


@routes.management("/stream-failures", methods=["GET"], name="list_stream_failures")
def list_failures() -> Response:
    failures = sorted(config_store.list_all(STREAM_FAILURE, StreamFailure), key=lambda f: f.at, reverse=True)
    shown = [f.model_dump(mode="json", exclude={"record"}) | {"replayable": f.record is not None} for f in failures]
    return reply(200, {"stream_failures": shown})


def _get(failure_id: str) -> StreamFailure:
    return require(config_store.get(STREAM_FAILURE, failure_id, StreamFailure), "stream failure", failure_id)


@routes.management("/stream-failures/{failure_id}/replay", methods=["POST"], name="replay_stream_failure")
def replay_failure(failure_id: str) -> Response:
    problems = replay(_get(failure_id))
    if problems:
        raise ApiError(409, "still_failing", "; ".join(problems)[:1000])
    return reply(200, {"id": failure_id, "replayed": True})


@routes.management("/stream-failures/{failure_id}", methods=["DELETE"], name="delete_stream_failure")
def delete_failure(failure_id: str) -> Response:
    _get(failure_id)
    config_store.delete(STREAM_FAILURE, failure_id)
    return Response(body="", status_code=204)
