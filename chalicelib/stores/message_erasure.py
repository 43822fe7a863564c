"""A person's erasure from the message table: the records of the messages sent to them keep their state, counts
and times, and lose the address, the rendered text and every value rendered into it (history lines and errors
included). Their index entries (the per-contact listing) go with the attribute that keyed them.

The history's hash chain is computed again over the scrubbed lines, its last line saying the record was erased:
an erased record verifies, and its erasure is on the record (the chain is tamper-evident, not proof that the
lines before the erasure are the ones first written).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from chalicelib.core import audit_chain
from chalicelib.core.clock import iso
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import from_item, to_item, to_value
from chalicelib.platform.settings import get_settings
from chalicelib.stores import message_keys as keys
from chalicelib.stores import payloads

ERASED = "[erased]"
TRIES = 3
SCRUBBED_TEXT = ("last_error", "provider_status")


def _table() -> str:
    return get_settings().messages_table


def ids_to_contact(contact_key: str) -> Iterator[str]:
    """Every message id the per-contact index holds for `contact_key` ("<channel>#<address>")."""
    kwargs: dict[str, Any] = {"TableName": _table(), "IndexName": keys.CONTACT_INDEX,
                              "KeyConditionExpression": "contact_key = :c",
                              "ExpressionAttributeValues": {":c": to_value(contact_key)}}
    while True:
        found = aws.client("dynamodb").query(**kwargs)
        for item in found.get("Items", []):
            yield str(from_item(item)["message_id"])
        if "LastEvaluatedKey" not in found:
            return
        kwargs["ExclusiveStartKey"] = found["LastEvaluatedKey"]


def scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, ERASED)
    return text


def _scrubbed_payload(payload: dict[str, Any]) -> dict[str, Any]:
    out = dict(payload)
    for name in ("to", "recipient"):
        if name in out:
            out[name] = ERASED
    for name in ("body", "text"):
        if name in out:
            out[name] = ""
    out.pop("content_variables", None)
    return out


def erase(message_id: str, secrets: list[str], at: datetime) -> dict[str, Any] | None:
    """Scrub one record; returns what was taken (its conversation and timeline entry, for their own stores),
    None when the record is gone or kept changing."""
    client = aws.client("dynamodb")
    for _ in range(TRIES):
        found = client.get_item(TableName=_table(), Key=to_item({"message_id": message_id}), ConsistentRead=True)
        if "Item" not in found:
            return None
        data = from_item(found["Item"])
        old_claim = data.get(payloads.CLAIM)
        payload = payloads.decode(dict(data))
        texts = [payload.get("body"), payload.get("text")]
        everything = [*secrets, *(t for t in texts if isinstance(t, str) and len(t) >= 4)]
        scrubbed = _scrubbed_payload(payload)
        digest = audit_chain.payload_digest(scrubbed)
        lines = [scrub(str(line), everything) for line in data.get("history", [])]
        lines.append(f"{iso(at)} {data['state']} erased: the contact's data removed payload={digest}")
        item = {k: v for k, v in data.items()
                if k not in {payloads.PLAIN, payloads.PACKED, payloads.CLAIM, "contact_key", "timeline_entity",
                             "fallback", "history", "chain"}}
        for name in SCRUBBED_TEXT:
            if isinstance(item.get(name), str):
                item[name] = scrub(item[name], everything)
        item["history"] = lines
        item["chain"] = audit_chain.extend([], lines, "")
        item.update(payloads.encode(message_id, scrubbed))
        try:
            client.put_item(TableName=_table(), Item=to_item(item),
                            ConditionExpression="size(history) = :n",
                            ExpressionAttributeValues={":n": to_value(len(data.get("history", [])))})
        except Exception as exc:
            if aws.is_conditional_failure(exc):
                continue
            raise
        if old_claim and payloads.CLAIM not in item:
            aws.client("s3").delete_object(Bucket=get_settings().payload_bucket, Key=str(old_claim))
        return {"conversation_id": data.get("conversation_id"), "timeline_entity": data.get("timeline_entity"),
                "message_id": message_id}
    return None
