"""Scheduled sends: what the API takes, what is kept for listing and audit, and what a firing carries.

EventBridge Scheduler is the clock: each schedule here is a Scheduler schedule in the stage's group, whose target
(the scheduled-send function) receives a `Firing` as its event. Operators' own Scheduler schedules or EventBridge
rules may target the same function with an `OperatorSend`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.models.customer import MAX_CONTACTS, Contact


def _cron_field(value: str) -> str:
    part = rf"(?:\*|{value}(?:-{value})?)(?:/[1-9][0-9]{{0,3}})?"
    return rf"{part}(?:,{part})*"


_MONTH = "(?:1[0-2]|[1-9]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)"
_DAY = "(?:[1-7]|SUN|MON|TUE|WED|THU|FRI|SAT)"
# EventBridge's cron as core/cron.py accepts it: six fields, one of day-of-month and day-of-week `?`.
CRON = (
    rf"^cron\({_cron_field('[1-5]?[0-9]')} {_cron_field('(?:2[0-3]|[01]?[0-9])')} "
    rf"(?:{_cron_field('(?:3[01]|[12][0-9]|[1-9])')} {_cron_field(_MONTH)} \?"
    rf"|\? {_cron_field(_MONTH)} {_cron_field(_DAY)}) {_cron_field('(?:19[7-9][0-9]|2[01][0-9][0-9])')}\)$"
)
RATE = r"^rate\([1-9][0-9]{0,5} (?:minute|minutes|hour|hours|day|days)\)$"
TIMEZONE = r"^[A-Za-z0-9_+\-/]{1,64}$"
SCHEDULE_ID = r"^sch_[A-Za-z0-9_]{1,80}$"
TIMINGS = ("at", "delay_seconds", "rate_minutes", "rate", "cron")
Timezone = Annotated[str, Field(pattern=TIMEZONE, description="IANA time zone the expression is evaluated in")]
FlexibleWindow = Annotated[int, Field(ge=1, le=1440, description="Scheduler may fire up to this many minutes late")]


def _timing_schema(required: bool) -> Any:
    def adjust(schema: dict[str, Any]) -> None:
        """One timing (at most one on PATCH), stated in the API document with non-null properties."""
        if required:
            schema["oneOf"] = [{"required": [name]} for name in TIMINGS]
        else:
            schema["not"] = {"anyOf": [{"required": [a, b]} for i, a in enumerate(TIMINGS) for b in TIMINGS[i + 1:]]}
        for name in TIMINGS:
            variants = schema["properties"][name].get("anyOf", [])
            concrete = [v for v in variants if v.get("type") != "null"]
            if concrete:
                schema["properties"][name] = {**concrete[0], **{k: v for k, v in schema["properties"][name].items()
                                                                  if k not in {"anyOf", "default"}}}
    return adjust


class Timing(BaseModel):
    at: datetime | None = Field(default=None, description="one time; without a zone it is a wall time of `timezone`")
    delay_seconds: Annotated[int, Field(ge=0, le=366 * 86400)] | None = None
    rate_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] | None = None
    rate: Annotated[str, Field(pattern=RATE)] | None = Field(default=None, description="rate(5 minutes)")
    cron: Annotated[str, Field(max_length=256, json_schema_extra={"pattern": CRON})] | None = Field(
        default=None, description="EventBridge cron in `timezone`: cron(0 9 ? * MON-FRI *) (the six fields alone too)"
    )

    def timings(self) -> list[str]:
        return [name for name in TIMINGS if getattr(self, name) is not None]


class ScheduleInput(Timing):
    """Exactly one of `at`, `delay_seconds`, `rate_minutes`, `rate`, `cron` says when it fires."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_timing_schema(required=True))

    configuration_id: Annotated[str, Field(min_length=1, max_length=64)]
    contacts: Annotated[list[Contact], Field(min_length=1, max_length=MAX_CONTACTS)]
    timezone: Timezone = "UTC"
    flexible_window_minutes: FlexibleWindow | None = None

    @model_validator(mode="after")
    def _one_timing(self) -> ScheduleInput:
        if len(self.timings()) != 1:
            raise ValueError(f"give exactly one of {', '.join(TIMINGS)}")
        return self


class SchedulePatch(Timing):
    """What PATCH /schedules/{id} may change; `state` pauses (Scheduler's DISABLED) and resumes."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_timing_schema(required=False))

    contacts: Annotated[list[Contact], Field(min_length=1, max_length=MAX_CONTACTS)] | None = None
    timezone: Timezone | None = None
    flexible_window_minutes: FlexibleWindow | None = None
    state: Literal["active", "paused"] | None = None

    @model_validator(mode="after")
    def _at_most_one_timing(self) -> SchedulePatch:
        if len(self.timings()) > 1:
            raise ValueError(f"give at most one of {', '.join(TIMINGS)}")
        return self


ScheduleState = Literal["active", "paused", "done", "failed"]


class Schedule(BaseModel):
    """Our copy of a Scheduler schedule, for listing and audit (Scheduler holds the truth of when it fires)."""

    id: str
    configuration_id: str
    contacts: list[Contact]
    expression: str = Field(description="as Scheduler takes it: at(...), rate(...) or cron(...)")
    timezone: str = "UTC"
    flexible_window_minutes: int | None = None
    start_at: datetime = Field(description="a rate's first firing")
    state: ScheduleState = "active"
    created_at: datetime
    updated_at: datetime | None = None
    runs: int = 0
    last_scheduled_time: datetime | None = Field(default=None, description="the latest firing's scheduled time")
    failures: int = Field(default=0, description="firings that failed in a row (reset by a good one)")
    last_error: str | None = None
    last_failed_at: datetime | None = None
    next_fire_times: list[datetime] = Field(default_factory=list, description="computed when read; never stored")


class Firing(BaseModel):
    """The event a schedule created by this API delivers (Scheduler fills the context attributes)."""

    model_config = ConfigDict(extra="forbid")

    schedule_id: Annotated[str, Field(pattern=SCHEDULE_ID)]
    scheduled_time: datetime
    execution_id: Annotated[str, Field(max_length=200)] | None = None
    attempt: int | str | None = None


class OperatorSend(BaseModel):
    """The event an operator's own schedule or rule delivers: a send, and the firing's scheduled time, which keeps
    a retried invocation from sending twice (`<aws.scheduler.scheduled-time>`, or an EventBridge event's `time`)."""

    model_config = ConfigDict(extra="forbid")

    configuration_id: Annotated[str, Field(min_length=1, max_length=64)]
    contacts: Annotated[list[Contact], Field(min_length=1, max_length=MAX_CONTACTS)]
    scheduled_time: datetime
    schedule_arn: Annotated[str, Field(max_length=512)] | None = None
    execution_id: Annotated[str, Field(max_length=200)] | None = None
    attempt: int | str | None = None


class FiringFailure(BaseModel):
    """An invocation of the scheduled-send function that could not send: kept where operators list it."""

    id: str
    at: datetime
    reason: str
    schedule_id: str | None = None
    schedule_arn: str | None = None
    scheduled_time: str | None = None
    event: str = Field(description="the event received, clipped")
