"""Fault injection against the local runtime: the loopback Twilio fails in each way a provider can, or the queue
delivers twice; every accepted message must end in exactly one terminal state, none twice at the provider.

Each scenario adds a summary line to the test report (accepted / sent / failed / expired / duplicates / lost).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.models.messages import TERMINAL, QueueBody
from local.providers import twilio_error
from tests.conftest import FAULT_SUMMARY, Api, wait_for
from tests.e2e.test_pipeline import message, sms_configuration

PER_SCENARIO = 5


def _five_hundred(twilio: Any) -> None:
    twilio.fail_next(3, 503, b'{"code": 20500, "message": "Internal Server Error", "status": 503}')


def _rate_limited(twilio: Any) -> None:
    limited = twilio_error(429, 20429, "Too Many Requests")
    twilio.fail_next(3, 429, limited.body, {**limited.headers, "Retry-After": "1"})


def _hang(twilio: Any) -> None:
    twilio.fault_next(2, "hang", 3.0)  # past the 2 s HTTP timeout the tests run with


def _drop(twilio: Any) -> None:
    twilio.fault_next(3, "drop")


def _garbage(twilio: Any) -> None:
    twilio.fail_next(3, 200, b"<html>upstream proxy says hello</html>", {"Content-Type": "text/html"})


SCENARIOS: dict[str, Callable[[Any], None]] = {
    "provider 5xx": _five_hundred,
    "429 with Retry-After": _rate_limited,
    "provider hangs past the timeout": _hang,
    "connection dropped": _drop,
    "garbage answer": _garbage,
    "duplicated SQS deliveries": lambda twilio: None,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_message_ends_once_and_is_sent_once(runtime: Any, api: Api, scenario: str) -> None:
    prefix = f"+1415{uuid.uuid4().int % 800000 + 200000}"  # a fresh block of 10 valid US numbers
    numbers = [f"{prefix}{i}" for i in range(PER_SCENARIO)]
    SCENARIOS[scenario](runtime.twilio)
    status, send = api.call("POST", "/sends", {"configuration_id": sms_configuration(api), "contacts": [
        {"tocontactid": n, "CustomerName": "F", "CaseName": "C", "contextitems": {"Status": "x"}} for n in numbers]})
    assert status == 202, send
    ids = list(send["message_ids"])
    if scenario == "duplicated SQS deliveries":
        sqs = runtime.client("sqs")
        url = sqs.get_queue_url(QueueName="outbound-local-sms")["QueueUrl"]
        for _ in range(3):  # every queue message arrives three more times
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": QueueBody(message_id=mid, attempt=0).model_dump_json()}
                for i, mid in enumerate(ids)])

    def settled() -> list[dict[str, Any]] | None:
        records = [message(api, mid) for mid in ids]
        return records if all(r["state"] in TERMINAL or r["state"] == "sent" for r in records) else None

    records = wait_for(settled, timeout=60, what=f"{scenario}: every message settled")
    runtime.tick()  # a sweep, so a lost queue message would be re-sent now and show up as a duplicate below
    accepted = Counter(r.form().get("To") for r in runtime.twilio.requests
                       if r.answered == 201 and r.form().get("To") in numbers)
    states = Counter(r["state"] for r in records)
    duplicates = sum(count - 1 for count in accepted.values() if count > 1)
    lost = PER_SCENARIO - sum(states.values())
    FAULT_SUMMARY.append(
        f"{scenario:38} accepted={PER_SCENARIO} sent={states['sent']} failed={states['failed']} "
        f"expired={states['expired']} duplicates={duplicates} lost={lost} "
        f"attempts={sum(r['attempts'] for r in records)}"
    )
    assert states["sent"] == PER_SCENARIO and duplicates == 0 and lost == 0
    assert all(accepted[n] == 1 for n in numbers)
    assert all(json.dumps(r["history"]).count('"sent"') == 1 for r in records)


SOAP_FAULTS: dict[str, Callable[[Any], None]] = {
    "SOAP listener drops the connection": lambda soap: soap.fault_next(2, "drop"),
    "SOAP listener hangs past the timeout": lambda soap: soap.fault_next(1, "hang", 3.0),
    "SOAP listener answers a SOAP fault": lambda soap: soap.fail_next(
        2, 500, b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'><soapenv:Body>"
                b"<soapenv:Fault><faultcode>soapenv:Server</faultcode><faultstring>busy</faultstring>"
                b"</soapenv:Fault></soapenv:Body></soapenv:Envelope>", {"Content-Type": "text/xml"}),
}


@pytest.mark.parametrize("scenario", list(SOAP_FAULTS))
def test_soap_notifications_are_acked_once_despite_listener_faults(runtime: Any, api: Api, scenario: str) -> None:
    from chalicelib.soap_envelope import parse_notifications
    from tests.e2e.test_pipeline import soap_setup

    path = f"/faults/{uuid.uuid4().hex[:8]}"
    obj, definition_id = soap_setup(api, runtime.soap.url + path)
    SOAP_FAULTS[scenario](runtime.soap)
    for i in range(PER_SCENARIO):
        assert api.call("PUT", f"/records/{obj}/500FAULT{i:010d}", {"fields": {"Subject": f"s{i}"}})[0] == 200

    def delivered() -> list[dict[str, Any]] | None:
        found = api.call("GET", f"/messages?state=delivered&definition_id={definition_id}")[1]["messages"]
        notes = sum(len(m["payload"]["notification_ids"]) for m in found)
        return found if notes == PER_SCENARIO else None

    records = wait_for(delivered, timeout=60, what=f"{scenario}: every notification delivered")
    acked = Counter(
        n.id for r in runtime.soap.requests if r.path == path and r.answered == 200
        for n in parse_notifications(r.body).notifications
    )
    expected = {n for m in records for n in m["payload"]["notification_ids"]}
    duplicates = sum(count - 1 for count in acked.values() if count > 1)
    FAULT_SUMMARY.append(
        f"{scenario:38} accepted={PER_SCENARIO} delivered={len(expected)} failed=0 expired=0 "
        f"duplicates={duplicates} lost={PER_SCENARIO - len(expected)} attempts={sum(m['attempts'] for m in records)}"
    )
    assert set(acked) == expected and duplicates == 0
