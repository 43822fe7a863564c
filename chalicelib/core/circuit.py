"""An endpoint's circuit: a failing partner endpoint is paused, probed one request at a time, not hammered.

Rules (Convoy's consecutive-failure rule, Svix's disable clock):
- closed: every due message is attempted. THRESHOLD failed attempts in a row open it.
- open: messages wait without spending an attempt until `probe_at`; then exactly one attempt (the probe) goes,
  holding the circuit for PROBE_LEASE (the others look again every PROBE_RECHECK meanwhile). A probe that
  succeeds closes it; one that fails opens it again, the wait doubling from PROBE_FIRST up to PROBE_MAX.
- disabled: after DISABLE_AFTER of failures with no success between (the clock starts at the first failure
  after a success), or at once on 410 Gone. Nothing is attempted until an operator resumes it; waiting
  messages expire at their deadline, visibly, and a replay (`mode: missing`) sends them later.
Pure: (circuit, event) -> circuit; the store writes it conditionally on its version.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

THRESHOLD = 10
PROBE_FIRST = timedelta(seconds=60)
PROBE_MAX = timedelta(hours=1)
PROBE_LEASE = timedelta(seconds=90)
PROBE_RECHECK = timedelta(seconds=15)  # messages behind an in-flight probe look again this soon
DISABLE_AFTER = timedelta(hours=120)
RECHECK_DISABLED = timedelta(hours=1)

State = Literal["closed", "open", "disabled"]


@dataclass(frozen=True)
class Circuit:
    endpoint_url: str
    state: State = "closed"
    failures: int = 0  # consecutive failed attempts
    failing_since: datetime | None = None  # the first failure after the last success
    probe_at: datetime | None = None  # open: when one probe may go
    probing_until: datetime | None = None  # open: a probe is in flight until then
    opens: int = 0  # failed probes in a row, for the probe backoff
    reason: str | None = None  # the last failure, or why it was disabled
    version: int = 0


@dataclass(frozen=True)
class Verdict:
    """What a sender does with a due message: send it, send it as the probe, or wait until `until` (None: not
    before its deadline can it go, and an operator must act)."""

    action: Literal["send", "probe", "wait"]
    until: datetime | None = None


def admit(circuit: Circuit, now: datetime) -> Verdict:
    if circuit.state == "closed":
        return Verdict("send")
    if circuit.state == "disabled":
        return Verdict("wait", now + RECHECK_DISABLED)
    if circuit.probing_until is not None and circuit.probing_until > now:
        return Verdict("wait", min(circuit.probing_until, now + PROBE_RECHECK))
    if circuit.probe_at is not None and circuit.probe_at > now:
        return Verdict("wait", circuit.probe_at)
    return Verdict("probe")


def probe_taken(circuit: Circuit, now: datetime) -> Circuit:
    return replace(circuit, probing_until=now + PROBE_LEASE)


def _probe_wait(opens: int) -> timedelta:
    return min(PROBE_MAX, PROBE_FIRST * (1 << max(0, opens - 1)))


def succeeded(circuit: Circuit) -> Circuit:
    """Any success closes the circuit and resets the disable clock (a disabled one only an operator resumes)."""
    if circuit.state == "disabled":
        return circuit
    return Circuit(circuit.endpoint_url, version=circuit.version)


def failed(circuit: Circuit, now: datetime, reason: str, *, gone: bool = False) -> Circuit:
    if circuit.state == "disabled":
        return circuit
    since = circuit.failing_since or now
    counted = replace(circuit, failures=circuit.failures + 1, failing_since=since, reason=reason)
    if gone:
        return replace(counted, state="disabled", probe_at=None, probing_until=None,
                       reason=f"the endpoint answered 410 Gone: {reason}")
    if now - since >= DISABLE_AFTER:
        return replace(counted, state="disabled", probe_at=None, probing_until=None,
                       reason=f"failing since {since.isoformat()} ({DISABLE_AFTER.total_seconds() / 3600:g} h "
                              f"without a success): {reason}")
    if circuit.state == "open" or counted.failures >= THRESHOLD:
        opens = circuit.opens + 1
        return replace(counted, state="open", opens=opens, probe_at=now + _probe_wait(opens), probing_until=None)
    return counted


def resumed(circuit: Circuit) -> Circuit:
    """An operator's resume: closed, with a fresh count and clock."""
    return Circuit(circuit.endpoint_url, version=circuit.version)
