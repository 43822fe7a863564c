"""Structured JSON logs; every line about a message carries its message_id."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from chalicelib.core.texts import clip

# Not "outbound": that is the Chalice app's own logger (Chalice(app_name="outbound")), which Chalice sets to ERROR
# with its own "name - level - message" handler when the app is created before this module is imported.
LOGGER_NAME = "outbound.events"
_logger = logging.getLogger(LOGGER_NAME)
if not _logger.handlers:
    _handler = logging.StreamHandler(sys.stdout)
    _handler.setFormatter(logging.Formatter("%(message)s"))
    _logger.addHandler(_handler)
    _logger.setLevel(logging.INFO)
    _logger.propagate = False


def mask_address(address: str) -> str:
    """Keep enough of a phone number or handle to correlate, never the whole of it."""
    if len(address) <= 4:
        return "*" * len(address)
    return address[:3] + "*" * (len(address) - 5) + address[-2:]


# Phone numbers in any form, also inside provider error texts and exception messages logged as reasons: E.164
# (`+14155550142`), digits only (TeleSign's `phone_number 14155550144`), or formatted (Twilio's
# `+1 (415) 555-0142`). A run of 10 to 15 digits, with spaces, dots, dashes or parentheses between them; a longer
# run (a stream sequence number) or one glued to letters (a hex id) is not a number, nor is a date.
_PHONE = re.compile(r"\+\d{8,15}")
_LOOSE = re.compile(r"(?<![\w+.\-])\+?\(?\d[\d ().\-]{8,24}\d(?![\w.\-])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _mask_digits(found: re.Match[str]) -> str:
    text = found.group()
    digits = sum(c.isdigit() for c in text)
    if not 10 <= digits <= 15 or _DATE.search(text) or ".." in text:
        return text
    seen, out = 0, []
    for char in text:
        if char.isdigit():
            seen += 1
            out.append(char if seen <= 3 or seen > digits - 2 else "*")
        else:
            out.append(char)
    return "".join(out)


def mask_numbers(text: str) -> str:
    """Every phone number in `text` masked as `mask_address` masks one, whatever its form."""
    text = _PHONE.sub(lambda found: mask_address(found.group()), text)
    return _LOOSE.sub(_mask_digits, text)


_IDS = re.compile(r"(?:^|_)id$")  # ids are for correlation: never masked (a hex id holds digit runs)


def _scrub(key: str, value: Any) -> Any:
    if isinstance(value, str):
        value = clip(value) or ""  # an outside text (a listener's answer) may be huge
        return value if _IDS.search(key) else mask_numbers(value)
    return value


def log(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """No full phone number reaches a log line, whichever field carries it (masked, as `mask_address`)."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    line = {"ts": stamp, "event": event, "level": logging.getLevelName(level).lower(),
            **{k: _scrub(k, v) for k, v in fields.items()}}
    _logger.log(level, json.dumps(line, default=str, separators=(",", ":")))


def write_line(text: str) -> None:
    """A line that is not a log event (an EMF metric document): same stream as the logs, whatever the level."""
    for handler in _logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream.write(text + "\n")
            handler.flush()
            return


def set_level(level: int) -> None:
    _logger.setLevel(level)
