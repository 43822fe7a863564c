"""EventBridge Scheduler's schedule expressions, evaluated as Scheduler evaluates them (pure).

`at(yyyy-mm-ddThh:mm:ss)` fires once at that wall time of the schedule's time zone; `cron(...)` fires at each
matching wall time of the time zone; `rate(n minutes|hours|days)` fires every n units from its start, a day being
24 hours on the clock. Daylight saving time, as Scheduler documents it: a cron time that does not exist (the hour
skipped in spring) is skipped, and a wall time that happens twice (the hour repeated in autumn) fires once, at its
first occurrence. The local runtime fires schedules with this module, and `GET /schedules/{id}` shows the next
fire times with it; in AWS, Scheduler is the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.core.cron import Cron, CronError

AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
RATE = re.compile(r"^rate\((\d{1,6}) (minute|minutes|hour|hours|day|days)\)$")
UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
SEARCH_STEPS = 10_000  # cron candidates examined before giving up (a DST edge costs a handful)


class ExpressionError(ValueError):
    pass


@dataclass(frozen=True)
class Expression:
    kind: Literal["at", "rate", "cron"]
    text: str  # as Scheduler takes it
    at: datetime | None = None  # naive: a wall time of the schedule's zone
    period: timedelta | None = None
    cron: Cron | None = None


def zone(name: str) -> ZoneInfo:
    """An IANA time zone, or ExpressionError naming it."""
    try:
        if not re.fullmatch(r"[A-Za-z0-9_+\-/]{1,64}", name):
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ExpressionError(f"{name!r} is not an IANA time zone (such as Europe/Paris)") from exc


def parse(text: str) -> Expression:
    text = text.strip()
    if found := AT.match(text):
        try:
            moment = datetime.fromisoformat(found.group(1))
        except ValueError as exc:
            raise ExpressionError(f"{text}: not a real date and time") from exc
        return Expression("at", text, at=moment)
    if found := RATE.match(text):
        value, unit = int(found.group(1)), found.group(2).rstrip("s")
        if value < 1:
            raise ExpressionError("a rate is at least 1")
        return Expression("rate", f"rate({value} {unit}{'' if value == 1 else 's'})", period=UNITS[unit] * value)
    if text.startswith("cron("):
        try:
            cron = Cron(text)
        except CronError as exc:
            raise ExpressionError(str(exc)) from exc
        return Expression("cron", cron.expression, cron=cron)
    raise ExpressionError("use at(yyyy-mm-ddThh:mm:ss), rate(n minutes|hours|days) or cron(m h dom mon dow year)")


def wall_to_utc(wall: datetime, tz: ZoneInfo) -> datetime | None:
    """The instant of a wall time (its first occurrence when it happens twice), None when it does not exist."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) != wall:
        return None  # skipped by a spring-forward change
    return first


def next_fire(expression: Expression, tz: ZoneInfo, after: datetime, start: datetime) -> datetime | None:
    """The first firing strictly after `after` (aware); `start` anchors a rate (Scheduler's StartDate, or the
    schedule's creation)."""
    if expression.kind == "at":
        assert expression.at is not None
        moment = wall_to_utc(expression.at, tz)
        return moment if moment is not None and moment > after else None
    if expression.kind == "rate":
        assert expression.period is not None
        if after < start:
            return start
        steps = (after - start) // expression.period + 1
        return start + expression.period * steps
    assert expression.cron is not None
    # Search wall times from an hour before `after`'s wall time: in a repeated hour the wall clock goes back.
    probe = after.astimezone(tz).replace(tzinfo=None) - timedelta(hours=1)
    for _ in range(SEARCH_STEPS):
        candidate = expression.cron.next_after(probe.replace(tzinfo=UTC))
        if candidate is None:
            return None
        wall = candidate.replace(tzinfo=None)
        moment = wall_to_utc(wall, tz)
        if moment is not None and moment > after:
            return moment
        probe = wall
    return None


def fires_between(expression: Expression, tz: ZoneInfo, after: datetime, until: datetime, start: datetime,
                  limit: int = 1000) -> list[datetime]:
    """Every firing in (after, until], at most `limit`."""
    found: list[datetime] = []
    cursor = after
    while len(found) < limit:
        moment = next_fire(expression, tz, cursor, start)
        if moment is None or moment > until:
            break
        found.append(moment)
        cursor = moment
    return found


def upcoming(expression: Expression, tz: ZoneInfo, after: datetime, start: datetime, count: int = 5) -> list[datetime]:
    found: list[datetime] = []
    cursor = after
    while len(found) < count:
        moment = next_fire(expression, tz, cursor, start)
        if moment is None:
            break
        found.append(moment)
        cursor = moment
    return found
