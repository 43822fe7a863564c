"""What a message costs in AWS at list price, from what the handlers really did: every DynamoDB write's item
before and after (read back through a second, uncounted client) priced by DynamoDB's own rules for the table
and each of its indexes as infra/template.yaml declares them, every read's size, every request per service.

DynamoDB's rules (developer guide, "Item sizes and formats" and "Global secondary indexes: provisioned
throughput considerations"): a write costs one unit per KB of the larger of the item before and after (at least
one; a failed conditional write too); an index costs one write per KB of its entry when the entry appears,
leaves or changes a projected attribute, and two when its key changes; an eventually consistent read costs half
a unit per 4 KB of what it returns (a strongly consistent one a whole unit). Storage ("Table classes" and the
pricing page): each item, and each index entry, takes its bytes plus 100 bytes of overhead, billed per GB-month,
and point-in-time recovery bills the same bytes again at its own rate.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chalicelib.platform.dynamo_codec import item_bytes

ROOT = Path(__file__).resolve().parents[1]

# US East (N. Virginia) list prices, November 2026.
PRICES = {
    "dynamodb_write_unit": 0.625e-6,  # on-demand write request unit
    "dynamodb_read_unit": 0.125e-6,  # on-demand read request unit
    "sqs_request": 0.40e-6,  # standard queue, per 64 KB chunk
    "lambda_request": 0.20e-6,
    "lambda_gb_second": 16.6667e-6,  # x86
    "api_gateway_rest": 3.50e-6,  # first 333 million a month
    "s3_put": 5.0e-6,
    "s3_get": 0.4e-6,
    "logs_ingested_gb": 0.50,
    "logs_stored_gb_month": 0.03,
    "dynamodb_stored_gb_month": 0.25,  # Standard table class
    "dynamodb_pitr_gb_month": 0.20,  # continuous backups (point-in-time recovery)
    "scheduler_invocation": 1.00e-6,  # EventBridge Scheduler, after the free 14 million a month
    "dynamodb_wcu_hour": 0.00065,  # provisioned write capacity unit-hour
    "dynamodb_rcu_hour": 0.00013,  # provisioned read capacity unit-hour
}
# Provisioned capacity with auto scaling tracking 70 % use: each unit consumed at a steady rate costs its
# unit-hour price / 3,600 seconds / 0.7.
SCALING_TARGET = 0.70
ITEM_OVERHEAD = 100  # bytes DynamoDB adds to every item and index entry it stores


@dataclass
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str  # ALL, KEYS_ONLY, INCLUDE
    included: tuple[str, ...] = ()


@dataclass
class Table:
    keys: tuple[str, ...]
    indexes: list[Index]


TEMPLATE = ROOT / "infra" / "template.yaml"


@functools.cache
def _template(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def tables(template: Path = TEMPLATE) -> dict[str, Table]:
    """Table name suffix (after "outbound-<stage>-") -> its keys and indexes, as the stack creates them."""
    found: dict[str, Table] = {}
    resources = _template(template)["Resources"]
    for resource in resources.values():
        if resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        props = resource["Properties"]
        suffix = props["TableName"]["Fn::Sub"].split("${Stage}-", 1)[1]
        indexes = [
            Index(g["IndexName"], tuple(k["AttributeName"] for k in g["KeySchema"]),
                  g["Projection"]["ProjectionType"], tuple(g["Projection"].get("NonKeyAttributes", ())))
            for g in props.get("GlobalSecondaryIndexes", [])
        ]
        found[suffix] = Table(tuple(k["AttributeName"] for k in props["KeySchema"]), indexes)
    return found


def _units(size: int, per: int) -> int:
    return max(1, math.ceil(size / per))


def index_entry(table: Table, index: Index, item: dict[str, Any] | None) -> dict[str, Any] | None:
    """What `index` holds for `item` (None: the item is not in it, a sparse index)."""
    if item is None or any(k not in item for k in index.keys):
        return None
    names = set(index.keys) | set(table.keys)
    if index.projection == "ALL":
        return item
    if index.projection == "INCLUDE":
        names |= set(index.included)
    return {k: v for k, v in item.items() if k in names}


def stored_bytes(table: Table, item: dict[str, Any]) -> int:
    """Bytes billed as storage for `item` and its index entries."""
    total = item_bytes(item) + ITEM_OVERHEAD
    for index in table.indexes:
        entry = index_entry(table, index, item)
        if entry is not None:
            total += item_bytes(entry) + ITEM_OVERHEAD
    return total


def index_writes(table: Table, index: Index, old: dict[str, Any] | None, new: dict[str, Any] | None) -> int:
    before, after = index_entry(table, index, old), index_entry(table, index, new)
    if before is None and after is None:
        return 0
    if before is None:
        return _units(item_bytes(after or {}), 1024)
    if after is None:
        return _units(item_bytes(before), 1024)
    if any(before[k] != after[k] for k in index.keys):
        return _units(item_bytes(before), 1024) + _units(item_bytes(after), 1024)
    return _units(item_bytes(after), 1024) if before != after else 0


@dataclass
class Ledger:
    """Capacity units by "<table>" / "<table>:<index>", the largest item seen per table, and the stored bytes of
    every item written (its last version, with its index entries). Reads made while `paused` (the bench's own
    look at a record) are not the handlers' and are not counted."""

    writes: Counter[str] = field(default_factory=Counter)
    reads: dict[str, float] = field(default_factory=dict)  # read units are fractional (0.5 eventually consistent)
    largest: Counter[str] = field(default_factory=Counter)
    stored: dict[str, int] = field(default_factory=dict)
    paused: bool = False

    def clear(self) -> None:
        self.writes.clear()
        self.reads.clear()
        self.largest.clear()
        self.stored.clear()


WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
READS = {"GetItem", "Query", "BatchGetItem"}


class _Pricer:
    """Prices each DynamoDB call of the handlers' client: a write by the larger of the item before and after
    (read around the call with a client of its own), a read by what it returned."""

    def __init__(self, ledger: Ledger) -> None:
        import boto3

        self.ledger, self.known = ledger, tables()
        self.raw = boto3.session.Session().client("dynamodb", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
        self.local = threading.local()
        self.lock = threading.Lock()

    def table_of(self, name: str) -> tuple[str, Table | None]:
        for suffix, table in self.known.items():
            if name.endswith("-" + suffix):
                return suffix, table
        return name, None

    @staticmethod
    def key_of(params: dict[str, Any], table: Table) -> dict[str, Any]:
        source = params.get("Key") or params.get("Item") or {}
        return {k: source[k] for k in table.keys}

    def before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.local.params = params  # the API's parameters (before-call only sees the serialised request)
        if model.name not in WRITES:
            return
        _suffix, table = self.table_of(params["TableName"])
        if table is None:
            return
        found = self.raw.get_item(TableName=params["TableName"], Key=self.key_of(params, table), ConsistentRead=True)
        self.local.old = found.get("Item")

    def after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        params: dict[str, Any] = getattr(self.local, "params", {})
        if model.name in WRITES:
            self._write(params, parsed)
        elif model.name in READS:
            self._read(model.name, params, parsed)

    def _write(self, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        suffix, table = self.table_of(params["TableName"])
        if table is None:
            return
        old = getattr(self.local, "old", None)
        key = self.key_of(params, table)
        new = self.raw.get_item(TableName=params["TableName"], Key=key, ConsistentRead=True).get("Item")
        failed = "Error" in parsed
        if failed:
            new = old
        ledger = self.ledger
        with self.lock:
            item_key = f"{suffix}|{sorted(key.items())}"
            if new is None:
                ledger.stored.pop(item_key, None)
            else:
                ledger.stored[item_key] = stored_bytes(table, new)
            ledger.largest[suffix] = max(ledger.largest[suffix], item_bytes(new or old or {}))
            ledger.writes[suffix] += _units(max(item_bytes(old or {}), item_bytes(new or {})), 1024)
            if not failed:
                for index in table.indexes:
                    ledger.writes[f"{suffix}:{index.name}"] += index_writes(table, index, old, new)

    def _read(self, operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if self.ledger.paused:
            return
        factor = 1.0 if params.get("ConsistentRead") else 0.5
        if operation == "GetItem":
            charged = {params["TableName"]: _units(item_bytes(parsed.get("Item") or {}), 4096) * factor}
        elif operation == "Query":
            size = sum(item_bytes(i) for i in parsed.get("Items", []))
            charged = {params["TableName"]: _units(size, 4096) * factor}
        else:
            charged = {name: sum(_units(item_bytes(i), 4096) * factor for i in items)
                       for name, items in parsed.get("Responses", {}).items()}
        with self.lock:
            for name, units in charged.items():
                table = self.table_of(name)[0]
                self.ledger.reads[table] = self.ledger.reads.get(table, 0.0) + units


def capture(events: Any, ledger: Ledger) -> Any:
    """Register hooks on `events` (the handlers' DynamoDB client's `meta.events`) that price every call;
    returns a function that removes them."""
    pricer = _Pricer(ledger)
    events.register("before-parameter-build.dynamodb", pricer.before)
    events.register("after-call.dynamodb", pricer.after)

    def remove() -> None:
        events.unregister("before-parameter-build.dynamodb", pricer.before)
        events.unregister("after-call.dynamodb", pricer.after)

    return remove


def parameter_default(name: str, template: Path = TEMPLATE) -> float:
    """A stack parameter's default (retention days, log retention): the bench prices what a first deploy keeps."""
    return float(_template(template)["Parameters"][name]["Default"])
