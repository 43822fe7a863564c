"""End to end through the local runtime: moto server, pollers, scheduler, loopback providers."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.core import clock, ids
from chalicelib.models.records import FieldType
from chalicelib.soap.envelope import parse_notifications
from tests.conftest import Api, parked_on, unique_object, wait_for

pytestmark = pytest.mark.e2e


def soap_setup(api: Api, endpoint: str, evaluation: str = "created", criteria: Any = None,
               include_session_id: bool = False) -> tuple[str, str]:
    obj = unique_object()
    assert api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {
        "Subject": "string", "Status": "string", "Priority": "int", "IsEscalated": "boolean"}})[0] == 200
    status, definition = api.call("POST", "/outbound-messages", {
        "object": obj, "name": "To ERP", "unique_name": "To_ERP", "endpoint_url": endpoint,
        "fields": ["Subject", "Priority", "IsEscalated"], "include_session_id": include_session_id})
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
    assert parsed.session_id is None  # nil unless the definition asks for an identity token
    assert parsed.notifications[0].fields == {"Id": "500xx000000bpnRAAQ", "Subject": "Printer on fire",
                                              "Priority": "2", "IsEscalated": "true"}
    # An edit does not fire a "created" rule.
    api.call("PUT", f"/records/{obj}/500xx000000bpnRAAQ", {"fields": {"Subject": "Still on fire"}})
    status, listed = api.call("GET", f"/messages?state=delivered&definition_id={definition_id}")
    mine = listed["messages"]
    assert len(mine) == 1 and mine[0]["payload"]["notification_ids"] == [parsed.notifications[0].id]
    assert [h["state"] for h in mine[0]["history"]] == ["queued", "sending", "delivered"]


def test_enterprise_and_partner_urls_answer_a_listener_that_calls_back(runtime: Any, api: Api) -> None:
    """Salesforce's URLs served its SOAP APIs with the SessionId; ours point at routes that exist and answer, with
    an API key: {EnterpriseUrl}/{Id} is the record as it is now, {PartnerUrl} its object's declared fields."""
    from lxml import etree

    from chalicelib.soap.envelope import OUTBOUND

    obj, _ = soap_setup(api, runtime.soap.url + "/callback")
    before = len(runtime.soap.requests)
    assert api.call("PUT", f"/records/{obj}/case-9", {"fields": {"Subject": "Call me back", "Priority": 1}})[0] == 200
    wait_for(lambda: len(runtime.soap.requests) > before, what="SOAP delivery")
    body = etree.fromstring(runtime.soap.requests[before].body)
    enterprise = str(body.findtext(f".//{{{OUTBOUND}}}EnterpriseUrl"))
    partner = str(body.findtext(f".//{{{OUTBOUND}}}PartnerUrl"))
    assert enterprise.startswith(runtime.api_url) and partner.startswith(runtime.api_url)
    api.call("PUT", f"/records/{obj}/case-9", {"fields": {"Subject": "Changed since", "Priority": 1}})
    status, record = Api(enterprise, api.api_key).call("GET", "/case-9")
    assert status == 200 and record["fields"]["Subject"] == "Changed since"
    status, declared = Api(partner, api.api_key).call("GET", "")
    assert status == 200 and declared["fields"]["Priority"] == "int"
    assert Api(enterprise).call("GET", "/case-9")[0] == 401  # the API key is what replaces the SessionId


def test_reference_listener_acks_and_dedupes(runtime: Any, api: Api) -> None:
    obj, _ = soap_setup(api, runtime.api_url + "/reference-listener", include_session_id=True)
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
    record = wait_for(lambda: api.call("GET", f"/messages?state=delivered&definition_id={definition_id}")[1][
        "messages"], what="the delivered record")[0]
    assert record["attempts"] == 3
    assert [h["state"] for h in record["history"]] == [
        "queued", "sending", "queued", "sending", "queued", "sending", "delivered"]
    assert "HTTP 500" in record["last_error"]


