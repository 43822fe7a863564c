"""Instant sends and schedules."""

from __future__ import annotations

from chalice import Response

from chalicelib.api.http import parse, reply
from chalicelib.models.customer import InstantSendRequest, ScheduleInput
from chalicelib.stores import idempotency
from chalicelib.triggers import instant, scheduled


def create_send(raw: bytes | None, idempotency_key: str | None = None, public_url: str = "") -> Response:
    """`public_url`: where this API is reached, for the status callbacks of the messages it creates."""
    return idempotency.run(
        "sends",
        idempotency_key,
        raw,
        lambda seed: reply(202, instant.send(parse(InstantSendRequest, raw), seed, public_url)),
    )


def create_schedule(raw: bytes | None, idempotency_key: str | None = None) -> Response:
    return idempotency.run(
        "schedules",
        idempotency_key,
        raw,
        lambda seed: reply(201, scheduled.create(parse(ScheduleInput, raw), seed)),
    )


def get_schedule(schedule_id: str) -> Response:
    return reply(200, scheduled.get(schedule_id))


def cancel_schedule(schedule_id: str) -> Response:
    return reply(200, scheduled.cancel(schedule_id))
