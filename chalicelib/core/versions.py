"""Optimistic concurrency as HTTP has it: a write with `If-Match` applies only over the version it names (412
otherwise); without If-Match, over the version just read (still conditional: two racing writers never both win)."""

from __future__ import annotations

from chalicelib.core.errors import ApiError, invalid


def expected_version(if_match: str | None, current: int) -> int:
    """The version a write is conditional on: If-Match's (a stale one is a 412 here already), else the current."""
    if not if_match or if_match.strip() == "*":
        return current
    try:
        wanted = int(if_match.strip().removeprefix("W/").strip('"'))
    except ValueError as exc:
        raise invalid("If-Match", 'must be an ETag this API returned, e.g. "3"') from exc
    if wanted != current:
        raise ApiError(412, "precondition_failed", f"If-Match: version {wanted} is stale; the current is {current}",
                       [{"field": "If-Match", "message": f"current version is {current}"}])
    return wanted


def stale(exc: Exception) -> ApiError:
    """A conditional write that lost a race with another writer."""
    return ApiError(412, "precondition_failed", f"If-Match: changed meanwhile ({exc}); read it again",
                    [{"field": "If-Match", "message": "changed meanwhile"}])


