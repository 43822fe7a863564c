"""The one source of "now", shiftable so that 24-hour deadlines are tested without waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)


def now() -> datetime:
    return datetime.now(UTC) + _offset


def advance(seconds: float) -> None:
    global _offset
    _offset += timedelta(seconds=seconds)


def offset_seconds() -> float:
    """How far the shiftable clock runs ahead of the wall clock (the local runtime's SQS delays follow it)."""
    return _offset.total_seconds()


def reset() -> None:
    global _offset
    _offset = timedelta(0)


def iso(moment: datetime) -> str:
    """Sortable UTC timestamp used for every stored time (GSI sort keys compare as strings)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def expires_at(moment: datetime, days: float) -> int:
    """A DynamoDB TTL value (epoch seconds) `days` after `moment`."""
    return int((moment + timedelta(days=days)).timestamp())
