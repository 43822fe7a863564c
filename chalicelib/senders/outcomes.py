"""What a provider's answer means for the message: accepted, retry later, or never."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Accepted:
    provider_message_id: str | None
    state: Literal["sent", "delivered"]


@dataclass(frozen=True)
class Transient:
    reason: str
    code: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Permanent:
    reason: str
    code: str | None = None
    opted_out: bool = False


Outcome = Accepted | Transient | Permanent


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
