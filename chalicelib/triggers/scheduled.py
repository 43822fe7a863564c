"""Scheduled sends: the API's schedules (EventBridge Scheduler schedules, with our copy for listing) and the
scheduled-send function every schedule invokes - ours, and operators' own.

A firing is idempotent: its message ids derive from the schedule and the firing's scheduled time, which Scheduler
keeps across its retries of one invocation, so a retried firing finds its messages already written and sends
nothing twice. An event that cannot send (malformed, a configuration gone, a contact that cannot be rendered) is
a log line and a failure record (GET /schedule-failures), never an exception: Scheduler would retry it in vain.
Anything else (AWS not answering) raises, and Scheduler retries, then parks the event on the schedule DLQ.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from chalicelib.core import clock, ids
from chalicelib.core import schedule_expressions as expressions
from chalicelib.core.errors import ApiError, invalid, mismatch, not_found, require
from chalicelib.core.texts import clip
from chalicelib.core.versions import expected_version, stale
from chalicelib.models.customer import Contact
from chalicelib.models.messages import MessageSource
from chalicelib.models.schedules import (
    Firing,
    FiringFailure,
    OperatorSend,
    Schedule,
    ScheduleInput,
    SchedulePatch,
    Timing,
)
from chalicelib.platform.logs import log
from chalicelib.stores import config as config_store
from chalicelib.stores import scheduler
from chalicelib.stores import schedules as schedule_store
from chalicelib.triggers.customer import build_records, load_configuration
from chalicelib.triggers.dispatch import dispatch

MAX_FAILURES = 5  # failed firings in a row before our copy says `failed` (Scheduler keeps firing: pause or fix it)


def _zone(name: str) -> Any:
    try:
        return expressions.zone(name)
    except expressions.ExpressionError as exc:
        raise invalid("timezone", str(exc)) from exc


def expression_for(timing: Timing, tz_name: str, now: datetime) -> tuple[str, datetime]:
    """(Scheduler's expression, the first firing or a rate's start) for one timing, or a 400 naming it."""
    tz = _zone(tz_name)
    if timing.at is not None or timing.delay_seconds is not None:
        field = "at" if timing.at is not None else "delay_seconds"
        if timing.at is not None:
            wall = timing.at.astimezone(tz).replace(tzinfo=None) if timing.at.tzinfo else timing.at
        else:
            moment = now + timedelta(seconds=timing.delay_seconds or 0)
            wall = moment.astimezone(tz).replace(tzinfo=None)
        wall = wall.replace(microsecond=0)
        first = expressions.wall_to_utc(wall, tz)
        if first is None:
            raise invalid(field, f"{wall.isoformat()} does not exist in {tz_name} (a daylight saving time change)")
        if first < now.replace(microsecond=0):
            raise invalid(field, "must lie in the future")
        return f"at({wall.isoformat(timespec='seconds')})", first
    cron = timing.cron.strip() if timing.cron else None
    if cron and not cron.startswith("cron("):
        cron = f"cron({cron})"  # the six fields alone, as EventBridge rules' console shows them
    text = cron or timing.rate or f"rate({timing.rate_minutes} minutes)"
    field = "cron" if timing.cron else ("rate" if timing.rate else "rate_minutes")
    try:
        parsed = expressions.parse(text)
    except expressions.ExpressionError as exc:
        raise invalid(field, str(exc)) from exc
    start = now + parsed.period if parsed.period else now
    first = expressions.next_fire(parsed, tz, now, start)
    if first is None:
        raise invalid(field, "never fires in the next five years")
    return parsed.text, (start if parsed.period else first)


def _with_next(schedule: Schedule, now: datetime, count: int = 5) -> Schedule:
    if schedule.state != "active":
        return schedule.model_copy(update={"next_fire_times": []})
    parsed = expressions.parse(schedule.expression)
    after = max(now, schedule.last_scheduled_time or now)
    upcoming = expressions.upcoming(parsed, expressions.zone(schedule.timezone), after, schedule.start_at, count)
    return schedule.model_copy(update={"next_fire_times": upcoming})


def _check_contacts(configuration_id: str, contacts: list[Contact], now: datetime) -> None:
    """Refused now, not when it fires: every contact is checked and rendered as a firing would (a 400 naming it)."""
    configuration, template = load_configuration(configuration_id)
    build_records(configuration, template, contacts, MessageSource(kind="scheduled", ref="check"), now,
                  lambda index: f"check_{index}")


def create(request: ScheduleInput, seed: str | None = None) -> Schedule:
    now = clock.now()
    expression, start = expression_for(request, request.timezone, now)
    _check_contacts(request.configuration_id, request.contacts, now)
    schedule = Schedule(
        id=f"sch_{seed}" if seed else ids.random_id("sch"),
        configuration_id=request.configuration_id,
        contacts=request.contacts,
        expression=expression,
        timezone=request.timezone,
        flexible_window_minutes=request.flexible_window_minutes,
        start_at=start,
        created_at=now,
    )
    schedule_store.put(schedule)
    try:
        scheduler.create(schedule)
    except Exception:
        schedule_store.delete(schedule.id)  # no copy of a schedule Scheduler does not have
        raise
    log("schedule.created", schedule_id=schedule.id, expression=expression, timezone=schedule.timezone)
    return _with_next(schedule, now)


def get(schedule_id: str) -> tuple[Schedule, int]:
    found, version = require(schedule_store.get_versioned(schedule_id), "schedule", schedule_id)
    return _with_next(found, clock.now()), version


def page(limit: int, cursor: str | None, configuration_id: str | None, state: str | None
         ) -> tuple[list[Schedule], str | None]:
    found, following = schedule_store.page(limit, cursor, configuration_id, state)
    now = clock.now()
    return [_with_next(s, now, count=1) for s in found], following


def patch(schedule_id: str, change: SchedulePatch, if_match: str | None = None) -> tuple[Schedule, int]:
    """Scheduler first (it refuses what it cannot run), then our copy over the version read: a change that lost
    the race to another puts Scheduler back to the winner's schedule and is refused (412)."""
    schedule, version = require(schedule_store.get_versioned(schedule_id), "schedule", schedule_id)
    expected = expected_version(if_match, version)
    if schedule.state == "done":
        raise mismatch("state", "this one-time schedule has fired; create a new one")
    now = clock.now()
    update: dict[str, Any] = {"updated_at": now}
    timezone = change.timezone or schedule.timezone
    if change.timings() or change.timezone is not None:
        timing = change if change.timings() else _timing_of(schedule)
        expression, start = expression_for(timing, timezone, now)
        update |= {"expression": expression, "start_at": start, "timezone": timezone}
    if change.contacts is not None:
        _check_contacts(schedule.configuration_id, change.contacts, now)
        update["contacts"] = change.contacts
    if change.flexible_window_minutes is not None:
        update["flexible_window_minutes"] = change.flexible_window_minutes
    if change.state is not None:
        update |= {"state": change.state, "failures": 0}
    changed = schedule.model_copy(update=update)
    if not scheduler.update(changed):
        raise _gone_from_scheduler(schedule_id)
    try:
        new_version = schedule_store.put(changed, expected=expected)
    except config_store.Stale as exc:
        winner = schedule_store.get(schedule_id)
        if winner is None:
            raise not_found("schedule", schedule_id) from exc  # a DELETE won the race
        scheduler.update(winner)
        raise stale(exc) from exc
    log("schedule.changed", schedule_id=schedule_id, state=changed.state, expression=changed.expression)
    return _with_next(changed, now), new_version