def test_a_huge_listener_answer_is_stored_clipped_and_the_message_retried_not_poisoned(
        runtime: Any, api: Api, log_lines: Any) -> None:
    """A listener answering 900 KB inside <Ack>: the failed attempt is recorded (its text clipped to
    MAX_OUTSIDE_TEXT, where storing it whole would exceed DynamoDB's item size) and retried, once per attempt."""
    from chalicelib.core.texts import MAX_OUTSIDE_TEXT
    from chalicelib.soap.envelope import OUTBOUND, SOAPENV

    obj, definition_id = soap_setup(api, runtime.soap.url + "/huge")
    answer = (f'<s:Envelope xmlns:s="{SOAPENV}"><s:Body><notificationsResponse xmlns="{OUTBOUND}"><Ack>'
              + "no" * 450_000 + "</Ack></notificationsResponse></s:Body></s:Envelope>").encode()
    runtime.soap.fail_next(1, 200, answer)
    before = len(runtime.soap.requests)
    api.call("PUT", f"/records/{obj}/500xx0000000000099", {"fields": {"Subject": "answered at length"}})
    record = wait_for(lambda: api.call("GET", f"/messages?state=delivered&definition_id={definition_id}")[1][
        "messages"], timeout=30, what="delivery on the second attempt")[0]
    assert record["attempts"] == 2 and len(runtime.soap.requests) - before == 2
    failure = next(h for h in record["history"] if (h.get("detail") or "").startswith("retry:"))
    assert "Ack was" in failure["detail"] and len(failure["detail"]) <= MAX_OUTSIDE_TEXT
    assert all(len(json.dumps(line)) < 3 * MAX_OUTSIDE_TEXT for line in log_lines.lines)


def queue_entries(api: Api, query: str) -> list[dict[str, Any]]:
    status, body = api.call("GET", f"/outbound-messages/queue?{query}")
    assert status == 200, body
    return list(body["entries"])


def test_listener_that_never_acks_expires_and_can_be_retried(runtime: Any, api: Api) -> None:
    obj, definition_id = soap_setup(api, runtime.soap.url + "/down")
    runtime.soap.fail_next(1000, 503)
    api.call("PUT", f"/records/{obj}/500xx0000000000003", {"fields": {"Subject": "never acked"}})

    def pending_retry() -> dict[str, Any] | None:
        entries = queue_entries(api, f"view=pending&definition_id={definition_id}")
        return next((e for e in entries if e["attempts"] >= 1 and e["next_attempt_at"]), None)

    entry = wait_for(pending_retry, what="first failed attempt in the monitoring queue")
    assert entry["object"] == obj and entry["record_ids"] == ["500xx0000000000003"]
    assert "HTTP 503" in entry["last_error"] and entry["state"] == "queued"
    clock.advance(25 * 3600)  # past the 24-hour deadline without waiting for it
    expired = wait_state(api, entry["message_id"], "expired", timeout=30)
    assert "deadline passed" in expired["history"][-1]["detail"]
    failed = queue_entries(api, f"view=failed&definition_id={definition_id}")
    assert [e["message_id"] for e in failed] == [entry["message_id"]] and failed[0]["state"] == "expired"
    assert queue_entries(api, f"view=failed&record_id=500xx0000000000003&object={obj}")[0]["message_id"] == (
        entry["message_id"])
    assert queue_entries(api, f"view=pending&definition_id={definition_id}") == []
    sqs = runtime.client("sqs")
    dlq = sqs.get_queue_url(QueueName="outbound-local-soap-dlq")["QueueUrl"]
    assert parked_on(sqs, dlq, entry["message_id"])
    # The operator retries everything that failed for this definition once the partner is back.
    runtime.soap.script.clear()
    status, retried = api.call("POST", "/outbound-messages/queue/retry", {"definition_id": definition_id})
    assert status == 202 and retried == {"retried": [entry["message_id"]], "skipped": [], "more": False}
    delivered = wait_state(api, entry["message_id"], "delivered", timeout=30)
    assert delivered["deadline"] > expired["deadline"]
    assert queue_entries(api, f"view=all&definition_id={definition_id}") == []
    assert api.call("POST", f"/outbound-messages/queue/{entry['message_id']}/retry")[0] == 409


