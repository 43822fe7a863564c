"""Per-recipient caps on marketing messages of one subject (Florida's and Oklahoma's three per 24 hours), in the
config table: pk CAP, sk = the consent list's keyed hash of the address and the subject; the send times of the
last 24 hours, each taken by a write conditional on the list as read (two senders never both take the third).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.core import sending_window
from chalicelib.core.clock import expires_at, iso
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import from_item, to_item, to_value
from chalicelib.platform.settings import get_settings
from chalicelib.stores import consent as consent_store

KIND = "CAP"
TRIES = 5


def _key(address: str, subject: str) -> dict[str, Any]:
    return to_item({"pk": KIND, "sk": f"{consent_store.key_of(address)}#{subject}"})


def reserve(address: str, subject: str, cap: int, now: datetime) -> datetime | None:
    """Take one of the cap's places now: None when taken, else when the next place frees up."""
    table = get_settings().config_table
    client = aws.client("dynamodb")
    for _ in range(TRIES):
        found = client.get_item(TableName=table, Key=_key(address, subject), ConsistentRead=True).get("Item")
        data = from_item(found) if found else {}
        sent = [datetime.fromisoformat(str(t)) for t in data.get("sent", [])]
        later = sending_window.cap_admits(sent, cap, now)
        if later is not None:
            return later
        kept = [iso(t) for t in sent if t > now - sending_window.CAP_PERIOD] + [iso(now)]
        kwargs: dict[str, Any] = {
            "TableName": table,
            "Item": {**_key(address, subject), **to_item({"sent": kept, "version": int(data.get("version", 0)) + 1,
                                                          "expires_at": expires_at(now, 2)})},
        }
        if found:
            kwargs["ConditionExpression"] = "version = :v"
            kwargs["ExpressionAttributeValues"] = {":v": to_value(int(data.get("version", 0)))}
        else:
            kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
        try:
            client.put_item(**kwargs)
        except Exception as exc:
            if aws.is_conditional_failure(exc):
                continue
            raise
        return None
    return now + sending_window.CAP_PERIOD / 24 / 60  # busy: look again in a minute
