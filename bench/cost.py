"""Dollars per million messages at list price, from a priced run of each path: DynamoDB units from
bench/pricing.py, requests per service counted by the stage's hooks, Lambda GB-seconds from the handlers' measured
wall time at their configured memory, CloudWatch Logs from the bytes of log lines actually written (metric
documents included) plus Lambda's own START/END/REPORT lines per invocation, and what a month of traffic keeps:
every item written, with its index entries, stored and backed up (point-in-time recovery) for the stack's
retention, and the log lines kept for the log groups' retention.

Each path is priced busy (full batches: 100 contacts per send, 10 messages per sender invocation, 100 changes
per stream batch) and lone (one message per invocation everywhere: a quiet stage). What a local run cannot
measure is said in the table: a provider's own latency (the loopback answers at once; the sender waits on the
real one, billed as Lambda time) is shown per 100 ms.
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
from chalicelib.core import rate_limit
from chalicelib.platform import aws
from chalicelib.platform.logs import LOGGER_NAME
from chalicelib.platform.settings import get_settings
from chalicelib.stores import message_keys
from local.runtime import ROOT

# latest-wins: each change its own message (no batching of 100), plus the record head's write
TARGETS = {"SMS": 3.00, "SOAP notification": 0.30, "latest-wins change": 3.00}
MEMORY_GB = json.loads((ROOT / ".chalice" / "config.json").read_text())["lambda_memory_size"] / 1024
RETENTION_DAYS = pricing.parameter_default("RetentionDays")
LOG_RETENTION_DAYS = pricing.parameter_default("LogRetentionDays")
DAYS_PER_MONTH = 30.42
# Lambda's own lines per invocation in its text log format: "START RequestId: <36> Version: $LATEST",
# "END RequestId: <36>", "REPORT RequestId: <36>\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 512
# MB\tMax Memory Used: 70 MB\t" (Lambda Developer Guide, "Working with Lambda function logs").
PLATFORM_LOG_BYTES = 72 + 52 + 136


class CountingStream(io.TextIOBase):
    def __init__(self) -> None:
        self.bytes = 0
        self.metric_bytes = 0

    def write(self, text: str) -> int:
        size = len(text.encode())
        self.bytes += size
        if '"_aws":' in text:
            self.metric_bytes += size
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
    metric_bytes: int = 0
    largest: dict[str, int] = field(default_factory=dict)

    @property
    def all_log_bytes(self) -> float:
        """Our lines (metric documents included) and Lambda's own, per message."""
        return (self.log_bytes + self.lambda_invocations * PLATFORM_LOG_BYTES) / self.count

    def terms(self) -> list[tuple[str, float, float]]:
        """(term, quantity per message, dollars per million messages)."""
        p = pricing.PRICES
        n = self.count
        writes = sum(self.units.writes.values()) / n
        reads = sum(self.units.reads.values()) / n
        stored_gb_months = sum(self.units.stored.values()) / n / 2**30 * RETENTION_DAYS / DAYS_PER_MONTH
        sqs = sum(v for k, v in self.calls.items() if k.startswith("sqs:")) / n
        s3_put = self.calls["s3:PutObject"] / n
        s3_get = self.calls["s3:GetObject"] / n
        gb_s = self.lambda_seconds * MEMORY_GB / n
        logs_gb = self.all_log_bytes / 2**30
        rows = [
            ("DynamoDB write units (on demand)", writes, writes * p["dynamodb_write_unit"]),
            ("DynamoDB read units (the handlers')", reads, reads * p["dynamodb_read_unit"]),
            (f"DynamoDB storage + point-in-time backups, KB kept {RETENTION_DAYS:.0f} days",
             sum(self.units.stored.values()) / n / 1024,
             stored_gb_months * (p["dynamodb_stored_gb_month"] + p["dynamodb_pitr_gb_month"])),
            ("SQS requests (ours + Lambda's polling)", sqs, sqs * p["sqs_request"]),
            ("Lambda invocations", self.lambda_invocations / n, self.lambda_invocations / n * p["lambda_request"]),
            (f"Lambda GB-seconds ({MEMORY_GB * 1024:.0f} MB, measured wall)", gb_s, gb_s * p["lambda_gb_second"]),
            ("API Gateway REST requests", self.api_requests / n, self.api_requests / n * p["api_gateway_rest"]),
            ("S3 requests (claim checks)", s3_put + s3_get, s3_put * p["s3_put"] + s3_get * p["s3_get"]),
            ("CloudWatch Logs bytes ingested (ours, metrics, Lambda's)", self.all_log_bytes,
             logs_gb * p["logs_ingested_gb"]),
            (f"CloudWatch Logs kept {LOG_RETENTION_DAYS:.0f} days (uncompressed: an upper bound)", self.all_log_bytes,
             logs_gb * p["logs_stored_gb_month"] * LOG_RETENTION_DAYS / DAYS_PER_MONTH),
        ]
        return [(name, qty, dollars * 1e6) for name, qty, dollars in rows]

    def total(self) -> float:
        return sum(usd for _, _, usd in self.terms())

    def provisioned_total(self) -> float:
        """The total with the message store provisioned (stack parameter MessageStoreCapacity) at a steady load:
        its units priced per unit-hour at the auto-scaling target instead of per request."""
        p = pricing.PRICES
        store = "message-store"
        writes = sum(v for k, v in self.units.writes.items() if k.split(":")[0] == store) / self.count
        reads = sum(v for k, v in self.units.reads.items() if k == store) / self.count
        on_demand = writes * p["dynamodb_write_unit"] + reads * p["dynamodb_read_unit"]
        provisioned = (writes * p["dynamodb_wcu_hour"] + reads * p["dynamodb_rcu_hour"]) / 3600 / pricing.SCALING_TARGET
        return self.total() + (provisioned - on_demand) * 1e6


