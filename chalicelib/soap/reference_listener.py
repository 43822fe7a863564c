"""A reference SOAP listener: what a partner's endpoint does with our notifications.

Parse, check the OrganizationId and the identity token in SessionId (the definition must set
`include_session_id`: anything else could write here unauthenticated), keep each notification once (dedupe on
its Id: delivery is at least once), then Ack. Kept notifications go to the config table so the local walkthrough
can show them. It is off (404) unless the stage sets ENABLE_REFERENCE_LISTENER, which only local does.

The Ack covers the whole message: there is no per-notification answer in this protocol. A listener that
stored some notifications and then fails must answer without an Ack; the whole message comes back with
the same notification ids, and the dedupe keeps the ones already stored from being stored twice.
"""

from __future__ import annotations

from chalicelib.core import clock
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import from_item, to_item, to_value
from chalicelib.platform.secrets import json_parameter
from chalicelib.platform.settings import get_settings
from chalicelib.soap import identity_token
from chalicelib.soap.envelope import build_ack, parse_notifications

RECEIVED = "LISTENER#received"


def receive(xml: bytes) -> tuple[int, bytes]:
    if not get_settings().reference_listener:
        return 404, build_ack(False)
    try:
        parsed = parse_notifications(xml)
    except Exception:  # noqa: BLE001 - any unreadable message is refused without an Ack
        return 400, build_ack(False)
    if parsed.organization_id != get_settings().org_id or parsed.session_id is None:
        return 403, build_ack(False)
    key = str(json_parameter(get_settings().session_token_param)["key"]).encode()
    try:
        claims = identity_token.verify(key, parsed.session_id, clock.now())
    except identity_token.InvalidToken:
        return 403, build_ack(False)
    if claims.get("act") != parsed.action_id or claims.get("iss") != parsed.organization_id:
        return 403, build_ack(False)
    client = aws.client("dynamodb")
    for note in parsed.notifications:
        item = {
            "pk": RECEIVED,
            "sk": note.id,
            "object": parsed.object_type,
            "fields": dict(note.fields),
            "action_id": parsed.action_id,
            "received_at": clock.iso(clock.now()),
        }
        try:
            client.put_item(
                TableName=get_settings().config_table,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(sk)",
            )
        except Exception as exc:
            if not aws.is_conditional_failure(exc):
                raise
    return 200, build_ack(True)


def received() -> list[dict[str, object]]:
    answer = aws.client("dynamodb").query(
        TableName=get_settings().config_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": to_value(RECEIVED)},
    )
    return [{k: v for k, v in from_item(i).items() if k != "pk"} for i in answer.get("Items", [])]
