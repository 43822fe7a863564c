"""The README walkthrough against the deployed stack, through API Gateway: each step a function that raises
AssertionError (with what it saw) when the stack does not do what the README says."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rehearse.gateway import Api


class StepFailed(AssertionError):
    pass


def check(condition: Any, message: str) -> None:
    if not condition:
        raise StepFailed(message)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 120.0, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise StepFailed(f"timed out after {timeout:.0f} s waiting for {what}")


def expect(answer: tuple[int, Any], status: int, what: str) -> Any:
    code, body = answer
    check(code == status, f"{what}: expected HTTP {status}, got {code}: {str(body)[:400]}")
    return body


@dataclass
class World:
    """What the steps share: the API with the right key, the loopback providers, the AWS clients (as root)."""

    api: Api
    twilio: Any
    telesign: Any
    x: Any
    soap: Any
    aws: Callable[[str], Any]
    stage: str
    eum: Any = None
    webhooks: Any = None
    notes: dict[str, Any] = field(default_factory=dict)

    def message(self, message_id: str) -> dict[str, Any]:
        return dict(expect(self.api.call("GET", f"/messages/{message_id}"), 200, f"GET /messages/{message_id}"))

    def wait_state(self, message_id: str, states: set[str], timeout: float = 120.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            record = self.message(message_id)
            return record if record["state"] in states else None

        return dict(wait_for(reached, f"message {message_id} to reach {sorted(states)}", timeout))


def management_auth(world: World) -> str:
    api = world.api
    missing = api.with_key(None).call("GET", "/messages?state=failed")
    check(missing[0] == 401, f"no Authorization header: expected 401, got {missing}")
    wrong = api.with_key("not-the-key").call("GET", "/messages?state=failed")
    check(wrong[0] == 403, f"a wrong key: expected 403, got {wrong}")
    expect(api.call("GET", "/messages?state=failed"), 200, "the documented bearer key")
    expect(api.with_key(None).call("GET", "/health"), 200, "/health without a key")
    return "no key 401, wrong key 403, Bearer key 200"


def soap_record_change(world: World) -> str:
    api = world.api
    expect(api.call("PUT", "/objects/Case", {"name": "Case", "fields": {
        "Subject": "string", "Status": "string", "Priority": "int", "ContactId": "string"}}), 200, "PUT /objects/Case")
    definition = expect(api.call("POST", "/outbound-messages", {
        "object": "Case", "name": "Case to ERP", "unique_name": "Case_to_ERP",
        "endpoint_url": world.soap.url + "/erp", "fields": ["Subject", "Status", "Priority"]}), 201,
        "POST /outbound-messages")
    world.notes["definition_id"] = definition["id"]
    expect(api.call("POST", "/rules", {"object": "Case", "name": "New cases", "evaluation": "created",
                                      "definition_ids": [definition["id"]]}), 201, "POST /rules")
    expect(api.call("PUT", "/records/Case/500xx000000bpnRAAQ", {"fields": {
        "Subject": "Printer on fire", "Status": "New", "Priority": 1}}), 200, "PUT /records/Case/...")
    wait_for(lambda: any(b"500xx000000bpnRAAQ" in r.body for r in world.soap.requests), "the SOAP notification")
    records = wait_for(
        lambda: expect(api.call("GET", f"/messages?state=delivered&definition_id={definition['id']}"), 200,
                       "GET /messages")["messages"], "the delivered message record")
    wsdl = api.call("GET", f"/outbound-messages/{definition['id']}/wsdl")
    check(wsdl[0] == 200 and "definitions" in str(wsdl[1]), f"WSDL: {str(wsdl)[:200]}")
    return f"notification acked by the listener, message {records[0]['message_id']} delivered"


def json_record_change(world: World) -> str:
    """A JSON definition on the deployed stack: its secret written to SSM by the function's own role, the
    delivery verified by the `standardwebhooks` library, then a rotation signing with both secrets."""
    from standardwebhooks import Webhook

    api = world.api
    expect(api.call("PUT", "/objects/Invoice", {"fields": {"Total": "double", "Paid": "boolean"}}), 200,
           "PUT /objects/Invoice")
    definition = expect(api.call("POST", "/outbound-messages", {
        "object": "Invoice", "name": "Invoices to billing", "unique_name": "Invoices_to_billing", "format": "json",
        "endpoint_url": world.webhooks.url + "/billing", "fields": ["Total", "Paid"]}), 201, "POST /outbound-messages")
    secret = definition["signing_secret"]
    expect(api.call("POST", "/rules", {"object": "Invoice", "name": "All invoices", "evaluation":
                                      "created_and_every_edit", "definition_ids": [definition["id"]]}), 201, "rule")

    def delivered(count: int) -> Any:
        return wait_for(lambda: (found := [r for r in world.webhooks.deliveries() if r.path == "/billing"])
                        and len(found) >= count and found, f"{count} JSON notification(s)")

    expect(api.call("PUT", "/records/Invoice/inv-1", {"fields": {"Total": 99.5, "Paid": False}}), 200, "PUT record")
    first = delivered(1)[0]
    payload = Webhook(secret).verify(first.body, first.headers)
    check(payload["data"]["notifications"][0]["record"] == {"Id": "inv-1", "Total": 99.5, "Paid": False},
          f"payload: {payload}")
    world.wait_state(first.headers["webhook-id"], {"delivered"})
    expect(api.call("GET", f"/outbound-messages/{definition['id']}/schema"), 200, "GET .../schema")
    rotated = expect(api.call("POST", f"/outbound-messages/{definition['id']}/rotate-secret", {"overlap_hours": 1}),
                     200, "POST .../rotate-secret")
    expect(api.call("PUT", "/records/Invoice/inv-1", {"fields": {"Total": 99.5, "Paid": True}}), 200, "PUT record")
    second = delivered(2)[1]
    # The sender's cache may still hold the old secret alone until signs_from; the old one verifies throughout.
    Webhook(secret).verify(second.body, second.headers)
    signs_from = datetime.fromisoformat(rotated["signs_from"])
    check(signs_from <= datetime.now(UTC) + timedelta(seconds=61), f"signs_from {signs_from} is too late")
    return (f"verified by standardwebhooks; rotated (secret in SSM by the function's role), the old one verifies "
            f"during the overlap ({payload['type']}, then updated)")


def _sms_setup(world: World) -> str:
    if "configuration_id" in world.notes:
        return str(world.notes["configuration_id"])
    api = world.api
    template = expect(api.call("POST", "/templates", {
        "name": "Case update", "channel_type": "sms", "default_locale": "en-US",
        "bodies": {"en-US": "Hi {{ CustomerName }}, case {{ CaseName }} is open.",
                   "fr-FR": "Bonjour {{ CustomerName }}, le dossier {{ CaseName }} est ouvert."}}), 201,
        "POST /templates")
    configuration = expect(api.call("POST", "/outbound-configurations", {
        "name": "Support SMS", "channel_type": "sms", "channel": "+15005550006", "template_id": template["id"]}), 201,
        "POST /outbound-configurations")
    world.notes["configuration_id"] = configuration["id"]
    return str(configuration["id"])


def whatsapp_fallback(world: World) -> str:
    """A WhatsApp message that cannot go (outside the 24-hour window, no content template) becomes an SMS: the
    death's check travels on the WhatsApp queue of the deployed stack, and the SMS sender sends the next step."""
    api = world.api
    sms_configuration = _sms_setup(world)
    template = expect(api.call("POST", "/templates", {
        "name": "Case update (WhatsApp)", "channel_type": "whatsapp", "default_locale": "en-US",
        "bodies": {"en-US": "Hi {{ CustomerName }}, case {{ CaseName }} is open."}}), 201, "POST /templates")
    configuration = expect(api.call("POST", "/outbound-configurations", {
        "name": "Support WhatsApp", "channel_type": "whatsapp", "channel": "+15005550006",
        "template_id": template["id"], "fallback": [{"configuration_id": sms_configuration, "after_seconds": 300}]}),
        201, "POST /outbound-configurations")
    number = "+14155550177"
    sent = expect(api.call("POST", "/sends", {"configuration_id": configuration["id"], "contacts": [
        {"tocontactid": number, "CustomerName": "Fay", "CaseName": "C-77"}]}), 202, "POST /sends")
    first = sent["message_ids"][0]
    world.wait_state(first, {"failed"})
    sms = wait_for(lambda: [m for m in world.twilio.messages() if m.get("To") == number], "the fallback SMS")
    chain = wait_for(lambda: (c := world.message(first)["fallback_chain"]) and len(c) == 2 and c, "the chain")
    check(len(sms) == 1 and sms[0]["Body"] == "Hi Fay, case C-77 is open.", f"SMS: {sms}")
    return (f"{first} failed ({world.message(first)['error_code']}); one SMS {chain[1]['message_id']} "
            f"went instead, same logical message")


