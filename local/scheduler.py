"""EventBridge Scheduler's clock for the local runtime.

moto stores Scheduler schedules but never fires them. This fires them as Scheduler does: each ENABLED schedule's
`at`/`cron`/`rate` expression is evaluated in its time zone (chalicelib/core/schedule_expressions.py: DST gaps
skipped, repeated hours once), on the shiftable clock the tests use; the target function is invoked with the
schedule's Input, its context attributes filled; a firing whose invocation raises is retried on the next ticks
up to the schedule's RetryPolicy, then sent to its dead-letter queue; a one-time schedule with
ActionAfterCompletion DELETE is deleted once it fired. Schedules created by the API and by hand (boto3 against
moto) are fired alike. Flexible windows are not simulated: a firing happens at its scheduled time.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.core import clock
from chalicelib.core import schedule_expressions as expressions

LOG = logging.getLogger("outbound.local.scheduler")


class LocalScheduler:
    def __init__(self, client: Callable[[], Any], group: str, invoke: Callable[[str, dict[str, Any]], Any]) -> None:
        """`invoke(target_arn, event)` runs the target's handler; `client()` is a boto3 scheduler client."""
        self.client, self.group, self.invoke = client, group, invoke
        self.seen: dict[str, datetime] = {}  # schedule name -> instant evaluated up to
        self.fired: list[tuple[str, datetime]] = []
        self.retries: dict[tuple[str, datetime], int] = {}
        self.ticks: list[datetime] = []  # when each tick ran (tests wait on it)
        self._cache: dict[str, tuple[Any, dict[str, Any]]] = {}  # name -> (LastModificationDate, schedule)

    def _schedules(self) -> list[dict[str, Any]]:
        found, token = [], None
        while True:
            page = self.client().list_schedules(GroupName=self.group, **({"NextToken": token} if token else {}))
            found += page.get("Schedules", [])
            token = page.get("NextToken")
            if not token:
                return found

    def tick(self) -> int:
        """Fire what is due now; returns how many invocations were made."""
        now = clock.now()
        calls = 0
        self.ticks.append(now)
        listed = self._schedules()
        for gone in set(self._cache) - {summary["Name"] for summary in listed}:
            del self._cache[gone]
        for summary in listed:
            name = summary["Name"]
            schedule = self._schedule(name, summary.get("LastModificationDate"))
            if schedule.get("State") != "ENABLED":
                self.seen[name] = now
                continue
            calls += self._fire_due(schedule, now)
        for (name, moment), attempts in list(self.retries.items()):
            del self.retries[(name, moment)]
            try:
                schedule = self.client().get_schedule(Name=name, GroupName=self.group)
            except Exception:  # noqa: BLE001, S112 - deleted meanwhile: its pending retry goes with it
                continue
            calls += 1
            self._invoke(schedule, moment, attempts + 1)
        return calls

    def _schedule(self, name: str, modified: Any) -> dict[str, Any]:
        """GetSchedule only for a schedule that is new or changed since the last tick (ListSchedules' summaries
        lack the expression): thousands of schedules cost one list per tick, not a call each."""
        cached = self._cache.get(name)
        if cached is None or cached[0] != modified or modified is None:
            cached = (modified, self.client().get_schedule(Name=name, GroupName=self.group))
            self._cache[name] = cached
        return cached[1]

    def _fire_due(self, schedule: dict[str, Any], now: datetime) -> int:
        name = schedule["Name"]
        parsed = expressions.parse(schedule["ScheduleExpression"])
        tz = expressions.zone(schedule.get("ScheduleExpressionTimezone") or "UTC")
        start = _instant(schedule.get("StartDate")) or now
        if parsed.kind == "at":  # one-time: fires once when due, however late the runtime first sees it
            moment = expressions.wall_to_utc(parsed.at, tz) if parsed.at else None
            due = [moment] if moment is not None and moment <= now and (name, moment) not in self.fired else []
        else:
            due = expressions.fires_between(parsed, tz, self.seen.get(name, now), now, start, limit=100)
        self.seen[name] = now
        for moment in due:
            self.fired.append((name, moment))
            self._invoke(schedule, moment, 1)
        if due and parsed.kind == "at" and schedule.get("ActionAfterCompletion") == "DELETE":
            self.client().delete_schedule(Name=name, GroupName=self.group)
        return len(due)

    def _invoke(self, schedule: dict[str, Any], moment: datetime, attempt: int) -> None:
        target = schedule["Target"]
        text = (target.get("Input") or "{}")
        for attribute, value in {
            "schedule-arn": schedule["Arn"],
            "scheduled-time": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "execution-id": str(uuid.uuid4()),
            "attempt-number": str(attempt),
        }.items():
            text = text.replace(f"<aws.scheduler.{attribute}>", value)
        try:
            self.invoke(target["Arn"], json.loads(text))
        except Exception as exc:  # noqa: BLE001 - Scheduler's answer to a failed invocation: retry, then DLQ
            allowed = int((target.get("RetryPolicy") or {}).get("MaximumRetryAttempts", 185))
            if attempt <= allowed:
                self.retries[(schedule["Name"], moment)] = attempt
                return
            LOG.warning("schedule %s: firing %s failed %d times: %s", schedule["Name"], moment, attempt, exc)
            self._dead_letter(target, text, exc)

    def _dead_letter(self, target: dict[str, Any], text: str, exc: Exception) -> None:
        arn = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not arn:
            return
        from chalicelib.platform import aws

        sqs = aws.client("sqs")
        url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=text, MessageAttributes={
            "ERROR_MESSAGE": {"DataType": "String", "StringValue": f"{type(exc).__name__}: {exc}"[:1000]}})


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
