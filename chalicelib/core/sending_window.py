"""Quiet hours in the recipient's time zone, the decisions: which rules a customer message carries, and whether
an attempt may go now or must wait for the window's next start.

The recipient's zone is the contact's `timezone` when given, else every zone libphonenumber gives for the
number: the send must fall inside the window in all of them. A number with no zone (`Etc/Unknown`), or whose
zones share no window, uses the configuration's fallback zone, else waits for an operator: fail closed, where
Pinpoint's quiet time sent anyway. Region rules (sending_windows.json, beside this module) narrow the window
and cap marketing messages on one subject per 24 hours, by area code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.models.messages import SendRules

DATA = Path(__file__).resolve().parent / "sending_windows.json"
LOOKAHEAD_DAYS = 3  # a window shared by every zone starts within this many days, or there is none
CAP_PERIOD = timedelta(hours=24)


@cache
def _data() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DATA.read_text())
    return loaded


def valid_zone(name: str) -> bool:
    if not name or name.startswith("Etc/Unknown") or len(name) > 64:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zones_for_number(e164: str) -> list[str]:
    """Every zone the number may be in (several for a country spanning zones, none when unknown)."""
    import phonenumbers
    from phonenumbers import timezone

    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return []
    return sorted(z for z in timezone.time_zones_for_number(number) if valid_zone(z))


def region_for(e164: str) -> dict[str, Any] | None:
    digits = e164.removeprefix("+")
    for region in _data()["regions"]:
        code = str(region["country_code"])
        if digits.startswith(code) and digits[len(code):len(code) + 3] in region["area_codes"]:
            return dict(region)
    return None


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _narrowest(window: tuple[str, str], region: dict[str, Any] | None) -> tuple[str, str]:
    if region is None:
        return window
    return max(window[0], str(region["start"])), min(window[1], str(region["end"]))


def inside(moment: datetime, zone: str, window: tuple[str, str]) -> bool:
    start, end = _clock(window[0]), _clock(window[1])
    local = moment.astimezone(ZoneInfo(zone)).time()
    return start <= local < end if start < end else (local >= start or local < end)


def next_start(now: datetime, zones: list[str], window: tuple[str, str]) -> datetime | None:
    """The first moment from `now` on that lies inside the window in every zone (`now` itself when it does);
    None when the zones share no window within LOOKAHEAD_DAYS."""
    if not zones:
        return None
    candidates = {now}
    start = _clock(window[0])
    for zone in zones:
        local_day = now.astimezone(ZoneInfo(zone)).date()
        for offset in range(-1, LOOKAHEAD_DAYS + 1):
            day = local_day + timedelta(days=offset)
            moment = datetime.combine(day, start, tzinfo=ZoneInfo(zone)).astimezone(now.tzinfo)
            if now < moment <= now + timedelta(days=LOOKAHEAD_DAYS):
                candidates.add(moment)
    for moment in sorted(candidates):
        if all(inside(moment, zone, window) for zone in zones):
            return moment
    return None


def rules_for(*, scope: str, purpose: str, window: tuple[str, str] | None, fallback_zone: str | None,
              address: str, contact_zone: str | None, phone: bool, subject: str, now: datetime,
              critical: bool = False) -> SendRules | None:
    """The rules a new message carries; None when only the global consent scope applies (most transactional
    traffic: the record stays as small as before)."""
    marketing = purpose == "marketing"
    if window is None and marketing:
        default = _data()["marketing_default"]
        window = (str(default["start"]), str(default["end"]))
    region = region_for(address) if phone and marketing else None
    if window is not None:
        window = _narrowest(window, region)
    if scope == "global" and not marketing and window is None:
        return None
    zones: list[str] = []
    if window is not None:
        zones = [contact_zone] if contact_zone else (zones_for_number(address) if phone else [])
        if next_start(now, zones, window) is None:
            zones = [fallback_zone] if fallback_zone else []
    cap = int(region["cap_per_24h"]) if region and region.get("cap_per_24h") else None
    return SendRules(scope=scope, purpose="marketing" if marketing else "transactional", window=window,
                     zones=zones, cap=cap, subject=subject if cap else None,
                     region=str(region["name"]) if region else None, waived=critical and not marketing)


@dataclass(frozen=True)
class Verdict:
    """`send`; `wait` until `until`; `operator`: no zone is known, an operator must decide."""

    action: str
    until: datetime | None = None
    reason: str = ""


def admit(rules: SendRules | None, now: datetime) -> Verdict:
    if rules is None or rules.window is None or rules.waived:
        return Verdict("send")
    if not rules.zones:
        return Verdict("operator", None, "the recipient's time zone is unknown and the configuration has no "
                                         "fallback_timezone: waiting for an operator")
    until = next_start(now, rules.zones, rules.window)
    if until is None:
        return Verdict("operator", None, f"no time inside {rules.window[0]}-{rules.window[1]} in every zone of "
                                         f"the recipient ({', '.join(rules.zones[:5])})")
    if until == now:
        return Verdict("send")
    where = rules.zones[0] if len(rules.zones) == 1 else f"{len(rules.zones)} zones"
    return Verdict("wait", until, f"outside the sending window {rules.window[0]}-{rules.window[1]} "
                                  f"({where}{', ' + rules.region if rules.region else ''})")


def cap_admits(sent: list[datetime], cap: int, now: datetime) -> datetime | None:
    """None when one more message fits the cap now; else when it will (the oldest counted one turns 24 h)."""
    recent = sorted(t for t in sent if t > now - CAP_PERIOD)
    if len(recent) < cap:
        return None
    return recent[len(recent) - cap] + CAP_PERIOD