def instant_sms(world: World) -> str:
    configuration_id = _sms_setup(world)
    sent = expect(world.api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": "+14155550100", "locale": "fr-FR", "CustomerName": "Ana", "CaseName": "C-1"},
        {"tocontactid": "+14155550101", "optin": False, "CustomerName": "Bo", "CaseName": "C-2"}]}), 202,
        "POST /sends")
    first, second = (m["message_id"] for m in sent["messages"])
    record = world.wait_state(first, {"delivered"})
    check(world.message(second)["state"] == "opted_out", "the opted-out contact was not recorded opted_out")
    callbacks = [c for c in world.twilio.callbacks if f"message_id={first}" in c[0]]
    check(callbacks and all(status == 200 for _, _, status in callbacks),
          f"Twilio's status callbacks were not all accepted: {callbacks}")
    check(".lambda-url." in callbacks[0][0], f"callback URL is not the stack's function URL: {callbacks[0][0]}")
    return f"Twilio got the SMS, its signed callbacks reached the function URL ({record['state']})"


def scheduled_send(world: World) -> str:
    configuration_id = _sms_setup(world)
    schedule = expect(world.api.call("POST", "/schedules", {
        "configuration_id": configuration_id, "delay_seconds": 5, "timezone": "Europe/Paris",
        "contacts": [{"tocontactid": "+14155550102", "CustomerName": "Cy", "CaseName": "C-3"}]}), 201,
        "POST /schedules")
    remote = world.aws("scheduler").get_schedule(Name=schedule["id"], GroupName=f"outbound-{world.stage}")
    check(remote["ScheduleExpression"] == schedule["expression"] and remote["Target"]["Arn"].endswith(
        "scheduled_send"), f"the Scheduler schedule is not the API's: {remote}")
    wait_for(lambda: any(m.get("To") == "+14155550102" for m in world.twilio.messages()),
             "the scheduled SMS (EventBridge Scheduler invokes the scheduled-send function)", timeout=90)
    done = wait_for(lambda: (d := expect(world.api.call("GET", f"/schedules/{schedule['id']}"), 200,
                                         "GET /schedules/{id}"))["state"] == "done" and d, "the schedule to be done")
    return f"{schedule['expression']} Europe/Paris fired by EventBridge Scheduler at {done['last_scheduled_time']}"


