"""Structured JSON logs; every line about a message carries its message_id."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

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


def log(event: str, level: int = logging.INFO, **fields: Any) -> None:
    line = {"event": event, "level": logging.getLevelName(level).lower(), **fields}
    _logger.log(level, json.dumps(line, default=str, separators=(",", ":")))


def set_level(level: int) -> None:
    _logger.setLevel(level)