def waiting_soap_record(runtime: Any, path: str, definition_id: str) -> str:
    """A delivery that failed once and waits out a one-hour backoff (written directly, not through a failure)."""
    from chalicelib.core import ids
    from chalicelib.models.messages import MessageSource, SoapPayload
    from chalicelib.soap.envelope import Notification, build_envelope
    from chalicelib.stores import messages as message_store
    from chalicelib.stores.messages import new_record

    note_id = ids.random_sf_id("04l")
    envelope = build_envelope(
        organization_id="00Doutboundlocal01", action_id=definition_id, session_id=None, enterprise_url="e",
        partner_url="p", object_type="Case", field_types={"Id": FieldType.id},
        notifications=[Notification(id=note_id, fields={"Id": "r1"})])
    payload = SoapPayload(endpoint_url=runtime.soap.url + path, envelope=envelope.decode(), notification_ids=[note_id],
                          object_type="Case", record_ids=["r1"])
    now = clock.now()
    record = new_record(ids.random_id("msg"), "soap", payload, MessageSource(kind="stream", ref="test"), now,
                        definition_id=definition_id)
    record = record.model_copy(update={"attempts": 1, "due_at": now + timedelta(hours=1), "last_error": "HTTP 503"})
    assert message_store.create(record) is None
    return record.message_id


def test_operator_retries_a_waiting_delivery_now(runtime: Any, api: Api) -> None:
    from chalicelib.core.ids import random_sf_id

    definition_id = random_sf_id("04k")
    message_id = waiting_soap_record(runtime, "/retry-now", definition_id)
    [entry] = queue_entries(api, f"view=pending&definition_id={definition_id}")
    assert entry["message_id"] == message_id and entry["attempts"] == 1 and entry["next_attempt_at"] > clock.iso(
        clock.now())
    status, retried = api.call("POST", f"/outbound-messages/queue/{message_id}/retry")
    assert status == 202 and retried["state"] == "queued" and retried["next_attempt_at"] <= clock.iso(clock.now())
    record = wait_state(api, message_id, "delivered")
    assert record["attempts"] == 2
    assert sum(r.path == "/retry-now" for r in runtime.soap.requests) == 1


def test_operator_deletes_a_waiting_delivery_and_it_is_never_sent(runtime: Any, api: Api, log_lines: Any) -> None:
    from chalicelib.core.ids import random_sf_id
    from chalicelib.models.messages import QueueBody
    from chalicelib.stores import queues

    definition_id = random_sf_id("04k")
    message_id = waiting_soap_record(runtime, "/deleted", definition_id)
    assert api.call("DELETE", f"/outbound-messages/queue/{message_id}")[0] == 204
    deleted = message(api, message_id)
    assert deleted["state"] == "deleted" and deleted["history"][-1]["detail"] == "operator delete"
    assert queue_entries(api, f"view=all&definition_id={definition_id}") == []
    # A stale queue message for it (the backoff's own) arrives and is dropped by the sender's claim.
    queues.enqueue("soap", [QueueBody(message_id=message_id, attempt=1)])
    wait_for(lambda: any(line.get("event") == "queue.duplicate_dropped" and line.get("message_id") == message_id
                         for line in log_lines.lines), what="the stale queue message to be dropped")
    assert message(api, message_id)["state"] == "deleted"
    assert not any(r.path == "/deleted" for r in runtime.soap.requests)
    assert api.call("DELETE", f"/outbound-messages/queue/{message_id}")[0] == 409
    assert api.call("POST", f"/outbound-messages/queue/{message_id}/retry")[0] == 409
    assert api.call("DELETE", "/outbound-messages/queue/msg_nope")[0] == 404


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
    assert new == [{"To": "+14155550100", "From": "+15005550006", "Body": "Hola Ana, el caso C-1 está resuelto.",
                    "StatusCallback": f"{runtime.api_url}/webhooks/twilio/status?message_id={sent_id}&attempt=1"}]
    request = [r for r in runtime.twilio.requests if r.form().get("To") == "+14155550100"][-1]
    assert request.headers["authorization"].startswith("Basic ")
    assert request.path == f"/2010-04-01/Accounts/{runtime.twilio.account_sid}/Messages.json"
    assert sent["provider_message_id"].startswith("SM")


def test_scheduled_send_fires_from_its_scheduler_schedule(runtime: Any, api: Api) -> None:
    configuration_id = sms_configuration(api)
    status, schedule = api.call("POST", "/schedules", {"configuration_id": configuration_id, "delay_seconds": 1,
        "contacts": [{"tocontactid": "+14155550142", "CustomerName": "Cy", "CaseName": "C-3",
                      "contextitems": {"Status": "scheduled"}}]})
    assert status == 201, schedule
    wait_for(lambda: any(m["To"] == "+14155550142" for m in runtime.twilio.messages()), what="scheduled SMS")
    done = wait_for(lambda: (d := api.call("GET", f"/schedules/{schedule['id']}")[1])["state"] == "done" and d,
                    what="the one-time schedule to be done")
    assert done["runs"] == 1 and done["next_fire_times"] == []
    body = next(m for m in runtime.twilio.messages() if m["To"] == "+14155550142")["Body"]
    assert body == "Hi Cy, case C-3 is scheduled."