def operator_schedule(world: World) -> str:
    """The README's `aws scheduler create-schedule` block, as written, with an at() a minute ahead."""
    from datetime import UTC, datetime, timedelta

    from rehearse import deploy

    configuration_id = _sms_setup(world)
    at = (datetime.now(UTC) + timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%S")
    name = f"operator-{uuid.uuid4().hex[:8]}"
    deploy.run({**world.notes["environment"], "CONFIGURATION_ID": configuration_id, "SCHEDULE_NAME": name,
                "CONTACTS": '[{"tocontactid": "+14155550109", "CustomerName": "Op", "CaseName": "C-9"}]',
                "SCHEDULE_EXPRESSION": f"at({at})", "SCHEDULE_TIMEZONE": "UTC"},
               world.notes["work"] / "operator-schedule.log", deploy.OPERATOR_SCHEDULE,
               deploy.ROOT / "docs" / "customer-messages.md")
    sms = wait_for(lambda: [m for m in world.twilio.messages() if m.get("To") == "+14155550109"],
                   "the operator schedule's SMS", timeout=90)
    check(sms[0]["Body"] == "Hi Op, case C-9 is open.", f"unexpected body: {sms[0]}")
    return f"the README's aws scheduler create-schedule (at({at}) UTC) sent '{sms[0]['Body']}'"


def failed_firing(world: World) -> str:
    """A firing that raises (here the function's table is made unreachable for the duration) is retried by
    Lambda and then parked on the schedule DLQ, as the README says, not dropped; the schedule records it."""
    import json

    configuration_id = _sms_setup(world)
    functions = world.aws("lambda")
    name = f"outbound-{world.stage}-scheduled_send"
    variables = dict(functions.get_function_configuration(FunctionName=name)["Environment"]["Variables"])
    broken = {**variables, "MESSAGES_TABLE": f"outbound-{world.stage}-unreachable"}
    functions.update_function_configuration(FunctionName=name, Environment={"Variables": broken})
    sqs = world.aws("sqs")
    dlq = sqs.get_queue_url(QueueName=f"outbound-{world.stage}-schedule-dlq")["QueueUrl"]
    try:
        schedule = expect(world.api.call("POST", "/schedules", {
            "configuration_id": configuration_id, "delay_seconds": 5, "timezone": "UTC",
            "contacts": [{"tocontactid": "+14155550140", "CustomerName": "Fay", "CaseName": "C-40"}]}), 201,
            "POST /schedules")

        def parked() -> dict[str, Any] | None:
            for entry in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                    "Messages", []):
                body = json.loads(entry["Body"])
                if (body.get("requestPayload") or {}).get("schedule_id") == schedule["id"]:
                    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=entry["ReceiptHandle"])
                    return dict(body)
            return None

        body = wait_for(parked, "the failed firing on the schedule DLQ", timeout=120)
    finally:
        functions.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
    check(body["requestContext"]["condition"] == "RetriesExhausted", f"unexpected DLQ entry {body}")
    check(not any(m.get("To") == "+14155550140" for m in world.twilio.messages()), "the failed firing sent an SMS")
    recorded = expect(world.api.call("GET", f"/schedules/{schedule['id']}"), 200, "GET /schedules/{id}")
    check(recorded.get("failures", 0) >= 1 and recorded.get("last_error"), f"the schedule kept no failure: {recorded}")
    return (f"{schedule['id']}: raised, retried by Lambda, parked on outbound-{world.stage}-schedule-dlq "
            f"({recorded['failures']} failures recorded)")


