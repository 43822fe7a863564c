"""Queue names, computable without loading settings (app.py needs them to declare the sender functions)."""

from __future__ import annotations

import os

DEFAULT_PREFIX = "outbound-local"


def prefix() -> str:
    return os.environ.get("QUEUE_PREFIX", DEFAULT_PREFIX)


def queue_name(channel: str, queue_prefix: str | None = None) -> str:
    return f"{queue_prefix or prefix()}-{channel}"


def dlq_name(channel: str, queue_prefix: str | None = None) -> str:
    return f"{queue_prefix or prefix()}-{channel}-dlq"
