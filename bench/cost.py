"""Dollars per million messages at list price, from a priced run of each path: DynamoDB units from
bench/pricing.py, requests per service counted by the stage's hooks, Lambda GB-seconds from the handlers' measured
wall time at their configured memory, CloudWatch Logs from the bytes of log lines actually written.

What a local run cannot measure is said in the table: a provider's own latency (the loopback answers at once;
the sender waits on the real one, billed as Lambda time) is shown per 100 ms.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

from bench import pricing, throughput
from bench.stage import Stage
from chalicelib.platform import aws
from chalicelib.platform.settings import get_settings
from chalicelib.stores import message_keys
from local.runtime import ROOT

# latest-wins: each change its own message (no batching of 100), plus the record head's write
TARGETS = {"SMS": 3.00, "SOAP notification": 0.30, "latest-wins change": 3.00}
MEMORY_GB = json.loads((ROOT / ".chalice" / "config.json").read_text())["lambda_memory_size"] / 1024


class CountingStream(io.TextIOBase):
    def __init__(self) -> None:
        self.bytes = 0

    def write(self, text: str) -> int:
        self.bytes += len(text.encode())
        return len(text)


@dataclass
class Run:
    label: str
    count: int
    units: pricing.Ledger
    calls: Counter[str]
    lambda_invocations: float
    lambda_seconds: float
    api_requests: float
    log_bytes: int
    largest: dict[str, int] = field(default_factory=dict)

    def terms(self) -> list[tuple[str, float, float]]:
        """(term, quantity per message, dollars per million messages)."""
        p = pricing.PRICES
        n = self.count
        writes = sum(self.units.writes.values()) / n
        reads = sum(self.units.reads.values()) / n
        sqs = sum(v for k, v in self.calls.items() if k.startswith("sqs:")) / n
        s3_put = self.calls["s3:PutObject"] / n
        s3_get = self.calls["s3:GetObject"] / n
        gb_s = self.lambda_seconds * MEMORY_GB / n
        rows = [
            ("DynamoDB write units", writes, writes * p["dynamodb_write_unit"]),
            ("DynamoDB read units", reads, reads * p["dynamodb_read_unit"]),
            ("SQS requests (ours + Lambda's polling)", sqs, sqs * p["sqs_request"]),
            ("Lambda invocations", self.lambda_invocations / n, self.lambda_invocations / n * p["lambda_request"]),
            (f"Lambda GB-seconds ({MEMORY_GB * 1024:.0f} MB, measured wall)", gb_s, gb_s * p["lambda_gb_second"]),
            ("API Gateway REST requests", self.api_requests / n, self.api_requests / n * p["api_gateway_rest"]),
            ("S3 requests (claim checks)", s3_put + s3_get, s3_put * p["s3_put"] + s3_get * p["s3_get"]),
            ("CloudWatch Logs bytes", self.log_bytes / n, self.log_bytes / n / 2**30 * p["logs_ingested_gb"]),
        ]
        return [(name, qty, dollars * 1e6) for name, qty, dollars in rows]


def _logs() -> CountingStream:
    counter = CountingStream()
    for handler in logging.getLogger("outbound").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(counter)
    return counter


def priced(stage: Stage, ledger: pricing.Ledger, label: str, count: int, work: Any) -> Run:
    ledger.clear()
    stage.calls.clear()
    logs = _logs()
    invocations, api, seconds = work()
    return Run(label, count, pricing.Ledger(Counter(ledger.writes), dict(ledger.reads), Counter(ledger.largest)),
               Counter(stage.calls), invocations, seconds, api, logs.bytes)


def sms_run(stage: Stage, ledger: pricing.Ledger, count: int) -> Run:
    """Instant sends of 100, the SMS sender in batches of 10, then Twilio's two status callbacks per message
    (`sent`, then `delivered`) through the same code the webhook runs after its signature check."""
    from chalicelib.operations import provider_status
    from chalicelib.stores import messages as message_store
    from chalicelib.triggers import instant

    configuration_id = throughput.sms_configuration()
    requests = list(throughput.sms_requests(configuration_id, count, 900_000))

    def work() -> tuple[float, float, float]:
        started = time.perf_counter()
        ids: list[str] = []
        for request in requests:
            ids += cast(list[str], instant.send(request)["message_ids"])
        throughput.drain("sms", count)
        callbacks = time.perf_counter()
        for message_id in ids:
            record = message_store.get(message_id, consistent=False)
            assert record is not None and record.provider_message_id, record
            for status in ("sent", "delivered"):
                provider_status.apply_twilio(message_id, record.provider_message_id, status, None)
        ended = time.perf_counter()
        # Lambda: one API call per 100, one sender batch per 10, one webhook invocation per callback (through the
        # stack's function URL: no API Gateway request).
        invocations = len(requests) + count / 10 + 2 * count
        return invocations, len(requests), (callbacks - started) + (ended - callbacks)

    return priced(stage, ledger, "SMS", count, work)


def soap_run(stage: Stage, ledger: pricing.Ledger, count: int, ordering: str = "none") -> Run:
    """Record changes through the stream handler and the SOAP sender: 100 notifications per message, or with
    latest-wins ordering one message per change and its record head's write."""
    import app

    object_type = "Price" + str(int(time.time() * 1000))[-8:] + ("L" if ordering != "none" else "")
    throughput.soap_definition(stage, object_type, ordering)
    batches = throughput.stream_batches(object_type, count)
    messages = count if ordering == "latest_wins" else len(batches)

    def work() -> tuple[float, float, float]:
        started = time.perf_counter()
        for batch in batches:
            app.on_record_change({"Records": batch}, None)
        throughput.drain("soap", messages)
        return len(batches) + messages / 10, 0, time.perf_counter() - started

    label = "latest-wins change" if ordering == "latest_wins" else "SOAP notification"
    return priced(stage, ledger, label, count, work)