def automated_send(world: World) -> str:
    api = world.api
    configuration_id = _sms_setup(world)
    expect(api.call("PUT", "/objects/Contact", {"name": "Contact", "fields": {
        "MobilePhone": "string", "FullName": "string", "Locale": "string", "OptIn": "boolean"}}), 200,
        "PUT /objects/Contact")
    expect(api.call("PUT", "/records/Contact/003xx000004TmiQ", {"fields": {
        "MobilePhone": "+1 415 555 0103", "FullName": "Dee", "Locale": "fr-FR", "OptIn": True}}), 200,
        "PUT /records/Contact/...")
    expect(api.call("POST", "/rules", {"object": "Case", "name": "Case created SMS", "evaluation": "created",
                                      "configuration_ids": [configuration_id], "recipients": {
                                          "via": ["ContactId"], "contact_object": "Contact",
                                          "case_name_field": "Subject"}}), 201, "POST /rules (automated)")
    expect(api.call("PUT", "/records/Case/500xx000000bpnSAAQ", {"fields": {
        "Subject": "Broken screen", "Status": "New", "Priority": 2, "ContactId": "003xx000004TmiQ"}}), 200,
        "PUT /records/Case/... (with a contact)")
    found = wait_for(lambda: [m for m in world.twilio.messages() if m.get("To") == "+14155550103"],
                     "the automated SMS to the related contact")
    body = found[0].get("Body", "")
    check("Dee" in body and "Broken screen" in body, f"unexpected body {body!r}")
    return f"the related contact got {body!r}"


def bus_event(world: World) -> str:
    """The README's `aws events put-events` example on the emulated default bus: the stack's rule queues it,
    on_record_event writes the Case (the record API's checks), and the walkthrough's SOAP definition sends it."""
    import json

    api = world.api
    expect(api.call("PUT", "/objects/Case", {"name": "Case", "fields": {
        "Subject": "string", "Status": "string", "Priority": "int", "ContactId": "string"}, "events": {
        "source": "com.acme.support", "detail_type": "CaseChanged", "id_pointer": "/Id"}}), 200,
        "PUT /objects/Case (with events)")
    answer = world.aws("events").put_events(Entries=[{
        "Source": "com.acme.support", "DetailType": "CaseChanged",
        "Detail": json.dumps({"Id": "500xx000000bpnTAAQ", "Subject": "Lost badge", "Status": "New", "Priority": 3})}])
    check(answer.get("FailedEntryCount") == 0, f"PutEvents: {answer}")
    wait_for(lambda: any(b"500xx000000bpnTAAQ" in r.body and b"Lost badge" in r.body for r in world.soap.requests),
             "the SOAP notification of the event's Case")
    record = expect(api.call("GET", "/records/Case/500xx000000bpnTAAQ"), 200, "GET the event's record")
    check(record["fields"].get("Subject") == "Lost badge", f"record: {record}")
    return "PutEvents on the default bus -> rule -> queue -> Case written -> SOAP notification acked"