def test_cancelled_schedule_never_fires(runtime: Any, api: Api) -> None:
    configuration_id = sms_configuration(api)
    status, schedule = api.call("POST", "/schedules", {"configuration_id": configuration_id, "delay_seconds": 2,
        "contacts": [{"tocontactid": "+14155550143", "CustomerName": "D", "CaseName": "C", "contextitems": {"Status": "x"}}]})
    assert status == 201
    assert api.call("DELETE", f"/schedules/{schedule['id']}")[0] == 204
    assert api.call("GET", f"/schedules/{schedule['id']}")[0] == 404
    time.sleep(3)  # past its time, several scheduler ticks
    assert schedule["id"] not in {name for name, _ in runtime.scheduler.fired}
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


def test_a_900_kb_provider_error_is_stored_clipped_and_the_send_retried_once(runtime: Any, api: Api) -> None:
    """Stored whole, the error text would push the record past DynamoDB's 400 KB: the update would fail, and the
    message be redelivered until parked as poison. Clipped to MAX_OUTSIDE_TEXT, it is one failed attempt."""
    from chalicelib.core.texts import MAX_OUTSIDE_TEXT

    configuration_id = sms_configuration(api)
    huge = json.dumps({"code": 20500, "message": "overloaded " * 90_000, "status": 503}).encode()
    runtime.twilio.fail_next(1, 503, huge, {"Content-Type": "application/json"})
    before = len(runtime.twilio.requests)
    status, send = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": "+14155550151", "CustomerName": "E", "CaseName": "C", "contextitems": {"Status": "x"}}]})
    assert status == 202
    record = wait_state(api, send["message_ids"][0], "sent", timeout=30)
    assert record["attempts"] == 2 and len(runtime.twilio.requests) - before == 2
    assert record["last_error"].startswith("Twilio HTTP 503: overloaded") and len(record["last_error"]) <= (
        MAX_OUTSIDE_TEXT)
    assert all(len(h.get("detail") or "") <= MAX_OUTSIDE_TEXT for h in record["history"])


def test_permanent_provider_error_fails_at_once_into_the_dlq(runtime: Any, api: Api) -> None:
    from local.providers import twilio_error

    configuration_id = sms_configuration(api)
    refused = twilio_error(400, 21211, "The 'To' number +14155550151 is not a valid phone number.")
    runtime.twilio.fail_next(1, refused.status, refused.body, refused.headers)
    status, send = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": "+14155550151", "CustomerName": "F", "CaseName": "C", "contextitems": {"Status": "x"}}]})
    assert status == 202
    record = wait_state(api, send["message_ids"][0], "failed")
    assert record["attempts"] == 1 and record["error_code"] == "21211"
    listed = api.call("GET", f"/messages?state=failed&configuration_id={configuration_id}")[1]["messages"]
    assert [m["message_id"] for m in listed] == [record["message_id"]]


