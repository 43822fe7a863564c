"""EventBridge Scheduler, the clock of scheduled sends: one schedule per API schedule, in the stage's group.

Each schedule invokes the scheduled-send function with `{"schedule_id", "scheduled_time", "execution_id",
"attempt"}` (Scheduler fills the context attributes), retries a failed invocation (RETRY) and then parks the
event on the schedule dead-letter queue. One-time schedules delete themselves after they fire.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.models.schedules import Schedule
from chalicelib.platform import aws
from chalicelib.platform.settings import get_settings

RETRY = {"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 3600}
STATES = {"active": "ENABLED", "paused": "DISABLED"}


def firing_input(schedule_id: str) -> str:
    return json.dumps({
        "schedule_id": schedule_id,
        "scheduled_time": "<aws.scheduler.scheduled-time>",
        "execution_id": "<aws.scheduler.execution-id>",
        "attempt": "<aws.scheduler.attempt-number>",
    })


def _request(schedule: Schedule) -> dict[str, Any]:
    settings = get_settings()
    target: dict[str, Any] = {
        "Arn": settings.scheduled_send_arn,
        "RoleArn": settings.scheduler_role_arn,
        "Input": firing_input(schedule.id),
        "RetryPolicy": RETRY,
    }
    if settings.schedule_dlq_arn:
        target["DeadLetterConfig"] = {"Arn": settings.schedule_dlq_arn}
    window = schedule.flexible_window_minutes
    request: dict[str, Any] = {
        "Name": schedule.id,
        "GroupName": settings.schedule_group,
        "ScheduleExpression": schedule.expression,
        "ScheduleExpressionTimezone": schedule.timezone,
        "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": window} if window else {"Mode": "OFF"},
        "Target": target,
        "State": STATES.get(schedule.state, "DISABLED"),
        "Description": f"Outbound scheduled send for configuration {schedule.configuration_id}",
    }
    if schedule.expression.startswith("at("):
        request["ActionAfterCompletion"] = "DELETE"
    elif schedule.expression.startswith("rate("):
        request["StartDate"] = schedule.start_at
    return request


def create(schedule: Schedule) -> None:
    aws.client("scheduler").create_schedule(**_request(schedule))


def update(schedule: Schedule) -> bool:
    """UpdateSchedule replaces every setting, so the whole schedule is sent again. False when Scheduler no longer
    has it (UpdateSchedule never creates one)."""
    try:
        aws.client("scheduler").update_schedule(**_request(schedule))
    except Exception as exc:
        if aws.error_code(exc) == "ResourceNotFoundException":
            return False
        raise
    return True


def delete(schedule_id: str) -> bool:
    """False when Scheduler no longer has it (a one-time schedule deletes itself after firing)."""
    try:
        aws.client("scheduler").delete_schedule(Name=schedule_id, GroupName=get_settings().schedule_group)
    except Exception as exc:
        if aws.error_code(exc) == "ResourceNotFoundException":
            return False
        raise
    return True