def team_table(world: World) -> str:
    """A table of the team's own (created before the deploy, its stream ARN passed as SourceTableStreamArn):
    an item written straight to it fires the automated SMS, read through the stream by the stack's role."""
    api = world.api
    configuration_id = _sms_setup(world)
    table = world.notes["source_table"]
    expect(api.call("PUT", "/objects/Contact", {"name": "Contact", "fields": {
        "MobilePhone": "string", "FullName": "string", "Locale": "string", "OptIn": "boolean"}}), 200,
        "PUT /objects/Contact")
    expect(api.call("PUT", "/records/Contact/003xx000004TmiT", {"fields": {
        "MobilePhone": "+1 415 555 0107", "FullName": "Gus", "OptIn": True}}), 200, "PUT /records/Contact/...")
    expect(api.call("PUT", "/objects/Shipment", {"fields": {"Status": "string", "ContactId": "string"},
                                                 "table": {"name": table, "id_attributes": ["shipmentId"]}}), 200,
           "PUT /objects/Shipment (fed by the team's table)")
    expect(api.call("POST", "/rules", {"object": "Shipment", "name": "Shipment SMS", "evaluation": "created",
                                      "configuration_ids": [configuration_id], "recipients": {
                                          "via": ["ContactId"], "contact_object": "Contact",
                                          "case_name_field": "Status"}}), 201, "POST /rules (Shipment)")
    world.aws("dynamodb").put_item(TableName=table, Item={
        "shipmentId": {"S": "SH-1"}, "Status": {"S": "Shipped"}, "ContactId": {"S": "003xx000004TmiT"}})
    found = wait_for(lambda: [m for m in world.twilio.messages() if m.get("To") == "+14155550107"],
                     "the automated SMS of the table's item")
    return f"an item put on {table} -> stream -> rule -> SMS {found[0].get('Body', '')!r}"


def x_dm(world: World) -> str:
    api = world.api
    template = expect(api.call("POST", "/templates", {"name": "DM", "channel_type": "twitter", "bodies": {
        "en-US": "Hi {{ CustomerName }}, case {{ CaseName }} is open."}}), 201, "POST /templates (twitter)")
    configuration = expect(api.call("POST", "/outbound-configurations", {
        "name": "Support DMs", "channel_type": "twitter", "channel": world.notes["x_account"],
        "template_id": template["id"]}), 201, "POST /outbound-configurations (twitter)")
    sent = expect(api.call("POST", "/sends", {"configuration_id": configuration["id"], "contacts": [
        {"tocontactid": "@ana_example", "CustomerName": "Ana", "CaseName": "C-1"}]}), 202, "POST /sends (X)")
    world.wait_state(sent["messages"][0]["message_id"], {"sent", "delivered"})
    dms = world.x.messages()
    check(any(participant == "1600000000000000001" for _, participant, _ in dms), f"X received {dms}")
    return "looked @ana_example up, sent the DM with the account's user token"


def end_user_messaging(world: World) -> str:
    """An SMS through AWS End User Messaging (boto3's client in the deployed function, to the loopback service),
    its delivery event on the emulator's EventBridge, matched by the packaged rule, applied by on_sms_event."""
    api = world.api
    template = expect(api.call("POST", "/templates", {"name": "EUM", "channel_type": "sms", "bodies": {
        "en-US": "Hi {{ CustomerName }}, case {{ CaseName }} is open."}}), 201, "POST /templates (eum)")
    configuration = expect(api.call("POST", "/outbound-configurations", {
        "name": "EUM SMS", "channel_type": "sms", "channel": "+15005550012", "provider": "eum",
        "template_id": template["id"]}), 201, "POST /outbound-configurations (eum)")
    sent = expect(api.call("POST", "/sends", {"configuration_id": configuration["id"], "contacts": [
        {"tocontactid": "+14155550190", "CustomerName": "Eve", "CaseName": "C-3"}]}), 202, "POST /sends (eum)")
    message_id = sent["messages"][0]["message_id"]
    record = world.wait_state(message_id, {"delivered"})
    check(any(body.get("Context", {}).get("message_id") == message_id for body in world.eum.sent()),
          "End User Messaging never received the message")
    return f"{message_id}: SendTextMessage reached the service, its TEXT_DELIVERED event moved it to " \
           f"{record['state']}"


