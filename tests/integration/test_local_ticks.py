"""The local runtime's minute tick and the tests' shiftable clock: a tick that read a shifted clock ends before the
next test begins (it would take that test's new messages for ones lost a day ago and sweep them)."""

from __future__ import annotations

import threading
from typing import Any

from local.runtime import LocalRuntime


def test_settle_waits_for_the_tick_under_way() -> None:
    runtime = LocalRuntime()
    inside, release = threading.Event(), threading.Event()

    def slow_tick(event: dict[str, Any], context: Any) -> None:
        inside.set()
        release.wait(10)

    ticking = threading.Thread(target=runtime.tick, args=(slow_tick,))
    ticking.start()
    assert inside.wait(10)
    settled = threading.Event()

    def settle() -> None:
        runtime.settle()
        settled.set()

    waiter = threading.Thread(target=settle)
    waiter.start()
    assert not settled.wait(0.3), "settle returned while a tick was still running"
    release.set()
    assert settled.wait(10)
    ticking.join(10)
    waiter.join(10)
    assert runtime.activity["ticks"] == 1
