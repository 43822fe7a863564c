"""EventBridge Scheduler's expressions evaluated as Scheduler documents: time zones, DST gaps and repeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.core import schedule_expressions as se

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(("wall", "expected"), [
    ("at(2027-01-15T09:00:00)", utc(2027, 1, 15, 8)),  # CET, UTC+1
    ("at(2027-07-15T09:00:00)", utc(2027, 7, 15, 7)),  # CEST, UTC+2
])
def test_a_one_time_schedule_fires_at_its_wall_time_in_its_zone(wall: str, expected: datetime) -> None:
    paris = se.zone("Europe/Paris")
    assert se.next_fire(se.parse(wall), paris, T0, T0) == expected
    assert se.next_fire(se.parse(wall), paris, expected, T0) is None  # once


def test_a_weekday_cron_keeps_its_local_hour_across_a_dst_change() -> None:
    new_york = se.zone("America/New_York")
    fires = se.upcoming(se.parse("cron(0 9 ? * MON-FRI *)"), new_york, utc(2026, 3, 5), T0, count=4)
    # Thu, Fri at 14:00Z (EST); the clocks change on Sunday 8 March; Mon, Tue at 13:00Z (EDT): 09:00 local all along
    assert fires == [utc(2026, 3, 5, 14), utc(2026, 3, 6, 14), utc(2026, 3, 9, 13), utc(2026, 3, 10, 13)]


def test_a_cron_time_that_does_not_exist_is_skipped() -> None:
    fires = se.upcoming(se.parse("cron(30 2 * * ? *)"), se.zone("America/New_York"), utc(2026, 3, 6), T0, count=3)
    assert fires == [utc(2026, 3, 6, 7, 30), utc(2026, 3, 7, 7, 30), utc(2026, 3, 9, 6, 30)]  # no 8 March


def test_a_repeated_wall_time_fires_once() -> None:
    new_york = se.zone("America/New_York")
    half_hourly = se.fires_between(se.parse("cron(0/30 * * * ? *)"), new_york, utc(2026, 11, 1, 4, 50),
                                   utc(2026, 11, 1, 7, 10), T0)
    # 01:00 and 01:30 EDT, then the clock goes back to 01:00 EST: those wall times do not fire again; 02:00 EST does
    assert half_hourly == [utc(2026, 11, 1, 5), utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 7)]


def test_a_rate_counts_hours_on_the_clock_from_its_start() -> None:
    start = utc(2026, 3, 7, 12)
    fires = se.upcoming(se.parse("rate(1 day)"), se.zone("America/New_York"), start, start, count=2)
    assert fires == [start + timedelta(days=1), start + timedelta(days=2)]  # 24 h each, DST or not
    assert se.next_fire(se.parse("rate(5 minutes)"), se.zone("UTC"), start - timedelta(hours=1), start) == start


@pytest.mark.parametrize(("text", "canonical"), [
    ("rate(1 minutes)", "rate(1 minute)"), ("rate(5 hour)", "rate(5 hours)"),
    ("cron(0 9 ? * mon-fri *)", "cron(0 9 ? * mon-fri *)"), ("at(2027-01-15T09:00:00)", "at(2027-01-15T09:00:00)"),
])
def test_expressions_are_written_as_scheduler_takes_them(text: str, canonical: str) -> None:
    assert se.parse(text).text == canonical


@pytest.mark.parametrize("text", ["at(2027-02-30T09:00:00)", "at(2027-01-15 09:00)", "rate(0 minutes)",
                                  "rate(5 weeks)", "cron(0 9 * * MON *)", "cron(0 9 ? *)", "every day"])
def test_bad_expressions_are_refused(text: str) -> None:
    with pytest.raises(se.ExpressionError):
        se.parse(text)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "", "Europe/Paris\n"])
def test_unknown_time_zones_are_refused(name: str) -> None:
    with pytest.raises(se.ExpressionError):
        se.zone(name)