def _failed_sms(world: World, number: str) -> str:
    from local.providers import twilio_error

    configuration_id = _sms_setup(world)
    refusal = twilio_error(400, 21614, f"'To' number {number} is not a valid mobile number")
    world.twilio.fail_next(1, refusal.status, refusal.body, refusal.headers)
    sent = expect(world.api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": number, "CustomerName": "Eve", "CaseName": "C-4"}]}), 202, "POST /sends")
    message_id = str(sent["messages"][0]["message_id"])
    record = world.wait_state(message_id, {"failed"})
    check(record.get("error_code") == "21614", f"expected Twilio's code 21614, got {record.get('error_code')}")
    return message_id


def operator_retry(world: World) -> str:
    message_id = _failed_sms(world, "+14155550104")
    expect(world.api.call("POST", f"/messages/{message_id}/retry"), 202, "POST /messages/{id}/retry")
    world.wait_state(message_id, {"delivered"})
    return f"{message_id}: failed (21614), retried by the operator, delivered"


def dlq_redrive(world: World) -> str:
    message_id = _failed_sms(world, "+14155550105")

    def redriven() -> bool:
        answer = expect(world.api.call("POST", "/dlq/sms/redrive", {"limit": 100}), 200, "POST /dlq/sms/redrive")
        return message_id in str(answer)

    wait_for(redriven, "the redrive to retry the dead message", timeout=60, interval=3)
    world.wait_state(message_id, {"delivered"})
    return f"{message_id}: on the sms DLQ, redriven, delivered"


def poison_record(world: World) -> str:
    """A record no XML can carry (written around the API, which refuses it) between 99 good ones, in one
    BatchWriteItem burst: the 99 are delivered, the bad one is a listed failure, no stream failure pointer."""
    api = world.api
    rejected = api.call("PUT", "/records/Case/500xx0000000BAD", {"fields": {"Subject": "bell \u0007"}})
    check(rejected[0] == 400 and "fields.Subject" in str(rejected[1]), f"the record API accepted it: {rejected}")
    dynamodb = world.aws("dynamodb")
    table = f"outbound-{world.stage}-records"
    batch = uuid.uuid4().hex[:6]
    ids = [f"500xx{batch}{i:04d}" for i in range(100)]
    bad = ids[37]
    # A binary attribute (another writer's), in Lambda's event as base64 text: parsed, sent, the shard not stalled.
    binary = ids[60]
    items = [{"object_type": {"S": "Case"}, "id": {"S": rid}, "Status": {"S": "New"},
              "Subject": {"B": b"\x89PNG"} if rid == binary else {"S": "bell \u0007" if rid == bad else f"ok {rid}"}}
             for rid in ids]
    for start in range(0, len(items), 25):
        dynamodb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}} for i in items[start:start + 25]]})
    good = set(ids) - {bad}

    def delivered() -> bool:
        seen = b"".join(r.body for r in world.soap.requests)
        return all(rid.encode() in seen for rid in good)

    wait_for(delivered, "the 99 good records' notifications", timeout=180)
    failed_view = f"/outbound-messages/queue?view=failed&definition_id={world.notes['definition_id']}"
    queue = expect(api.call("GET", failed_view), 200, "GET /outbound-messages/queue?view=failed")
    listed = [e for e in queue["entries"] if bad in e["record_ids"]]
    check(listed and listed[0]["error_code"] == "unbuildable", f"the bad record is not listed: {queue}")
    check(not any(bad.encode() in r.body for r in world.soap.requests), "the bad record reached the listener")
    sqs = world.aws("sqs")
    url = sqs.get_queue_url(QueueName=f"outbound-{world.stage}-stream-failures")["QueueUrl"]
    depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    check(depth["ApproximateNumberOfMessages"] == "0", f"stream-failures queue holds {depth}")
    check(b"iVBORw==" in b"".join(r.body for r in world.soap.requests), "the binary Subject was not sent as base64")
    return f"99 delivered (one with a binary attribute), {bad} listed failed ({listed[0]['last_error'][:60]}...)"


