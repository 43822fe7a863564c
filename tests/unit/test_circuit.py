"""The endpoint circuit's rules, pure: when it opens, probes, closes, disables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chalicelib.core import circuit as c

T0 = datetime(2026, 12, 5, 12, tzinfo=UTC)
URL = "https://partner.example/hook"


def fail(times: int, start: c.Circuit | None = None, at: datetime = T0) -> c.Circuit:
    current = start or c.Circuit(URL)
    for _ in range(times):
        current = c.failed(current, at, "HTTP 503")
    return current


def test_closed_until_the_tenth_failure_in_a_row() -> None:
    nine = fail(9)
    assert nine.state == "closed" and c.admit(nine, T0).action == "send"
    ten = fail(1, nine)
    assert ten.state == "open" and ten.probe_at == T0 + c.PROBE_FIRST
    assert c.admit(ten, T0) == c.Verdict("wait", T0 + c.PROBE_FIRST)


def test_a_success_resets_the_count() -> None:
    assert fail(9, c.succeeded(fail(9))).state == "closed"


def test_one_probe_at_a_time_then_closed_or_a_longer_wait() -> None:
    opened = fail(10)
    due = opened.probe_at
    assert due is not None and c.admit(opened, due).action == "probe"
    probing = c.probe_taken(opened, due)
    assert c.admit(probing, due + timedelta(seconds=1)) == c.Verdict("wait", due + timedelta(seconds=1) + c.PROBE_RECHECK)
    assert c.admit(probing, due + c.PROBE_LEASE - timedelta(seconds=1)) == c.Verdict("wait", due + c.PROBE_LEASE)
    assert c.succeeded(probing).state == "closed" and c.succeeded(probing).failures == 0
    again = c.failed(probing, due, "HTTP 503")
    assert again.state == "open" and again.opens == 2 and again.probe_at == due + 2 * c.PROBE_FIRST
    worst = opened
    for _ in range(20):
        worst = c.failed(worst, due, "HTTP 503")
    assert worst.probe_at == due + c.PROBE_MAX  # the wait stops doubling at an hour


def test_disabled_after_120_hours_without_a_success_or_at_once_on_410() -> None:
    failing = fail(3)
    assert c.failed(failing, T0 + c.DISABLE_AFTER - timedelta(seconds=1), "x").state == "closed"
    assert c.failed(failing, T0 + c.DISABLE_AFTER, "HTTP 500").state == "disabled"
    gone = c.failed(c.Circuit(URL), T0, "HTTP 410", gone=True)
    assert gone.state == "disabled" and "410" in (gone.reason or "")
    assert c.admit(gone, T0) == c.Verdict("wait", T0 + c.RECHECK_DISABLED)
    assert c.succeeded(gone) == gone  # only an operator resumes it
    assert c.resumed(replace(gone, version=4)) == c.Circuit(URL, version=4)


def test_a_success_restarts_the_disable_clock() -> None:
    failing = fail(3)
    later = T0 + c.DISABLE_AFTER
    assert c.failed(c.succeeded(failing), later, "HTTP 500").failing_since == later
