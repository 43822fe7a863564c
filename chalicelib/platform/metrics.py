"""CloudWatch metrics as Embedded Metric Format lines: one JSON line on stdout, which CloudWatch Logs turns into
metrics (no PutMetricData call, no extra permission, nothing to batch or flush).

Written by hand, not with Powertools Metrics: the format is one documented JSON shape
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html),
and `from aws_lambda_powertools import Metrics` measured 46 ms of import (Powertools 3.37.0, `-X importtime`,
5 runs, this machine) on every sender's and trigger's cold start, against nothing for this module.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

NAMESPACE = "Outbound"
# Every metric the code emits (a test scans the code for emits against this list, and the stack's dashboard
# against it): Stage and Channel are the dimensions of each.
METRICS = frozenset({
    "Accepted", "Sent", "Delivered", "DeliveryLatency", "Failed", "Expired", "OptedOut", "Paced", "Superseded",
    "Deferred", "DuplicateDelivery", "FallbackImpossible", "EndpointDisabled", "WebhookRefused",
    "RecordEventsRefused", "Swept",
})
UNITS = {"DeliveryLatency": "Milliseconds"}


def document(
    values: Mapping[str, float], dimensions: Mapping[str, str], timestamp_ms: int, **properties: Any
) -> dict[str, Any]:
    """Pure: the EMF document for `values` (metric name -> value) under one dimension set."""
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": name, "Unit": UNITS.get(name, "Count")} for name in values],
                }
            ],
        },
        **dimensions,
        **values,
        **properties,
    }


def reached(name: str, *, channel: str, message_id: str, created_at: datetime, now: datetime) -> None:
    """`Sent` or `Delivered`, with the delivery latency from the message's creation (the sender and the
    provider's delivery report both emit it)."""
    latency = (now - created_at).total_seconds() * 1000
    emit({name: 1, "DeliveryLatency": latency}, channel=channel, message_id=message_id)


def emit(values: Mapping[str, float], *, channel: str, **properties: Any) -> None:
    """One EMF line for a channel (`Stage` and `Channel` dimensions); properties are searchable, not metrics."""
    if not values:
        return
    from chalicelib.platform.logs import write_line
    from chalicelib.platform.settings import get_settings

    line = document(values, {"Stage": get_settings().stage, "Channel": channel}, int(time.time() * 1000), **properties)
    text = json.dumps(line, default=str, separators=(",", ":"))
    aside = os.environ.get("METRICS_LOG_FILE")
    if aside:  # the local runtime keeps metric documents out of the event log a person reads
        try:
            with open(aside, "a", encoding="utf-8") as out:
                out.write(text + "\n")
            return
        except OSError:
            pass  # then on the event stream, as in Lambda
    write_line(text)