def rows(runs: list[Run]) -> list[str]:
    lines = ["| term | " + " | ".join(f"per {r.label} | $ per million" for r in runs) + " |",
             "|---|" + "---|---|" * len(runs)]
    names = [name for name, _, _ in runs[0].terms()]
    tables = [{name: (qty, usd) for name, qty, usd in r.terms()} for r in runs]
    for name in names:
        cells = " | ".join(f"{t[name][0]:,.3f} | {t[name][1]:,.3f}" for t in tables)
        lines.append(f"| {name} | {cells} |")
    totals = [sum(usd for _, _, usd in r.terms()) for r in runs]
    lines.append("| **total** | " + " | ".join(f" | **${t:,.2f}**" for t in totals) + " |")
    lines.append("| target | " + " | ".join(f" | ≤ ${TARGETS[r.label]:,.2f}: "
                                            f"{'met' if t <= TARGETS[r.label] else 'missed'}"
                                            for r, t in zip(runs, totals, strict=True)) + " |")
    latency = 0.1 * MEMORY_GB * pricing.PRICES["lambda_gb_second"] * 1e6
    threads = get_settings().sender_threads
    lines.append(f"| + per 100 ms of provider latency (a batch's {threads} deliveries wait side by side) | | "
                 f"${latency / threads:,.2f} per million provider calls | | |")
    lines.append("")
    lines.append("Write units by table and index, per message: " + "; ".join(
        f"{r.label}: " + ", ".join(f"{k} {v / r.count:.2f}" for k, v in sorted(r.units.writes.items()))
        for r in runs))
    lines.append("Largest item written: " + "; ".join(
        f"{r.label}: " + ", ".join(f"{k} {v:,} bytes" for k, v in sorted(r.units.largest.items())) for r in runs))
    return lines


def partition_rows() -> list[str]:
    """Messages/s at which the first partition would throttle (1,000 write units/s each), by key design."""
    shards = message_keys.SHARDS
    return [
        "| hottest key | writes per message | throttles at |",
        "|---|---|---|",
        "| message-store item (key = message id, random) | 4-5 | none: spread over every partition |",
        f"| `by_time` day partition x {shards} shards | 1 (at creation) | {shards * 1000:,} messages/s |",
        f"| `by_attention` state x {shards} shards | 1-2 (only messages that die or retry) | "
        f"{shards * 500:,} dying messages/s |",
        "| `by_contact_keys` (one contact) | 1 | 1,000 messages/s to one number |",
        "| org send counter (config, one item per hour) | 1 per instant send of up to 100 | "
        "100,000 messages/s |",
    ]


def main(stage: Stage, sms: int, soap: int) -> list[str]:
    ledger = pricing.Ledger()
    remove = pricing.capture(aws.client("dynamodb").meta.events, ledger)
    try:
        runs = [sms_run(stage, ledger, sms), soap_run(stage, ledger, soap),
                soap_run(stage, ledger, max(1, soap // 10), "latest_wins")]
    finally:
        remove()
    return rows(runs) + [""] + partition_rows()
