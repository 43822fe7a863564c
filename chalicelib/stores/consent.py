"""The consent list in the config table: pk CONSENT, sk = a keyed hash of the person's address (core/consent.py),
one item per person, each change one write conditional on the item's version.

The hash key is an SSM SecureString under the stage's prefix (`/outbound/<stage>/consent-key`), created on first
use: the table alone does not say whose entries it holds, and an erased person's item keeps only the hash.
"""

from __future__ import annotations

import base64
import json
import secrets as random
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.core import consent
from chalicelib.models.consent import ConsentEvidence, ConsentItem
from chalicelib.platform import aws, secrets
from chalicelib.platform.dynamo_codec import from_item, to_item, to_value
from chalicelib.platform.logs import log
from chalicelib.platform.settings import get_settings
from chalicelib.stores import eum_opt_outs

KIND = "CONSENT"
TRIES = 5


class Busy(Exception):
    """The item kept changing under this write (five tries)."""


def key_name() -> str:
    return f"/outbound/{get_settings().stage}/consent-key"


def _secret() -> bytes:
    name = key_name()
    try:
        found = secrets.json_secret(name, max_age=3600)
    except secrets.SecretMissing:
        try:
            aws.client("ssm").put_parameter(
                Name=name, Type="SecureString", Overwrite=False,
                Description="Outbound: the key of the consent list's address hashes (never change it)",
                Value=json.dumps({"key": base64.b64encode(random.token_bytes(32)).decode()}))
        except Exception as exc:
            if aws.error_code(exc) != "ParameterAlreadyExists":  # another function created it first
                raise
        secrets.forget(name)
        found = secrets.json_secret(name, max_age=3600)
    return base64.b64decode(str(found["key"]))


def key_of(address: str) -> str:
    return consent.address_key(_secret(), address)


def _table() -> str:
    return get_settings().config_table


def _decode(item: dict[str, Any]) -> ConsentItem:
    data = from_item(item)
    return ConsentItem.model_validate({**json.loads(str(data["data"])), "key": data["sk"],
                                       "version": int(data.get("version", 0))})


def get(address: str, *, consistent: bool = True) -> ConsentItem | None:
    return get_by_key(key_of(address), consistent=consistent)


def get_by_key(key: str, *, consistent: bool = True) -> ConsentItem | None:
    found = aws.client("dynamodb").get_item(TableName=_table(), Key=to_item({"pk": KIND, "sk": key}),
                                            ConsistentRead=consistent)
    return _decode(found["Item"]) if "Item" in found else None


def _put(item: ConsentItem, expected: int | None) -> None:
    data = item.model_dump(mode="json", exclude={"key", "version"}, exclude_none=True)
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "Item": to_item({"pk": KIND, "sk": item.key, "version": item.version,
                         "data": json.dumps(data, separators=(",", ":"))}),
    }
    if expected is None:
        kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
    else:
        kwargs["ConditionExpression"] = "version = :v"
        kwargs["ExpressionAttributeValues"] = {":v": to_value(expected)}
    aws.client("dynamodb").put_item(**kwargs)


def change(address: str | None, mutate: Callable[[ConsentItem], ConsentItem], *, key: str | None = None
           ) -> tuple[ConsentItem, bool]:
    """Apply `mutate` to the person's item (a new one when absent); returns it and whether it changed."""
    hashed = key or key_of(address or "")
    for _ in range(TRIES):
        current = get_by_key(hashed)
        base = current or ConsentItem(key=hashed, address=consent.address_of(address) if address else None)
        if address and base.address is None and current is not None and current.entries:
            base = base.model_copy(update={"address": consent.address_of(address)})
        after = mutate(base)
        if after == base:  # nothing to change: no write (and no empty item for someone never seen)
            return current or base, False
        written = after.model_copy(update={"version": base.version + 1})
        try:
            _put(written, current.version if current is not None else None)
        except Exception as exc:
            if aws.is_conditional_failure(exc):
                continue
            raise
        return written, True
    raise Busy(f"consent item {hashed[:8]}... kept changing")


def forget_address(address: str) -> bool:
    """Erasure: the item keeps its hash and entries (the person stays opted out) and loses the address."""
    def drop(item: ConsentItem) -> ConsentItem:
        history = [e.model_copy(update={"evidence": e.evidence.model_copy(update={"note": None})})
                   for e in item.history]
        entries = {k: e.model_copy(update={"evidence": e.evidence.model_copy(update={"note": None})})
                   for k, e in item.entries.items()}
        return item.model_copy(update={"address": None, "history": history, "entries": entries})

    hashed = key_of(address)
    if get_by_key(hashed) is None:
        return False
    _, changed = change(None, drop, key=hashed)
    return changed


def page(limit: int, after: str | None = None) -> tuple[list[ConsentItem], str | None]:
    """Items in hash order, `limit` at a time; the second value continues the listing."""
    kwargs: dict[str, Any] = {"TableName": _table(), "KeyConditionExpression": "pk = :pk",
                              "ExpressionAttributeValues": {":pk": to_value(KIND)}, "Limit": limit}
    if after:
        kwargs["ExclusiveStartKey"] = to_item({"pk": KIND, "sk": after})
    answer = aws.client("dynamodb").query(**kwargs)
    items = [_decode(i) for i in answer.get("Items", [])]
    last = answer.get("LastEvaluatedKey")
    return items, (str(from_item(last)["sk"]) if last else None)


def note_provider_code(message_id: str, address: str, scope: str, source: str, code: str,
                       provider_message_id: str | None, at: datetime) -> bool:
    """A provider refused or failed a message with a code that is the person's word (21610, 63014, 131050)."""
    applies_to = consent.applies_to_code(code)
    if applies_to is None:
        return False
    evidence = ConsentEvidence(source=source if source in ("twilio", "telesign", "eum") else "twilio",
                               actor="provider", at=at, code=code.rsplit(":", 1)[-1],
                               provider_message_id=provider_message_id, verified=True,
                               note=f"message {message_id}")
    _, changed = change(address, lambda item: consent.record(item, scope, applies_to, "opted_out", evidence))
    if changed and applies_to == "all" and source != "eum":
        eum_opt_outs.sync(consent.address_of(address), True)
    log("consent.provider_code", message_id=message_id, code=code, applies_to=applies_to, changed=changed)
    return changed
