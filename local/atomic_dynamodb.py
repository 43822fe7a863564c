"""DynamoDB's atomicity, which moto's threaded server lacks.

Real DynamoDB applies each write, and its condition, atomically: two conditional UpdateItems that race on one
item cannot both succeed. moto evaluates the condition and applies the update in separate steps without a lock,
and its server answers each request on its own thread: two senders racing to claim a fresh record both won in 4
of 300 trials. A duplicate seen locally could then be moto's, and our exactly-once tests could pass or fail for
the wrong reason. So the local runtime runs every DynamoDB action of its moto server under one lock: each
request is atomic, as AWS promises per item (and more: reads cannot interleave either, which AWS does not
promise across items, and no test relies on it).
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.RLock()
_PATCHED = "_outbound_serialised"


def serialise() -> None:
    """Make every DynamoDB request to moto's server atomic (idempotent; call before the server starts)."""
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler, _PATCHED, False):
        return
    unlocked = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _LOCK:
            return unlocked(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    setattr(DynamoHandler, _PATCHED, True)
