"""Replays by time window: what the API takes and the task it starts (Svix's "recover", for SOAP, JSON and
customer messages alike)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

MAX_WINDOW_DAYS = 14
MAX_MESSAGES = 10_000
Mode = Literal["failed", "missing", "all"]


class ReplayInput(BaseModel):
    """Exactly one of definition_id (endpoint notifications) and configuration_id (customer messages)."""

    model_config = ConfigDict(extra="forbid")

    definition_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    configuration_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    since: AwareDatetime = Field(description="messages created at or after (with a time zone)")
    until: AwareDatetime | None = Field(default=None, description="created at or before (default: now)")
    mode: Mode = Field(default="failed", description=(
        "failed: attempted and now failed, expired or undelivered; missing: ended without any attempt (an endpoint "
        "disabled or paused past their deadline); all: those and the delivered ones (endpoint notifications only)"))
    dry_run: bool = Field(default=False, description="count what would be replayed, change nothing")

    @model_validator(mode="after")
    def _one_target(self) -> ReplayInput:
        if (self.definition_id is None) == (self.configuration_id is None):
            raise ValueError("name exactly one of definition_id and configuration_id")
        return self


class Replay(BaseModel):
    id: str
    definition_id: str | None = None
    configuration_id: str | None = None
    since: datetime
    until: datetime
    mode: Mode
    dry_run: bool
    state: Literal["running", "done"] = "running"
    examined: int = 0  # messages of the target read in the window
    matched: int = 0  # of those, what the mode selects
    replayed: int = 0  # sent back to their queue (0 on a dry run)
    skipped: int = 0  # selected but changed meanwhile (retried by someone else, delivered since)
    capped: bool = False  # stopped at MAX_MESSAGES: start another from where it stopped
    cursor: str | None = None
    leased_until: datetime | None = None  # a page is being replayed by one worker until then
    created_at: datetime
    finished_at: datetime | None = None
