"""End to end through the local runtime: moto server, pollers, scheduler, loopback providers."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import clock
from chalicelib.soap_envelope import parse_notifications
from tests.conftest import Api, unique_object, wait_for

pytestmark = pytest.mark.e2e


def soap_setup(api: Api, endpoint: str, evaluation: str = "created", criteria: Any = None) -> tuple[str, str]:
    obj = unique_object()
    assert api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {
        "Subject": "string", "Status": "string", "Priority": "int", "IsEscalated": "boolean"}})[0] == 200
    status, definition = api.call("POST", "/outbound-messages", {
        "object": obj, "name": "To ERP", "unique_name": "To_ERP", "endpoint_url": endpoint,
        "fields": ["Subject", "Priority", "IsEscalated"]})
    assert status == 201, definition
    status, rule = api.call("POST", "/rules", {"object": obj, "name": "r", "evaluation": evaluation,
                                               "criteria": criteria, "definition_ids": [definition["id"]]})
    assert status == 201, rule
    return obj, definition["id"]


def sms_configuration(api: Api) -> str:
    status, template = api.call("POST", "/templates", {
        "name": "case update", "channel_type": "sms", "default_locale": "en-US",
        "bodies": {"en-US": "Hi {{ CustomerName }}, case {{ CaseName }} is {{ Status }}.",
                   "es-ES": "Hola {{ CustomerName }}, el caso {{ CaseName }} está {{ Status }}."}})
    assert status == 201, template
    status, configuration = api.call("POST", "/outbound-configurations", {
        "name": "Support SMS", "channel_type": "sms", "channel": "+15005550006", "template_id": template["id"]})
    assert status == 201, configuration
    return str(configuration["id"])


def message(api: Api, message_id: str) -> dict[str, Any]:
    status, body = api.call("GET", f"/messages/{message_id}")
    assert status == 200, body
    return dict(body)


def wait_state(api: Api, message_id: str, state: str, timeout: float = 20.0) -> dict[str, Any]:
    return dict(wait_for(lambda: (m := message(api, message_id))["state"] == state and m, timeout,
                         f"{message_id} to become {state}"))


def test_record_change_reaches_the_soap_listener(runtime: Any, api: Api) -> None:
    obj, definition_id = soap_setup(api, runtime.soap.url + "/listener")
    before = len(runtime.soap.requests)
    status, _ = api.call("PUT", f"/records/{obj}/500xx000000bpnRAAQ",
                         {"fields": {"Subject": "Printer on fire", "Priority": 2, "IsEscalated": True}})
    assert status == 200
    wait_for(lambda: len(runtime.soap.requests) > before, what="SOAP delivery")
    request = runtime.soap.requests[before]
    assert request.headers["content-type"] == "text/xml; charset=utf-8"
    assert request.headers["soapaction"] == '""'
    parsed = parse_notifications(request.body)
    assert parsed.action_id == definition_id and parsed.object_type == obj
    assert parsed.notifications[0].fields == {"Id": "500xx000000bpnRAAQ", "Subject": "Printer on fire",
                                              "Priority": "2", "IsEscalated": "true"}
    # An edit does not fire a "created" rule.
    api.call("PUT", f"/records/{obj}/500xx000000bpnRAAQ", {"fields": {"Subject": "Still on fire"}})
    status, listed = api.call("GET", "/messages?state=delivered&limit=100")
    mine = [m for m in listed["messages"] if m["definition_id"] == definition_id]
    assert len(mine) == 1 and mine[0]["payload"]["notification_ids"] == [parsed.notifications[0].id]
    assert [h["state"] for h in mine[0]["history"]] == ["queued", "sending", "delivered"]


def test_reference_listener_acks_and_dedupes(runtime: Any, api: Api) -> None:
    obj, _ = soap_setup(api, runtime.api_url + "/reference-listener")
    api.call("PUT", f"/records/{obj}/500xx0000000000001", {"fields": {"Subject": "Hello"}})

    def kept() -> list[dict[str, Any]]:
        return [n for n in api.call("GET", "/reference-listener/received")[1]["notifications"] if n["object"] == obj]

    notes = wait_for(kept, what="reference listener to keep the notification")
    assert notes[0]["fields"]["Subject"] == "Hello"


def test_listener_failing_twice_gets_the_same_ids_three_times(runtime: Any, api: Api) -> None:
    obj, definition_id = soap_setup(api, runtime.soap.url + "/flaky")
    runtime.soap.fail_next(2, 500, b"<html>busy</html>")
    before = len(runtime.soap.requests)
    api.call("PUT", f"/records/{obj}/500xx0000000000002", {"fields": {"Subject": "retry me"}})
    wait_for(lambda: len(runtime.soap.requests) >= before + 3, timeout=30, what="three attempts")
    ids = [[n.id for n in parse_notifications(r.body).notifications] for r in runtime.soap.requests[before:before + 3]]
    assert ids[0] == ids[1] == ids[2]
    listed = api.call("GET", "/messages?state=delivered&limit=100")[1]["messages"]
    record = next(m for m in listed if m["definition_id"] == definition_id)
    assert record["attempts"] == 3
    assert [h["state"] for h in record["history"]] == [
        "queued", "sending", "queued", "sending", "queued", "sending", "delivered"]
    assert "HTTP 500" in record["last_error"]


def test_listener_that_never_acks_expires_and_can_be_retried(runtime: Any, api: Api) -> None:
    obj, definition_id = soap_setup(api, runtime.soap.url + "/down")
    runtime.soap.fail_next(1000, 503)
    api.call("PUT", f"/records/{obj}/500xx0000000000003", {"fields": {"Subject": "never acked"}})

    def queued_retry() -> dict[str, Any] | None:
        listed = api.call("GET", "/messages?state=queued&limit=100")[1]["messages"]
        return next((m for m in listed if m["definition_id"] == definition_id and m["attempts"] >= 1), None)

    record = wait_for(queued_retry, what="first failed attempt")
    clock.advance(25 * 3600)  # past the 24-hour deadline without waiting for it
    expired = wait_state(api, record["message_id"], "expired", timeout=30)
    assert "deadline passed" in expired["history"][-1]["detail"]
    listed = api.call("GET", "/messages?state=expired&limit=100")[1]["messages"]
    assert any(m["message_id"] == record["message_id"] for m in listed)
    sqs = runtime.client("sqs")
    dlq = sqs.get_queue_url(QueueName="outbound-local-soap-dlq")["QueueUrl"]
    parked = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert any(record["message_id"] in m["Body"] for m in parked)
    # The operator retries once the partner is back.
    runtime.soap.script.clear()
    status, retried = api.call("POST", f"/messages/{record['message_id']}/retry")
    assert status == 202 and retried["state"] == "queued"
    wait_state(api, record["message_id"], "delivered", timeout=30)
    assert api.call("POST", f"/messages/{record['message_id']}/retry")[0] == 409


def test_instant_send_renders_localized_text_and_records_opt_out(runtime: Any, api: Api) -> None:
    configuration_id = sms_configuration(api)
    before = len(runtime.twilio.messages())
    status, send = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": "+14155550100", "locale": "es-ES", "CustomerName": "Ana", "CaseName": "C-1",
         "contextitems": {"Status": "resuelto"}},
        {"tocontactid": "+14155550101", "optin": False, "CustomerName": "Bo", "CaseName": "C-2",
         "contextitems": {"Status": "open"}},
    ]})
    assert status == 202, send
    sent_id, opted_id = send["message_ids"]
    sent = wait_state(api, sent_id, "sent")
    assert message(api, opted_id)["state"] == "opted_out"
    new = runtime.twilio.messages()[before:]
    assert new == [{"To": "+14155550100", "From": "+15005550006", "Body": "Hola Ana, el caso C-1 está resuelto."}]
    request = [r for r in runtime.twilio.requests if r.form().get("To") == "+14155550100"][-1]
    assert request.headers["authorization"].startswith("Basic ")
    assert request.path == f"/2010-04-01/Accounts/{runtime.twilio.account_sid}/Messages.json"
    assert sent["provider_message_id"].startswith("SM")


def test_scheduled_send_fires_from_the_schedule_handler(runtime: Any, api: Api) -> None:
    configuration_id = sms_configuration(api)
    status, schedule = api.call("POST", "/schedules", {"configuration_id": configuration_id, "delay_seconds": 1,
        "contacts": [{"tocontactid": "+14155550142", "CustomerName": "Cy", "CaseName": "C-3",
                      "contextitems": {"Status": "scheduled"}}]})
    assert status == 201, schedule
    wait_for(lambda: any(m["To"] == "+14155550142" for m in runtime.twilio.messages()), what="scheduled SMS")
    done = api.call("GET", f"/schedules/{schedule['id']}")[1]
    assert done["status"] == "done" and done["runs"] == 1
    body = next(m for m in runtime.twilio.messages() if m["To"] == "+14155550142")["Body"]
    assert body == "Hi Cy, case C-3 is scheduled."


def test_cancelled_schedule_never_fires(runtime: Any, api: Api) -> None:
    configuration_id = sms_configuration(api)
    status, schedule = api.call("POST", "/schedules", {"configuration_id": configuration_id, "delay_seconds": 2,
        "contacts": [{"tocontactid": "+14155550143", "CustomerName": "D", "CaseName": "C", "contextitems": {"Status": "x"}}]})
    assert status == 201
    assert api.call("DELETE", f"/schedules/{schedule['id']}")[1]["status"] == "cancelled"
    ticks = runtime.activity["ticks"]
    wait_for(lambda: runtime.activity["ticks"] >= ticks + 8, what="several ticks")
    assert not any(m["To"] == "+14155550143" for m in runtime.twilio.messages())


def test_provider_down_loses_nothing(runtime: Any, api: Api) -> None:
    configuration_id = sms_configuration(api)
    runtime.twilio.fail_next(2, 503, b'{"code": 20500, "message": "Internal Server Error", "status": 503}',
                             {"Content-Type": "application/json"})
    status, send = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": "+14155550150", "CustomerName": "E", "CaseName": "C", "contextitems": {"Status": "x"}}]})
    assert status == 202
    record = wait_state(api, send["message_ids"][0], "sent", timeout=30)
    assert record["attempts"] == 3
    assert "Twilio HTTP 503" in record["last_error"]


def test_permanent_provider_error_fails_at_once_into_the_dlq(runtime: Any, api: Api) -> None:
    configuration_id = sms_configuration(api)
    status, send = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": "12345", "CustomerName": "F", "CaseName": "C", "contextitems": {"Status": "x"}}]})
    assert status == 202
    record = wait_state(api, send["message_ids"][0], "failed")
    assert record["attempts"] == 1 and record["error_code"] == "21211"
    listed = api.call("GET", "/messages?state=failed&limit=100")[1]["messages"]
    assert any(m["message_id"] == record["message_id"] for m in listed)