def refused_at_the_door(world: World) -> str:
    """Hostile or broken input gets a 4xx naming the field from the deployed API, quickly, in the API's shape."""
    api = world.api
    started = time.monotonic()
    code, body = api.call("POST", "/templates", {"name": "t", "channel_type": "sms",
                                                "bodies": {"en-US": "{{ 9**(9**8) }}"}})
    check(code == 400 and body["fields"][0]["field"] == "bodies.en-US", f"hostile template: {code} {body}")
    check(time.monotonic() - started < 30, "the hostile template held the API")
    code, body = api.call("POST", "/outbound-messages", {"object": "Case", "name": "n", "unique_name": "Bad_port",
                                                        "endpoint_url": "https://partner.example:99999/x"})
    check(code == 400 and body["fields"][0]["field"] == "endpoint_url", f"bad port: {code} {body}")
    # (private addresses are allowed on this stack, AllowInsecureEndpoints=true: the tests cover that rule)
    code, body = api.call("POST", "/outbound-messages", {"object": "Case", "name": "n", "unique_name": "Creds",
                                                        "endpoint_url": "https://user:secret@partner.example/x"})
    check(code == 400 and body["fields"][0]["field"] == "endpoint_url", f"credentials in the URL: {code} {body}")
    return "hostile template, port 99999, user:password@ in the URL: 400 naming the field"


def managed_templates(world: World) -> str:
    """Management through API Gateway: list, replace with If-Match, refuse a stale write and the
    delete of a template still in use."""
    api = world.api
    body = {"name": "Managed", "channel_type": "sms", "bodies": {"en-US": "Hi {{ CustomerName }}"}}
    template_id = expect(api.call("POST", "/templates", body), 201, "POST /templates")["id"]
    listed = expect(api.call("GET", "/templates?channel_type=sms&name=Managed"), 200, "GET /templates")
    check(template_id in [t["id"] for t in listed["templates"]], f"GET /templates did not list {template_id}")
    configuration_id = expect(api.call("POST", "/outbound-configurations", {
        "name": "Managed", "channel_type": "sms", "channel": "+15005550006", "template_id": template_id}), 201,
        "POST /outbound-configurations")["id"]
    changed = {**body, "bodies": {"en-US": "Hello {{ CustomerName }}"}}
    updated = expect(api.call("PUT", f"/templates/{template_id}", changed, headers={"If-Match": '"1"'}), 200,
                     "PUT /templates/{id} with If-Match")
    check(updated["version"] == 2, f"the replaced template is not version 2: {updated}")
    expect(api.call("PUT", f"/templates/{template_id}", body, headers={"If-Match": '"1"'}), 412, "a stale PUT")
    expect(api.call("DELETE", f"/templates/{template_id}"), 409, "DELETE of a template a configuration uses")
    expect(api.call("DELETE", f"/outbound-configurations/{configuration_id}"), 204, "DELETE configuration")
    expect(api.call("DELETE", f"/templates/{template_id}", headers={"If-Match": '"2"'}), 204, "DELETE template")
    return "listed, replaced with If-Match (a stale one 412), kept while used (409), then deleted"


def console_page(world: World) -> str:
    """The operator console through API Gateway: the page loads without a key, its calls need one."""
    status, page = world.api.with_key(None).call("GET", "/console")
    check(status == 200 and isinstance(page, str) and "<title>Outbound console</title>" in page,
          f"GET /console: HTTP {status}: {str(page)[:200]}")
    expect(world.api.with_key(None).call("GET", "/message-health"), 401, "GET /message-health without a key")
    health = expect(world.api.call("GET", "/message-health?hours=1"), 200, "GET /message-health")
    return f"page served; its health call answered for {health['total']} message(s) in the last hour"


def dashboard(world: World) -> str:
    """The stack's CloudWatch dashboard exists, parses, and names the stage's own queues and alarms."""
    import json

    body = json.loads(world.aws("cloudwatch").get_dashboard(DashboardName=f"outbound-{world.stage}")["DashboardBody"])
    alarms = [a for w in body["widgets"] for a in w["properties"].get("alarms", [])]
    known = {a["AlarmArn"] for page in world.aws("cloudwatch").get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=f"outbound-{world.stage}-") for a in page["MetricAlarms"]}
    check(alarms and set(alarms) <= known, f"the dashboard's alarms are not the stack's: {set(alarms) - known}")
    text = json.dumps(body)
    check(f"outbound-{world.stage}-sms" in text, "the dashboard does not draw the SMS queue")
    return f"{len(body['widgets'])} widgets, {len(alarms)} alarms, all of them the stack's"