def _gone_from_scheduler(schedule_id: str) -> ApiError:
    """Scheduler no longer has a schedule our copy still lists: a DELETE in flight (its copy goes next: 404), a
    one-time schedule that deleted itself on firing, or one removed outside the API (409: nothing to change)."""
    if schedule_store.get(schedule_id) is None:
        return not_found("schedule", schedule_id)
    return mismatch("state", "EventBridge Scheduler no longer has this schedule (a one-time schedule deletes "
                             "itself once it fires, or it was deleted); delete it here and create a new one")


def _timing_of(schedule: Schedule) -> Timing:
    """A schedule's own timing, to evaluate again in a new time zone."""
    if schedule.expression.startswith("at("):
        return Timing(at=datetime.fromisoformat(schedule.expression[3:-1]))
    if schedule.expression.startswith("rate("):
        return Timing(rate=schedule.expression)
    return Timing(cron=schedule.expression)


def delete(schedule_id: str, if_match: str | None = None) -> None:
    _, version = require(schedule_store.get_versioned(schedule_id), "schedule", schedule_id)
    expected_version(if_match, version)
    scheduler.delete(schedule_id)
    schedule_store.delete(schedule_id)
    log("schedule.deleted", schedule_id=schedule_id)


# --- the scheduled-send function --------------------------------------------------------------------------------

