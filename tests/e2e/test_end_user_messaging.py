"""AWS End User Messaging SMS as a third SMS provider: boto3's own
`pinpoint-sms-voice-v2` client sends to a loopback server speaking its AWS JSON protocol, and the delivery events
EventBridge carries ("Text Message Delivery Status Updated") move the record, through the app's own rule."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Api, wait_for
from tests.e2e.test_pipeline import wait_state
from tests.e2e.test_providers import configuration, contact, send

OURS = "+15005550012"


def test_an_eum_send_reaches_the_endpoint_and_its_delivery_event_moves_the_record(runtime: Any, api: Api) -> None:
    cfg = configuration(api, "sms", OURS, provider="eum")
    (message_id,) = send(api, cfg, contact("+13035550500", "de-DE"))
    record = wait_state(api, message_id, "delivered")
    (request,) = [r for r in runtime.eum.requests if json.loads(r.body).get("Context", {}).get("message_id")
                  == message_id]
    assert request.headers["x-amz-target"] == "PinpointSMSVoiceV2.SendTextMessage"
    assert request.headers["content-type"] == "application/x-amz-json-1.0"
    assert "/sms-voice/aws4_request" in request.headers["authorization"]  # SigV4 for the service's signing name
    params = json.loads(request.body)
    assert params["DestinationPhoneNumber"] == "+13035550500" and params["OriginationIdentity"] == OURS
    assert params["MessageBody"] == "Hallo Jörg, Fall C-7 ist offen – grüße!"
    assert params["MessageType"] == "TRANSACTIONAL"
    assert 23 * 3600 < params["TimeToLive"] <= 24 * 3600  # what is left of the message's 24-hour deadline
    assert record["provider_message_id"] and record["provider_status"] == "TEXT_DELIVERED"
    assert [h["state"] for h in record["history"]][-2:] == ["sent", "delivered"]


def test_a_failure_event_fails_the_message_visibly_and_an_opted_out_number_is_opted_out(
        runtime: Any, api: Api) -> None:
    cfg = configuration(api, "sms", OURS, provider="eum")
    runtime.eum.final_event = "TEXT_CARRIER_UNREACHABLE"
    runtime.eum.opted_out.add("+13035550511")
    try:
        unreachable, opted_out = send(api, cfg, contact("+13035550510"), contact("+13035550511"))
        record = wait_state(api, unreachable, "failed")
        assert record["error_code"] == "TEXT_CARRIER_UNREACHABLE"
        record = wait_state(api, opted_out, "opted_out")
        assert record["error_code"] == "ConflictException:DESTINATION_PHONE_NUMBER_OPTED_OUT"
    finally:
        runtime.eum.final_event = "TEXT_DELIVERED"
        runtime.eum.opted_out.discard("+13035550511")


def test_throttling_is_retried_and_a_refusal_is_permanent(runtime: Any, api: Api) -> None:
    from local.providers import aws_json_error

    cfg = configuration(api, "sms", OURS, provider="eum")
    throttled = aws_json_error(400, "ThrottlingException", "Rate exceeded")
    runtime.eum.script.extend([throttled, throttled])
    (message_id,) = send(api, cfg, contact("+13035550520"))
    record = wait_state(api, message_id, "delivered")
    assert record["attempts"] == 3
    runtime.eum.script.append(aws_json_error(400, "ValidationException", "OriginationIdentity unknown",
                                             "INVALID_IDENTIFIER"))
    (refused,) = send(api, cfg, contact("+13035550521"))
    record = wait_state(api, refused, "failed")
    assert record["attempts"] == 1 and record["error_code"] == "ValidationException:INVALID_IDENTIFIER"


def test_events_of_other_applications_and_bad_events_change_nothing(runtime: Any, api: Api, log_lines: Any) -> None:
    base = {"version": "0", "id": "e", "detail-type": "Text Message Delivery Status Updated",
            "source": "aws.sms-voice", "account": "123456789012", "time": "2026-11-25T00:00:00Z",
            "region": "us-east-1", "resources": []}
    before = list(runtime.errors)
    assert runtime.put_event({**base, "detail": {"eventType": "TEXT_DELIVERED", "messageId": "x"}}) == 1
    assert runtime.put_event({**base, "detail": {"eventType": "TEXT_DELIVERED", "messageId": "x",
                                                 "context": {"message_id": "msg_nobody"}}}) == 1
    assert runtime.put_event({**base, "detail": {"no": "shape"}}) == 1
    assert runtime.put_event({**base, "source": "aws.ses"}) == 0
    assert runtime.errors == before
    # a genuine record does not move on an event naming another provider message id
    cfg = configuration(api, "sms", OURS, provider="eum")
    runtime.eum.final_event = "TEXT_PENDING"  # not final: the record stays sent
    try:
        (message_id,) = send(api, cfg, contact("+13035550530"))
        wait_for(lambda: any(line.get("event") == "message.provider_status" and line.get("message_id") == message_id
                             and line.get("status") == "TEXT_PENDING" for line in list(log_lines.lines)),
                 20, "the pending event to be noted")
        # A status that is not final changes nothing a user needs: it is logged, not written.
        assert api.call("GET", f"/messages/{message_id}")[1].get("provider_status") is None
    finally:
        runtime.eum.final_event = "TEXT_DELIVERED"
    runtime.put_event({**base, "detail": {"eventType": "TEXT_DELIVERED", "messageId": "another",
                                          "context": {"message_id": message_id}}})
    assert api.call("GET", f"/messages/{message_id}")[1]["state"] == "sent"


def test_the_app_declares_the_eventbridge_rule_end_user_messaging_delivers_to() -> None:
    from chalice.app import CloudWatchEventConfig

    import app
    from chalicelib.operations import eum_events

    (rule,) = [s for s in app.app.event_sources if isinstance(s, CloudWatchEventConfig)]
    assert rule.event_pattern == eum_events.PATTERN and rule.name == "on_sms_event"


def test_awss_documented_events_are_read_and_the_loopback_service_sends_their_shape(
        runtime: Any, api: Api) -> None:
    """AWS's documented example events (local/aws_examples, from the End User Messaging user guides): as
    published, they are another application's messages (no Context of ours) and change nothing; the loopback
    service's events carry every field AWS's do, and with our Context and message id they move the record."""
    from datetime import UTC, datetime

    from local.providers import AWS_EXAMPLES, eum_event

    before = list(runtime.errors)
    for name in ("delivered", "successful"):
        assert runtime.put_event(AWS_EXAMPLES[name]) == 1
    assert runtime.errors == before
    for name, event_type in (("delivered", "TEXT_DELIVERED"), ("successful", "TEXT_SUCCESSFUL")):
        ours = eum_event(event_type, "m-1", {"OriginationIdentity": OURS, "DestinationPhoneNumber": "+13035550540",
                                             "Context": {"message_id": "msg_1"}}, datetime.now(UTC))
        documented = AWS_EXAMPLES[name]
        assert set(ours) == set(documented) and set(documented["detail"]) <= set(ours["detail"])
        assert set(ours["detail"]) - set(documented["detail"]) <= set(AWS_EXAMPLES["event_data"])
    cfg = configuration(api, "sms", OURS, provider="eum")
    runtime.eum.final_event = "TEXT_PENDING"
    try:
        (message_id,) = send(api, cfg, contact("+13035550541"))
        sent = wait_state(api, message_id, "sent")
    finally:
        runtime.eum.final_event = "TEXT_DELIVERED"
    delivered = json.loads(json.dumps(AWS_EXAMPLES["delivered"]))
    delivered["detail"].update(messageId=sent["provider_message_id"], context={"message_id": message_id})
    assert runtime.put_event(delivered) == 1
    wait_state(api, message_id, "delivered")