def _logs() -> CountingStream:
    counter = CountingStream()
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(counter)
    return counter


def priced(stage: Stage, ledger: pricing.Ledger, label: str, count: int, work: Any) -> Run:
    ledger.clear()
    stage.calls.clear()
    logs = _logs()
    invocations, api, seconds = work()
    units = pricing.Ledger(Counter(ledger.writes), dict(ledger.reads), Counter(ledger.largest), dict(ledger.stored))
    return Run(label, count, units, Counter(stage.calls), invocations, seconds, api, logs.bytes, logs.metric_bytes)


def sms_run(stage: Stage, ledger: pricing.Ledger, count: int, lone: bool = False) -> Run:
    """Instant sends of 100, the SMS sender in batches of 10, then Twilio's two status callbacks per message
    (`sent`, then `delivered`) through the same code the webhook runs after its signature check. `lone`: one
    contact per send and one message per sender invocation."""
    from chalicelib.operations import provider_status
    from chalicelib.stores import messages as message_store
    from chalicelib.triggers import instant

    configuration_id = throughput.sms_configuration()
    per_send, per_batch = (1, 1) if lone else (100, 10)
    requests = list(throughput.sms_requests(configuration_id, count, 900_000 + 50_000 * lone, per_send))

    def work() -> tuple[float, float, float]:
        started = time.perf_counter()
        ids: list[str] = []
        for request in requests:
            ids += cast(list[str], instant.send(request)["message_ids"])
        throughput.drain("sms", count, per_batch)
        callbacks = time.perf_counter()
        for message_id in ids:
            ledger.paused = True  # the bench's own look, not a handler's read
            record = message_store.get(message_id, consistent=False)
            ledger.paused = False
            assert record is not None and record.provider_message_id, record
            for status in ("sent", "delivered"):
                provider_status.apply_twilio(message_id, record.provider_message_id, status, None)
        ended = time.perf_counter()
        # Lambda: one API call per send, one sender invocation per batch, one webhook invocation per callback
        # (through the stack's function URL: no API Gateway request).
        invocations = len(requests) + count / per_batch + 2 * count
        return invocations, len(requests), (callbacks - started) + (ended - callbacks)

    return priced(stage, ledger, "lone SMS" if lone else "SMS", count, work)


def soap_run(stage: Stage, ledger: pricing.Ledger, count: int, ordering: str = "none", lone: bool = False) -> Run:
    """Record changes through the stream handler and the SOAP sender: 100 notifications per message, or with
    latest-wins ordering one message per change and its record head's write. `lone`: one change per stream
    batch, so one notification per message and per sender invocation."""
    import app

    object_type = "Price" + str(int(time.time() * 1000))[-8:] + ("L" if ordering != "none" else "") + ("1" * lone)
    throughput.soap_definition(stage, object_type, ordering)
    batches = throughput.stream_batches(object_type, count, 1 if lone else 100)
    messages = count if ordering == "latest_wins" else len(batches)
    per_batch = 1 if lone else 10

    def work() -> tuple[float, float, float]:
        started = time.perf_counter()
        for batch in batches:
            app.on_record_change({"Records": batch}, None)
        throughput.drain("soap", messages, per_batch)
        return len(batches) + messages / per_batch, 0, time.perf_counter() - started

    label = "latest-wins change" if ordering == "latest_wins" else "SOAP notification"
    return priced(stage, ledger, ("lone " if lone else "") + label, count, work)


def quiet_hour(stage: Stage, ledger: pricing.Ledger) -> tuple[Run, float]:
    """The minute tick with nothing to do, priced once and counted 60 times an hour: what a stage costs when
    nothing happens (the queue and stream sources poll at no charge but SQS's: see `rows`)."""
    from chalicelib.triggers import sweep

    def work() -> tuple[float, float, float]:
        started = time.perf_counter()
        sweep.tick()
        return 1, 0, time.perf_counter() - started

    run = priced(stage, ledger, "tick", 1, work)
    return run, run.total() / 1e6 * 60


