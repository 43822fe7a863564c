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


def placeholder_arn(channel: str) -> str:
    """What app.py declares a sender's queue by. The packaged template gets the queue's real ARN from
    infra/template.yaml (Fn::GetAtt, which also makes CloudFormation create the queue before its mapping);
    a name-based ARN string would let the mapping be created first and fail on a first deploy."""
    return f"arn:aws:sqs:us-east-1:000000000000:{queue_name(channel)}"
