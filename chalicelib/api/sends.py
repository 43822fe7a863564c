"""Instant sends and schedules."""

from __future__ import annotations

from chalice import Response

from chalicelib.api.http import parse, reply
from chalicelib.models.customer import InstantSendRequest, ScheduleInput
from chalicelib.triggers import instant, scheduled


def create_send(raw: bytes | None) -> Response:
    return reply(202, instant.send(parse(InstantSendRequest, raw)))


def create_schedule(raw: bytes | None) -> Response:
    return reply(201, scheduled.create(parse(ScheduleInput, raw)))


def get_schedule(schedule_id: str) -> Response:
    return reply(200, scheduled.get(schedule_id))


def cancel_schedule(schedule_id: str) -> Response:
    return reply(200, scheduled.cancel(schedule_id))