def rows(runs: list[Run]) -> list[str]:
    lines = ["| term | " + " | ".join(f"per {r.label} | $ per million" for r in runs) + " |",
             "|---|" + "---|---|" * len(runs)]
    names = [name for name, _, _ in runs[0].terms()]
    tables = [{name: (qty, usd) for name, qty, usd in r.terms()} for r in runs]
    for name in names:
        cells = " | ".join(f"{t[name][0]:,.3f} | {t[name][1]:,.3f}" for t in tables)
        lines.append(f"| {name} | {cells} |")
    totals = [r.total() for r in runs]
    lines.append("| **total** | " + " | ".join(f" | **${t:,.2f}**" for t in totals) + " |")
    lines.append("| total, message store provisioned (steady load, 70 % target) | " + " | ".join(
        f" | ${r.provisioned_total():,.2f}" for r in runs) + " |")
    lines.append("| target | " + " | ".join(
        f" | ≤ ${TARGETS[r.label]:,.2f}: {'met' if t <= TARGETS[r.label] else 'missed'}" if r.label in TARGETS
        else " | (a quiet stage's price)" for r, t in zip(runs, totals, strict=True)) + " |")
    latency = 0.1 * MEMORY_GB * pricing.PRICES["lambda_gb_second"] * 1e6
    threads = get_settings().sender_threads
    lines.append(f"| + per 100 ms of provider latency (a batch's {threads} deliveries wait side by side) | | "
                 f"${latency / threads:,.2f} per million provider calls | | |")
    lines.append("")
    lines.append("Write units by table and index, per message: " + "; ".join(
        f"{r.label}: " + ", ".join(f"{k} {v / r.count:.2f}" for k, v in sorted(r.units.writes.items()))
        for r in runs))
    lines.append("Read units by table, per message: " + "; ".join(
        f"{r.label}: " + ", ".join(f"{k} {v / r.count:.2f}" for k, v in sorted(r.units.reads.items()))
        for r in runs))
    lines.append("Largest item written: " + "; ".join(
        f"{r.label}: " + ", ".join(f"{k} {v:,} bytes" for k, v in sorted(r.units.largest.items())) for r in runs))
    lines.append("Log bytes per message (ours / of them metric documents / Lambda's own): " + "; ".join(
        f"{r.label}: {r.log_bytes / r.count:,.0f} / {r.metric_bytes / r.count:,.0f} / "
        f"{r.lambda_invocations * PLATFORM_LOG_BYTES / r.count:,.0f}" for r in runs))
    return lines


IDLE_POLLERS = 5  # an assumption: AWS does not publish it
POLLED_QUEUES = 7  # the four channel queues, stream failures, record events, inbound SMS


def quiet_rows(tick: Run, hourly: float) -> list[str]:
    reads = sum(tick.units.reads.values())
    idle_sqs = IDLE_POLLERS * POLLED_QUEUES * 3600 / 20 * pricing.PRICES["sqs_request"]
    return [
        f"A quiet hour (nothing sent): the minute tick, 60 invocations of {tick.lambda_seconds * 1000:,.0f} ms "
        f"and {reads:,.1f} read units each, costs ${hourly:,.4f} (${hourly * 24 * DAYS_PER_MONTH:,.2f} a month). "
        "Lambda's pollers long-poll each idle queue (SQS bills each receive; AWS does not publish how many "
        f"pollers an idle mapping keeps: at {IDLE_POLLERS} per queue, 20-second polls, the {POLLED_QUEUES} "
        f"queues cost ${idle_sqs:,.4f} an hour); "
        "stream polling is free. Scheduled sends add $1.00 per million firings (EventBridge Scheduler, after "
        "14 million free a month) to the cost of the messages they send.",
    ]


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
        f"| org send counter (config; only with SEND_LIMIT_PER_HOUR set, {rate_limit.SHARDS} items from 1,000,000) | "
        f"1 per instant send of up to 100 | {rate_limit.SHARDS * 1000:,} sends/s |",
    ]


LONE = 20  # messages in each lone run


def main(stage: Stage, sms: int, soap: int) -> list[str]:
    ledger = pricing.Ledger()
    remove = pricing.capture(aws.client("dynamodb").meta.events, ledger)
    try:
        runs = [sms_run(stage, ledger, sms), soap_run(stage, ledger, soap),
                soap_run(stage, ledger, max(1, soap // 10), "latest_wins")]
        lone = [sms_run(stage, ledger, LONE, lone=True), soap_run(stage, ledger, LONE, lone=True)]
        tick, hourly = quiet_hour(stage, ledger)
    finally:
        remove()
    return (["Busy: full batches everywhere.", "", *rows(runs), "",
             "Lone: one message per send, per stream batch and per sender invocation (what a quiet stage pays "
             "for each message; the batching windows make most messages of a trickle share an invocation).", "",
             *rows(lone), "", *quiet_rows(tick, hourly), "", *partition_rows()])
