"""SQS message delays on the shiftable clock, in the local runtime's moto server.

Our code computes a delay (a retry's backoff, a paced message's slot) on `chalicelib.core.clock`, which tests
shift forward to cover hours in seconds. moto holds a delayed message by the wall clock, so a test that shifts
the clock by a minute would still wait the delay out for real. Here a message's delay ends when the shifted
clock passes it, as it would have in AWS had that much time gone by; visibility timeouts and long polls stay on
the wall clock (they bound how long a poller or a crashed sender holds a message, which tests measure for real).
"""

from __future__ import annotations

from typing import Any

from chalicelib.core import clock

_PATCHED = "_outbound_clocked"


def _wall_ms() -> float:
    from moto.sqs import models

    return float(models.unix_time_millis())


def follow_clock() -> None:
    """Idempotent; call before the server starts."""
    from moto.sqs.models import Message

    if getattr(Message, _PATCHED, False):
        return

    def delay(self: Any, delay_seconds: int) -> None:
        self.delayed_until = _wall_ms() + int(delay_seconds) * 1000
        self.clock_offset_at_delay = clock.offset_seconds()

    def delayed(self: Any) -> bool:
        if not self.delayed_until:  # never delayed: most messages, checked on every receive
            return False
        # Only a forward shift since the delay began counts: a test resetting the clock does not hold back
        # messages another test delayed while its clock was shifted.
        shifted = max(0.0, clock.offset_seconds() - getattr(self, "clock_offset_at_delay", 0.0))
        return bool(_wall_ms() + shifted * 1000 < self.delayed_until)

    Message.delay = delay  # type: ignore[method-assign]
    Message.delayed = property(delayed)  # type: ignore[assignment,method-assign]
    setattr(Message, _PATCHED, True)
