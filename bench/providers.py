"""The loopback providers in their own process, so the benchmark's CPU time is ours alone.

Protocol on stdin/stdout: prints `ready <twilio_url> <soap_url>`; answers `count` with the number of requests
each has received (`<twilio> <soap>`); exits on `quit` or end of input.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import Any

from local.providers import FakeSoapListener, FakeTwilio

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "bench-auth-token"


class Tally(list[Any]):
    """Stands in for the request log: counts without keeping 100k requests in memory. The loopback servers answer
    on a thread per request and the SOAP listener extends its id log outside its lock, so the count takes a lock
    of its own (without it two deliveries finishing together lost one's 100 notifications: `make bench` saw 900
    of 1,000)."""

    def __init__(self) -> None:
        super().__init__()
        self.tallied = 0
        self._lock = threading.Lock()

    def append(self, item: object) -> None:
        with self._lock:
            self.tallied += 1

    def extend(self, items: Iterable[object]) -> None:
        counted = sum(1 for _ in items)
        with self._lock:
            self.tallied += counted


def tallied(log: list[Any]) -> int:
    return log.tallied if isinstance(log, Tally) else len(log)


def main() -> None:
    twilio = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    soap = FakeSoapListener()
    twilio.requests = Tally()
    soap.requests = Tally()
    soap.notification_ids = Tally()
    twilio.start()
    soap.start()
    print(f"ready {twilio.url} {soap.url}", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "count":
            print(f"{tallied(twilio.requests)} {tallied(soap.requests)} {tallied(soap.notification_ids)}", flush=True)
        elif command == "quit":
            break
    twilio.stop()
    soap.stop()


if __name__ == "__main__":
    main()
