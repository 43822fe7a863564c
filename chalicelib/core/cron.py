"""EventBridge cron expressions (pure): `cron(minutes hours day-of-month month day-of-week year)`, UTC.

Supported: numbers, `*`, `?`, lists `a,b`, ranges `a-b`, steps `*/n` and `a-b/n`, month names JAN-DEC and day
names SUN-SAT (day-of-week 1-7 is SUN-SAT, as EventBridge counts). Not supported (refused with the reason):
`L`, `W` and `#`. As in EventBridge, one of day-of-month and day-of-week must be `?`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
MONTHS = {m: i for i, m in enumerate(MONTH_NAMES, start=1)}
DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}
SEARCH_YEARS = 5


class CronError(ValueError):
    pass


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """The values a field allows; None for `?` (any)."""
    if field == "?":
        return None
    if any(c in field for c in "LW#"):
        raise CronError(f"{field!r}: L, W and # are not supported")
    allowed: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = _number(step_text, None) if step_text else 1
        if step is None or step < 1:
            raise CronError(f"{part!r}: bad step")
        start: int | None
        end: int | None
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = _number(a, names), _number(b, names)
        else:
            start = _number(base, names)
            end = high if step_text else start
        if start is None or end is None or not (low <= start <= high and low <= end <= high) or start > end:
            raise CronError(f"{part!r}: values must be within {low}-{high}")
        allowed.update(range(start, end + 1, step))
    return allowed


def _number(text: str, names: dict[str, int] | None) -> int | None:
    text = text.strip().upper()
    if names and text in names:
        return names[text]
    return int(text) if text.isdigit() else None


class Cron:
    def __init__(self, expression: str) -> None:
        text = expression.strip()
        if text.startswith("cron(") and text.endswith(")"):
            text = text[5:-1]
        fields = text.split()
        if len(fields) != 6:
            raise CronError("six fields: minutes hours day-of-month month day-of-week year")
        minutes, hours, dom, month, dow, year = fields
        self.minutes = _values(minutes, 0, 59) or set(range(60))
        self.hours = _values(hours, 0, 23) or set(range(24))
        self.days_of_month = _values(dom, 1, 31)
        self.months = _values(month, 1, 12, MONTHS) or set(range(1, 13))
        self.days_of_week = _values(dow, 1, 7, DAYS)
        self.years = _values(year, 1970, 2199) or None
        if (self.days_of_month is None) == (self.days_of_week is None):
            raise CronError("exactly one of day-of-month and day-of-week must be ?")
        self.expression = f"cron({' '.join(fields)})"

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months or (self.years is not None and day.year not in self.years):
            return False
        if self.days_of_month is not None:
            return day.day in self.days_of_month
        sunday_first = (day.weekday() + 1) % 7 + 1  # Monday=0 -> 2, Sunday=6 -> 1
        return self.days_of_week is not None and sunday_first in self.days_of_week

    def next_after(self, moment: datetime) -> datetime | None:
        """The first run strictly after `moment` (within five years), or None."""
        start = moment.astimezone(UTC).replace(second=0, microsecond=0)
        day = start.replace(hour=0, minute=0)
        for _ in range(366 * SEARCH_YEARS):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate > moment:
                            return candidate
            day += timedelta(days=1)
        return None
