"""Replays: every message of one definition or configuration created in a window that the mode selects goes back
to its queue, as an operator's retry would send it, page by page (a task advanced by the minute tick).

Selection is by the message's state now, so a message that failed and then succeeded (a retry, a redrive) is
delivered and not replayed by `failed`; a message that changed between the read and the retry is skipped (the
lifecycle's conditional write refuses it), never sent twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.core import clock, ids
from chalicelib.core.errors import invalid, mismatch, unknown
from chalicelib.models.customer import OutboundConfiguration
from chalicelib.models.definitions import OutboundMessageDefinition
from chalicelib.models.messages import MessageRecord, MessageState
from chalicelib.models.replays import MAX_MESSAGES, MAX_WINDOW_DAYS, Mode, Replay, ReplayInput
from chalicelib.operations import actions
from chalicelib.platform.logs import log
from chalicelib.platform.settings import get_settings
from chalicelib.stores import config as config_store
from chalicelib.stores import message_listing
from chalicelib.stores import replays as replay_store

PAGE = 100
DEAD = [MessageState.failed, MessageState.expired, MessageState.undelivered]


def states(mode: Mode) -> list[MessageState]:
    return [*DEAD, MessageState.delivered] if mode == "all" else DEAD


def selects(mode: Mode, record: MessageRecord) -> bool:
    """Pure: whether the mode replays this message as it is now."""
    if record.state == MessageState.delivered:
        return mode == "all"
    if record.state not in DEAD:
        return False
    never_attempted = record.attempts == 0
    return mode == "all" or never_attempted == (mode == "missing")


def window(request: ReplayInput, now: datetime) -> tuple[datetime, datetime]:
    until = request.until or now
    if until < request.since:
        raise invalid("until", "must not be before since")
    if until - request.since > timedelta(days=MAX_WINDOW_DAYS):
        raise invalid("since", f"a window spans at most {MAX_WINDOW_DAYS} days")
    if request.since < now - timedelta(days=get_settings().retention_days):
        raise invalid("since", f"messages are kept {get_settings().retention_days} days")
    return request.since, until


def create(request: ReplayInput, seed: str | None = None) -> Replay:
    now = clock.now()
    since, until = window(request, now)
    if request.definition_id is not None:
        if config_store.get(config_store.DEFINITION, request.definition_id, OutboundMessageDefinition) is None:
            raise unknown("definition_id", f"{request.definition_id} is not an outbound message")
    else:
        configuration_id = request.configuration_id or ""
        if config_store.get(config_store.CONFIGURATION, configuration_id, OutboundConfiguration) is None:
            raise unknown("configuration_id", f"{configuration_id} is not an outbound configuration")
        if request.mode == "all":
            raise mismatch("mode", "all would text people again what they received; customer messages replay "
                                   "failed or missing ones")
    task = Replay(id=f"rpl_{seed}" if seed else ids.random_id("rpl"), definition_id=request.definition_id,
                  configuration_id=request.configuration_id, since=since, until=until, mode=request.mode,
                  dry_run=request.dry_run, created_at=now)
    version = replay_store.create(task)
    log("replay.created", replay_id=task.id, mode=task.mode, dry_run=task.dry_run,
        target=task.definition_id or task.configuration_id)
    return advance(task, version, pages=1)


LEASE = timedelta(minutes=5)


def advance(task: Replay, version: int, pages: int) -> Replay:
    """Up to `pages` pages of the window. Each page is taken first (a lease, written over the version read) and
    its outcome written after, so a crash resumes from the last page written, and a worker that lost the race
    for a page stops."""
    equals = {"definition_id": task.definition_id} if task.definition_id else {
        "configuration_id": task.configuration_id or ""}
    for _ in range(pages):
        now = clock.now()
        if task.state == "done" or (task.leased_until is not None and task.leased_until > now):
            break
        try:
            version = replay_store.replace(task.model_copy(update={"leased_until": now + LEASE}), version)
        except replay_store.Stale:
            break
        task = _page(task, equals)
        task = task.model_copy(update={"leased_until": None})
        version = replay_store.replace(task, version)
    if task.state == "done":
        log("replay.done", replay_id=task.id, matched=task.matched, replayed=task.replayed, skipped=task.skipped,
            capped=task.capped)
    return task


def _page(task: Replay, equals: dict[str, str]) -> Replay:
    try:
        found, cursor = message_listing.list_filtered(
            states(task.mode), PAGE, task.cursor, equals=equals,
            ranges={"created_at": (clock.iso(task.since), clock.iso(task.until))}, days=MAX_WINDOW_DAYS + 1)
    except message_listing.BadCursor:
        found, cursor = [], None
    update: dict[str, object] = {"examined": task.examined + len(found), "cursor": cursor}
    matched = replayed = skipped = 0
    for record in found:
        if not selects(task.mode, record):
            continue
        if task.matched + matched >= MAX_MESSAGES:
            update["capped"] = True
            cursor = None
            break
        matched += 1
        if task.dry_run:
            continue
        try:
            actions.retry(record, resend=True, by="replay")
            replayed += 1
        except actions.NotAllowed:
            skipped += 1
    update |= {"matched": task.matched + matched, "replayed": task.replayed + replayed,
               "skipped": task.skipped + skipped}
    if cursor is None:
        update |= {"state": "done", "finished_at": clock.now(), "cursor": None}
    return task.model_copy(update=update)


def tick(pages: int = 20) -> int:
    """Advance every running task by a bounded number of pages (the minute tick's share)."""
    advanced = 0
    for task in replay_store.all_tasks():
        if task.state != "running":
            continue
        found = replay_store.get_versioned(task.id)
        if found is not None:
            advance(found[0], found[1], pages)
            advanced += 1
    return advanced