def test_delivery_to_a_listener_generated_from_our_wsdl(runtime: Any, api: Api, tmp_path: Any) -> None:
    """The partner's view: fetch the WSDL, generate a listener with zeep, receive a schema-valid message, Ack."""
    import zeep
    from lxml import etree

    from chalicelib.soap.envelope import OUTBOUND, SOAPENV
    from chalicelib.soap.wsdl import schema_of
    from local.providers import LoopbackServer, Recorded, Scripted
    from local.runtime import free_port

    class ZeepListener(LoopbackServer):
        def __init__(self, operation: Any, port: int) -> None:
            super().__init__(port)
            self.operation, self.received = operation, list[Any]()

        def answer(self, request: Recorded) -> Scripted:
            self.received.append(self.operation.input.deserialize(etree.fromstring(request.body)))
            reply = etree.tostring(self.operation.output.serialize(Ack=True).content)
            return Scripted(200, reply, {"Content-Type": "text/xml; charset=utf-8"})

    obj = unique_object()
    api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {"Subject": "string", "Amount": "double",
                                                               "ClosedAt": "dateTime", "IsEscalated": "boolean"}})
    port_number = free_port()  # the endpoint URL exists before the listener generated from the WSDL does
    endpoint = f"http://127.0.0.1:{port_number}/zeep"
    status, definition = api.call("POST", "/outbound-messages", {
        "object": obj, "name": "WSDL listener", "unique_name": "Wsdl_Listener", "endpoint_url": endpoint,
        "fields": ["Subject", "Amount", "ClosedAt", "IsEscalated"]})
    assert status == 201
    document = api.call("GET", f"/outbound-messages/{definition['id']}/wsdl")[1]
    (tmp_path / "partner.wsdl").write_bytes(document)
    client = zeep.Client(str(tmp_path / "partner.wsdl"))
    port = client.wsdl.services["NotificationService"].ports["Notification"]
    listener = ZeepListener(port.binding.get("notifications"), port_number).start()
    try:
        api.call("POST", "/rules", {"object": obj, "name": "r", "definition_ids": [definition["id"]]})
        api.call("PUT", f"/records/{obj}/case-7", {"fields": {
            "Subject": "Via zeep", "Amount": 99.5, "ClosedAt": "2026-11-24T10:00:00Z", "IsEscalated": True}})
        wait_for(lambda: listener.received, what="the zeep listener to receive the notification")
        request = listener.received[0]
        # ORG_ID "00Doutboundlocal01" is not a Salesforce id (wrong suffix): it seeds a valid derived one
        assert request.ActionId == definition["id"] and request.OrganizationId == ids.organization_id("00Doutboundlocal01")
        assert ids.salesforce_id_problem(request.OrganizationId) is None
        sobject = request.Notification[0].sObject
        assert (sobject.Id, sobject.Subject, sobject.Amount, sobject.IsEscalated) == ("case-7", "Via zeep", 99.5, True)
        body = etree.fromstring(listener.requests[0].body).find(f"{{{SOAPENV}}}Body/{{{OUTBOUND}}}notifications")
        schema = schema_of(document)
        assert schema.validate(body), schema.error_log
        listed = api.call("GET", f"/messages?state=delivered&definition_id={definition['id']}")[1]["messages"]
        assert len(listed) == 1
    finally:
        listener.stop()



def test_include_session_id_sends_an_identity_token_the_listener_can_verify(runtime: Any, api: Api) -> None:
    import json

    from chalicelib.soap import identity_token

    obj = unique_object()
    api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {"Subject": "string"}})
    status, definition = api.call("POST", "/outbound-messages", {
        "object": obj, "name": "With identity", "unique_name": "With_Identity", "endpoint_url": runtime.soap.url + "/id",
        "include_session_id": True, "user_to_send_as": "erp-sync", "fields": ["Subject"]})
    assert status == 201
    api.call("POST", "/rules", {"object": obj, "name": "r", "definition_ids": [definition["id"]]})
    api.call("PUT", f"/records/{obj}/r1", {"fields": {"Subject": "who sent this?"}})
    request = wait_for(lambda: next((r for r in runtime.soap.requests if r.path == "/id"), None), what="delivery")
    token = parse_notifications(request.body).session_id
    assert token is not None
    key = json.loads(runtime.client("ssm").get_parameter(Name="/outbound/local/session-token-key",
                                                         WithDecryption=True)["Parameter"]["Value"])["key"]
    claims = identity_token.verify(key.encode(), token, clock.now())
    assert (claims["act"], claims["sub"], claims["iss"]) == (definition["id"], "erp-sync", ids.organization_id("00Doutboundlocal01"))
    # The reference listener checks the token: the genuine message is acked, a forged one is refused.
    status, _ = api.call("POST", "/reference-listener", raw=request.body, content_type="text/xml")
    assert status == 200
    forged = request.body.replace(token.encode(), token.encode()[:-3] + b"xyz")
    status, answer = api.call("POST", "/reference-listener", raw=forged, content_type="text/xml")
    assert status == 403 and b"<Ack>false</Ack>" in answer
    # Without an identity token at all (a definition without include_session_id, or anyone else): refused.
    unsigned = request.body.replace(f"<SessionId>{token}</SessionId>".encode(),
                                    b'<SessionId xsi:nil="true"/>')
    assert unsigned != request.body
    status, answer = api.call("POST", "/reference-listener", raw=unsigned, content_type="text/xml")
    assert status == 403 and b"<Ack>false</Ack>" in answer
