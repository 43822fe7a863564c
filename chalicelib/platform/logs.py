"""Structured JSON logs; every line about a message carries its message_id."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from chalicelib.core.texts import clip

_logger = logging.getLogger("outbound")
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


# E.164 numbers, also inside provider error texts and exception messages that get logged as reasons.
_PHONE = re.compile(r"\+\d{8,15}")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        value = clip(value) or ""  # an outside text (a listener's answer) may be huge
        return _PHONE.sub(lambda found: mask_address(found.group()), value)
    return value


def log(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """No full phone number reaches a log line, whichever field carries it (masked, as `mask_address`)."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    line = {"ts": stamp, "event": event, "level": logging.getLevelName(level).lower(),
            **{k: _scrub(v) for k, v in fields.items()}}
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