def stop_keyword(world: World) -> str:
    """A person texts STOP: Twilio's signed inbound webhook reaches the stack's function URL, the consent list
    records it, and the next send to that number ends opted_out without any provider request."""
    configuration_id = _sms_setup(world)
    urls = [url for url, _, _ in world.twilio.callbacks if ".lambda-url." in url]
    check(urls, "no status callback reached the function URL yet (the instant SMS step runs first)")
    inbound = urls[0].split("/webhooks/")[0] + "/webhooks/twilio/inbound"
    number = "+14155550198"
    status, body = world.twilio.send_inbound(inbound, number, "+15005550006", " Stop ")
    check(status == 200, f"the inbound webhook answered {status}: {body[:200]!r}")
    listed = expect(world.api.call("GET", "/consent?address=%2B14155550198"), 200, "GET /consent")
    check(listed["items"][0]["opted_out"], f"no opt-out recorded: {listed}")
    before = len([m for m in world.twilio.messages() if m.get("To") == number])
    sent = expect(world.api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": number, "CustomerName": "Sam", "CaseName": "C-98"}]}), 202, "POST /sends (after STOP)")
    record = world.wait_state(sent["message_ids"][0], {"opted_out"})
    after = len([m for m in world.twilio.messages() if m.get("To") == number])
    check(record["error_code"] == "consent" and after == before == 0,
          f"{record['state']} {record.get('error_code')}; {after - before} provider request(s)")
    return f"STOP through the function URL recorded ({listed['items'][0]['entries'][0]['id']}); the next send " \
           f"ended opted_out with no provider request"


def eum_inbound(world: World) -> str:
    """A person texts STOP to an End User Messaging number: the service's documented payload, published to the
    stack's topic, reaches on_inbound_sms through the subscribed queue and lands in the consent list."""
    import json

    from local.providers import two_way_sms

    sns = world.aws("sns")
    topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"]
                 if t["TopicArn"].endswith(f":outbound-{world.stage}-inbound-sms"))
    number = "+14155550197"
    payload = two_way_sms(number, "+15005550012", "STOP")
    sns.publish(TopicArn=topic, Message=json.dumps(payload))
    item = wait_for(lambda: (r := world.api.call("GET", "/consent?address=%2B14155550197"))[0] == 200 and
                    r[1]["items"][0], "the opt-out texted to the End User Messaging number")
    (entry,) = item["entries"]
    check(entry["evidence"]["source"] == "eum" and entry["evidence"]["provider_message_id"] ==
          payload["inboundMessageId"], f"entry: {entry}")
    return f"SNS -> queue -> on_inbound_sms: {entry['id']} ({entry['scope']}, from End User Messaging)"


STEPS: list[tuple[str, Callable[[World], str]]] = [
    ("management auth", management_auth),
    ("record change -> SOAP delivery with Ack", soap_record_change),
    ("record change -> JSON delivery (Standard Webhooks)", json_record_change),
    ("instant SMS + Twilio status callback", instant_sms),
    ("WhatsApp -> SMS fallback", whatsapp_fallback),
    ("scheduled send (API schedule)", scheduled_send),
    ("operator's own Scheduler schedule", operator_schedule),
    ("failed firing parked on the schedule DLQ", failed_firing),
    ("automated send to a related contact", automated_send),
    ("EventBridge event -> SOAP delivery", bus_event),
    ("team's table change -> automated SMS", team_table),
    ("X DM", x_dm),
    ("End User Messaging SMS + delivery event", end_user_messaging),
    ("STOP through the function URL -> no provider request", stop_keyword),
    ("STOP to an End User Messaging number (SNS two-way)", eum_inbound),
    ("operator retry", operator_retry),
    ("DLQ redrive", dlq_redrive),
    ("poison record among 99 good ones", poison_record),
    ("bad input refused at the door", refused_at_the_door),
    ("templates managed (list, If-Match, delete)", managed_templates),
    ("console page and message health", console_page),
    ("CloudWatch dashboard", dashboard),
]
