"""Scheduled sends (one-time, delayed, recurring) and the minute tick that fires them.

The tick also sweeps: a queued record whose time is long past, or a sending record whose lease ran out, lost
its queue message (a crash between the write and the enqueue); it is enqueued again. Duplicates are harmless:
the sender's conditional claim lets exactly one copy through.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from chalicelib.core import clock, ids
from chalicelib.core.cron import Cron, CronError
from chalicelib.core.errors import ApiError, invalid, require
from chalicelib.models.customer import Schedule, ScheduleInput
from chalicelib.models.messages import MessageSource, MessageState, QueueBody
from chalicelib.platform.logs import log
from chalicelib.platform.settings import get_settings
from chalicelib.stores import config as config_store
from chalicelib.stores import messages as message_store
from chalicelib.stores import queues
from chalicelib.triggers.customer import build_records, load_configuration
from chalicelib.triggers.dispatch import dispatch


def create(request: ScheduleInput, seed: str | None = None) -> Schedule:
    if request.cron is not None:
        try:
            request = request.model_copy(update={"cron": Cron(request.cron).expression})
        except CronError as exc:
            raise invalid("cron", str(exc)) from exc
    configuration, template = load_configuration(request.configuration_id)
    now = clock.now()
    # Refused now, not when it fires: every contact is checked and rendered as a firing would (a 400 naming it).
    build_records(configuration, template, request.contacts, MessageSource(kind="scheduled", ref="check"), now,
                  lambda index: f"check_{index}")
    if request.at is not None:
        first = request.at
    elif request.delay_seconds is not None:
        first = now + timedelta(seconds=request.delay_seconds)
    elif request.cron is not None:
        found = Cron(request.cron).next_after(now)
        if found is None:
            raise invalid("cron", "never fires in the next five years")
        first = found
    else:
        first = now + timedelta(minutes=request.rate_minutes or 0)
    schedule = Schedule(
        id=f"sch_{seed}" if seed else ids.random_id("sch"),
        configuration_id=request.configuration_id,
        contacts=request.contacts,
        next_run_at=first,
        rate_minutes=request.rate_minutes,
        cron=request.cron,
        created_at=now,
    )
    config_store.put_schedule(schedule.id, schedule, clock.iso(first), None)
    return schedule


def get(schedule_id: str) -> Schedule:
    return require(config_store.get(config_store.SCHEDULE, schedule_id, Schedule), "schedule", schedule_id)


def cancel(schedule_id: str) -> Schedule:
    schedule = get(schedule_id).model_copy(update={"status": "cancelled", "next_run_at": None})
    config_store.put_schedule(schedule_id, schedule, None, None)
    return schedule


def _following(schedule: Schedule, now: datetime) -> datetime | None:
    if schedule.cron is not None:  # missed runs are skipped here too: the next one after now
        return Cron(schedule.cron).next_after(max(now, schedule.next_run_at or now))
    if schedule.rate_minutes is None or schedule.next_run_at is None:
        return None
    step = timedelta(minutes=schedule.rate_minutes)
    nxt = schedule.next_run_at + step
    if nxt <= now:  # missed runs (an outage) are skipped, not replayed in a burst
        nxt += step * ((now - nxt) // step + 1)
    return nxt


def fire(schedule: Schedule, now: datetime) -> list[str]:
    configuration, template = load_configuration(schedule.configuration_id)
    run = schedule.runs
    records = build_records(
        configuration,
        template,
        schedule.contacts,
        MessageSource(kind="scheduled", ref=f"{schedule.id}#{run}"),
        now,
        lambda index: ids.deterministic_id("scheduled", schedule.id, str(run), str(index)),
    )
    message_ids = dispatch(records)
    following = _following(schedule, now)
    updated = schedule.model_copy(
        update={
            "runs": run + 1,
            "next_run_at": following,
            "status": "active" if following else "done",
            "failures": 0,
        }
    )
    if not config_store.put_schedule(schedule.id, updated, clock.iso(following) if following else None, run):
        log("schedule.already_advanced", schedule_id=schedule.id, run=run)
    return message_ids


def sweep(now: datetime, grace: timedelta) -> int:
    """Re-enqueue records whose queue message was lost; returns how many."""
    count = 0
    for state, behind in ((MessageState.queued, 0), (MessageState.sending, 1)):
        cursor = None
        while True:
            stuck, cursor = message_store.list_by_state(state, 100, cursor, due_before=now - grace)
            for record in stuck:
                queues.enqueue(
                    record.channel, [QueueBody(message_id=record.message_id, attempt=record.attempts - behind)]
                )
                log("message.swept", logging.WARNING, message_id=record.message_id, state=state.value)
                count += 1
            if cursor is None:
                break
    return count


MAX_FAILURES = 5  # firings in a row before a schedule is set to `failed` (an operator fixes and recreates it)
TICK_PAGES = 20  # pages of 100 due schedules one tick may fire


def record_failure(schedule: Schedule, error: str, permanent: bool, now: datetime) -> Schedule:
    """The failure, on the schedule where GET /schedules/{id} shows it; the schedule's next try moves back
    (1, 2, 4 ... minutes) so a broken one never sits at the head of the due list, and after MAX_FAILURES in
    a row, or at once when retrying cannot help (the configuration is gone, a contact cannot be rendered),
    it is `failed` and leaves the due list."""
    failures = schedule.failures + 1
    give_up = permanent or failures >= MAX_FAILURES
    retry_at = now + timedelta(minutes=min(2 ** (failures - 1), 60))
    updated = schedule.model_copy(
        update={
            "failures": failures,
            "last_error": error[:1000],
            "last_failed_at": now,
            "status": "failed" if give_up else schedule.status,
            "next_run_at": None if give_up else retry_at,
        }
    )
    config_store.put_schedule(schedule.id, updated, None if give_up else clock.iso(retry_at), None)
    log("schedule.failed", logging.ERROR, schedule_id=schedule.id, failures=failures, gave_up=give_up, error=error)
    return updated


def tick() -> dict[str, int]:
    now = clock.now()
    fired = failed = 0
    seen: set[str] = set()
    for _ in range(TICK_PAGES):
        due = [i for i in config_store.due_schedule_ids(clock.iso(now)) if i not in seen]
        if not due:
            break
        for schedule_id in due:
            seen.add(schedule_id)
            schedule = config_store.get(config_store.SCHEDULE, schedule_id, Schedule)
            if schedule is None or schedule.status != "active":
                continue
            try:
                fired += len(fire(schedule, now))
            except Exception as exc:  # noqa: BLE001 - one broken schedule must not stop the others
                failed += 1
                permanent = isinstance(exc, ApiError) and 400 <= exc.status < 500
                reason = exc.message if isinstance(exc, ApiError) else f"{type(exc).__name__}: {exc}"
                record_failure(schedule, reason, permanent, now)
    grace = timedelta(seconds=get_settings().sweep_grace_seconds)
    return {"messages": fired, "failed": failed, "swept": sweep(now, grace)}
