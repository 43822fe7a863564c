"""Schedules: EventBridge Scheduler schedules of sends, and the firings that could not send."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.api.http import idempotent, known_parameters, page_limit, parse, reply, versioned_reply
from chalicelib.api.routing import Routes
from chalicelib.core.errors import invalid, require
from chalicelib.models.schedules import ScheduleInput, SchedulePatch
from chalicelib.platform.dynamo_codec import BadCursor
from chalicelib.stores import schedules as schedule_store
from chalicelib.triggers import scheduled

routes = Routes(__name__)


STATES = ("active", "paused", "done", "failed")


@routes.management("/schedules", methods=["POST"])
def create_schedule(raw: bytes | None, idempotency_key: str | None = None) -> Response:
    return idempotent("schedules", idempotency_key, raw, 201,
                      lambda seed: scheduled.create(parse(ScheduleInput, raw), seed))


@routes.management("/schedules", methods=["GET"])
def list_schedules(query: dict[str, str] | None) -> Response:
    query = known_parameters(query, {"configuration_id", "state", "limit", "cursor"})
    state = query.get("state")
    if state is not None and state not in STATES:
        raise invalid("state", f"one of {', '.join(STATES)}")
    try:
        found, cursor = scheduled.page(page_limit(query.get("limit")), query.get("cursor"),
                                       query.get("configuration_id"), state)
    except BadCursor as exc:
        raise invalid("cursor", str(exc)) from exc
    return reply(200, {"schedules": [s.model_dump(mode="json") for s in found], "cursor": cursor})


@routes.management("/schedules/{schedule_id}", methods=["GET"])
def get_schedule(schedule_id: str) -> Response:
    return versioned_reply(200, *scheduled.get(schedule_id))


@routes.management("/schedules/{schedule_id}", methods=["PATCH"])
def patch_schedule(schedule_id: str, raw: bytes | None, if_match: str | None = None) -> Response:
    return versioned_reply(200, *scheduled.patch(schedule_id, parse(SchedulePatch, raw), if_match))


@routes.management("/schedules/{schedule_id}", methods=["DELETE"])
def delete_schedule(schedule_id: str, if_match: str | None = None) -> Response:
    scheduled.delete(schedule_id, if_match)
    return Response(body="", status_code=204)


@routes.management("/schedule-failures", methods=["GET"], name="list_schedule_failures")
def list_failures(query: dict[str, str] | None) -> Response:
    query = known_parameters(query, {"limit", "cursor"})
    try:
        found, cursor = schedule_store.failures(page_limit(query.get("limit")), query.get("cursor"))
    except BadCursor as exc:
        raise invalid("cursor", str(exc)) from exc
    return reply(200, {"failures": [f.model_dump(mode="json") for f in found], "cursor": cursor})


@routes.management("/schedule-failures/{failure_id}", methods=["DELETE"], name="delete_schedule_failure")
def delete_failure(failure_id: str) -> Response:
    require(schedule_store.get_failure(failure_id), "schedule failure", failure_id)
    schedule_store.delete_failure(failure_id)
    return Response(body="", status_code=204)