def _utc(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _failed(event: Any, reason: str, *, schedule_id: str | None = None, schedule_arn: str | None = None,
            scheduled_time: str | None = None) -> dict[str, Any]:
    now = clock.now()
    text = clip(json.dumps(event, default=str) if not isinstance(event, str) else event) or ""
    digest = hashlib.sha256(f"{text}\x1f{scheduled_time}".encode()).hexdigest()[:16]
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")  # ids sort by time and stay URL-safe
    failure = FiringFailure(id=f"sf_{stamp}_{digest}", at=now, reason=clip(reason) or "", event=text,
                            schedule_id=schedule_id, schedule_arn=schedule_arn, scheduled_time=scheduled_time)
    schedule_store.add_failure(failure)
    log("schedule.firing_failed", logging.ERROR, schedule_id=schedule_id, schedule_arn=schedule_arn,
        scheduled_time=scheduled_time, reason=failure.reason)
    return {"sent": 0, "failure": failure.id, "reason": failure.reason}


def _send(configuration_id: str, contacts: list[Contact], key: str, scheduled_time: datetime) -> list[str]:
    configuration, template = load_configuration(configuration_id)
    moment = clock.iso(scheduled_time)
    records = build_records(
        configuration, template, contacts, MessageSource(kind="scheduled", ref=f"{key}@{moment}"), clock.now(),
        lambda index: ids.deterministic_id("scheduled", key, moment, str(index)),
    )
    return dispatch(records)


def _record_schedule_failure(schedule: Schedule, reason: str, permanent: bool) -> None:
    failures = schedule.failures + 1
    state = "failed" if permanent or failures >= MAX_FAILURES else schedule.state
    changed = schedule.model_copy(update={"failures": failures, "last_error": clip(reason),
                                          "last_failed_at": clock.now(), "state": state})
    schedule_store.record_failure(changed)


def fire(event: Any) -> dict[str, Any]:
    """The scheduled-send function's work for one invocation (its event is the schedule's input, as is)."""
    if not isinstance(event, dict):
        return _failed(event, "the event is not a JSON object")
    if "schedule_id" in event:
        try:
            firing = Firing.model_validate(event)
        except ValidationError as exc:
            return _failed(event, _reasons(exc), schedule_id=str(event.get("schedule_id"))[:100])
        return _fire_schedule(event, firing)
    try:
        send = OperatorSend.model_validate(event)
    except ValidationError as exc:
        return _failed(event, _reasons(exc) + _CONTRACT, schedule_arn=str(event.get("schedule_arn") or "")[:512]
                       or None)
    key = send.schedule_arn or hashlib.sha256(
        json.dumps({"c": send.configuration_id, "k": [c.model_dump(mode="json") for c in send.contacts]},
                   sort_keys=True).encode()).hexdigest()[:32]
    when = _utc(send.scheduled_time)
    try:
        sent = _send(send.configuration_id, send.contacts, key, when)
    except ApiError as exc:
        if exc.status >= 500:
            raise
        return _failed(event, exc.message, schedule_arn=send.schedule_arn, scheduled_time=clock.iso(when))
    log("schedule.fired", schedule_arn=send.schedule_arn, scheduled_time=clock.iso(when), messages=len(sent))
    return {"sent": len(sent), "message_ids": sent}


_CONTRACT = (' (expected {"configuration_id": ..., "contacts": [...], "scheduled_time": '
             '"<aws.scheduler.scheduled-time>"} or {"schedule_id": ..., "scheduled_time": ...})')


def _reasons(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in exc.errors())


def _fire_schedule(event: dict[str, Any], firing: Firing) -> dict[str, Any]:
    when = _utc(firing.scheduled_time)
    schedule = schedule_store.get(firing.schedule_id)
    if schedule is None:
        return _failed(event, f"schedule {firing.schedule_id} does not exist (deleted while a firing was under way?)",
                       schedule_id=firing.schedule_id, scheduled_time=clock.iso(when))
    if schedule.state == "paused":
        log("schedule.skipped_paused", schedule_id=schedule.id, scheduled_time=clock.iso(when))
        return {"sent": 0, "skipped": "paused"}
    try:
        sent = _send(schedule.configuration_id, schedule.contacts, schedule.id, when)
    except ApiError as exc:
        if exc.status >= 500:
            raise
        _record_schedule_failure(schedule, exc.message, permanent=True)
        return _failed(event, exc.message, schedule_id=schedule.id, scheduled_time=clock.iso(when))
    except Exception as exc:
        _record_schedule_failure(schedule, f"{type(exc).__name__}: {exc}", permanent=False)
        raise  # Scheduler retries the invocation, then parks it on the schedule DLQ
    state = "done" if schedule.expression.startswith("at(") else schedule.state
    if not schedule_store.record_firing(schedule.id, when, state if state != "failed" else "active"):
        log("schedule.firing_repeated", schedule_id=schedule.id, scheduled_time=clock.iso(when))
    log("schedule.fired", schedule_id=schedule.id, scheduled_time=clock.iso(when), messages=len(sent))
    return {"sent": len(sent), "message_ids": sent}
