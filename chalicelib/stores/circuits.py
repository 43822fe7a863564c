"""Endpoint circuits in the config table (pk CIRCUIT, sk = a digest of the endpoint URL), written only when
they change: a healthy endpoint costs one cached read per sender every few seconds and no write.

Every write is conditional on the version read, so two senders recording outcomes at once both count, and only
one takes the probe of an open circuit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from chalicelib.core import circuit as rules
from chalicelib.core.circuit import Circuit
from chalicelib.platform import aws, metrics
from chalicelib.platform.dynamo_codec import cursor_in, cursor_out, from_item, to_item, to_value
from chalicelib.platform.logs import log
from chalicelib.platform.settings import get_settings

KIND = "CIRCUIT"
CACHE_SECONDS = 5.0
WRITE_ATTEMPTS = 25  # a batch's ten senders failing at once on one endpoint: every failure counts
_cache: dict[str, tuple[float, Circuit]] = {}


class Conflict(Exception):
    """Another sender changed the circuit first."""


def key(endpoint_url: str) -> str:
    return "ep_" + hashlib.sha256(endpoint_url.encode()).hexdigest()[:24]


def _table() -> str:
    return get_settings().config_table


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _from(item: dict[str, Any]) -> Circuit:
    data = from_item(item)["data"]
    return Circuit(endpoint_url=data["endpoint_url"], state=data["state"], failures=int(data["failures"]),
                   failing_since=_moment(data.get("failing_since")), probe_at=_moment(data.get("probe_at")),
                   probing_until=_moment(data.get("probing_until")), opens=int(data.get("opens", 0)),
                   reason=data.get("reason"), version=int(from_item(item)["version"]))


def _plain(found: Circuit) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(found).items()}


def view(found: Circuit) -> dict[str, Any]:
    """The circuit as the API and the console show it."""
    return {"id": key(found.endpoint_url), **_plain(found)}


def get(endpoint_url: str, *, fresh: bool = False) -> Circuit:
    hit = _cache.get(endpoint_url)
    if hit and not fresh and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    item = aws.client("dynamodb").get_item(TableName=_table(), Key=to_item({"pk": KIND, "sk": key(endpoint_url)}),
                                           ConsistentRead=fresh).get("Item")
    found = _from(item) if item else Circuit(endpoint_url)
    _cache[endpoint_url] = (time.monotonic(), found)
    return found


def get_by_id(circuit_id: str) -> Circuit | None:
    item = aws.client("dynamodb").get_item(TableName=_table(), Key=to_item({"pk": KIND, "sk": circuit_id}),
                                           ConsistentRead=True).get("Item")
    return _from(item) if item else None


def _write(before: Circuit, after: Circuit) -> Circuit:
    data = {k: v for k, v in _plain(after).items() if k != "version"}
    written = replace(after, version=before.version + 1)
    kwargs: dict[str, Any] = {"TableName": _table(), "Item": to_item(
        {"pk": KIND, "sk": key(after.endpoint_url), "data": data, "version": written.version})}
    if before.version:
        kwargs |= {"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": to_value(before.version)}}
    else:
        kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
    try:
        aws.client("dynamodb").put_item(**kwargs)
    except Exception as exc:
        if aws.is_conditional_failure(exc):
            _cache.pop(after.endpoint_url, None)
            raise Conflict(after.endpoint_url) from exc
        raise
    _cache[after.endpoint_url] = (time.monotonic(), written)
    return written


def take_probe(current: Circuit, now: datetime) -> bool:
    """True for the one sender whose conditional write took the probe of an open circuit."""
    try:
        _write(current, rules.probe_taken(current, now))
    except Conflict:
        return False
    return True


def record(endpoint_url: str, ok: bool, now: datetime, reason: str = "", *, gone: bool = False) -> Circuit:
    """One attempt's outcome. A success on a healthy circuit writes nothing."""
    current = get(endpoint_url)
    for attempt in range(WRITE_ATTEMPTS):  # each round of racing senders has one winner
        if attempt:
            time.sleep(random.uniform(0, 0.01 * attempt))  # noqa: S311 - jitter, not security
        after = rules.succeeded(current) if ok else rules.failed(current, now, reason, gone=gone)
        if replace(after, version=current.version) == current:
            return current
        try:
            written = _write(current, after)
        except Conflict:
            current = get(endpoint_url, fresh=True)
            continue
        if written.state != current.state:
            _changed(current, written)
        return written
    log("circuit.busy", logging.WARNING, endpoint_url=endpoint_url)
    return current


def _changed(before: Circuit, after: Circuit) -> None:
    log("circuit.changed", logging.WARNING if after.state != "closed" else logging.INFO,
        endpoint_url=after.endpoint_url, state=after.state, was=before.state, failures=after.failures,
        reason=after.reason)
    if after.state == "disabled":
        metrics.emit({"EndpointDisabled": 1}, channel="soap", endpoint_url=after.endpoint_url)
        _announce(after)


def _announce(disabled: Circuit) -> None:
    """An operational event on the account's default EventBridge bus, for whatever the team routes it to."""
    try:
        aws.client("events").put_events(Entries=[{
            "Source": f"outbound.{get_settings().stage}", "DetailType": "Endpoint disabled",
            "Detail": json.dumps(view(disabled))}])
    except Exception as exc:  # noqa: BLE001 - the metric and its alarm still say it; the circuit is written
        log("circuit.event_failed", logging.ERROR, endpoint_url=disabled.endpoint_url,
            error=f"{type(exc).__name__}: {exc}")


def resume(circuit_id: str) -> Circuit | None:
    current = get_by_id(circuit_id)
    if current is None:
        return None
    written = _write(current, rules.resumed(current))
    log("circuit.resumed", endpoint_url=written.endpoint_url, was=current.state)
    return written


def page(limit: int, cursor: str | None) -> tuple[list[Circuit], str | None]:
    kwargs: dict[str, Any] = {"TableName": _table(), "KeyConditionExpression": "pk = :pk",
                              "ExpressionAttributeValues": {":pk": to_value(KIND)}, "Limit": limit}
    start = cursor_in(cursor)
    if start:
        kwargs["ExclusiveStartKey"] = start
    found = aws.client("dynamodb").query(**kwargs)
    return [_from(i) for i in found.get("Items", [])], cursor_out(found.get("LastEvaluatedKey"))


def reset() -> None:
    _cache.clear()
