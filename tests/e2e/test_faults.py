"""Fault injection against the local runtime: the loopback Twilio fails in each way a provider can, or the queue
delivers twice; every accepted message must end in exactly one terminal state, none twice at the provider.

Each scenario adds a summary line to the test report (accepted / sent / failed / expired / duplicates / lost).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib.models.messages import TERMINAL, QueueBody
from local.providers import twilio_error
from tests.conftest import FAULT_SUMMARY, Api, wait_for
from tests.e2e.test_pipeline import message, sms_configuration

PER_SCENARIO = 5
SMS_QUEUE = "outbound-local-sms"
ROOT = Path(__file__).resolve().parents[2]


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


def fresh_numbers(count: int = PER_SCENARIO) -> list[str]:
    prefix = f"+1415{uuid.uuid4().int % 800000 + 200000}"  # a fresh block of 10 valid US numbers
    return [f"{prefix}{i}" for i in range(count)]


def send_body(configuration_id: str, numbers: list[str]) -> dict[str, Any]:
    return {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": n, "CustomerName": "F", "CaseName": "C", "contextitems": {"Status": "x"}} for n in numbers]}


def to_numbers(runtime: Any, numbers: list[str]) -> list[Any]:
    """The loopback Twilio's requests for these numbers, in arrival order."""
    return [r for r in list(runtime.twilio.requests) if r.form().get("To") in numbers]


def assert_sent_once(runtime: Any, api: Api, scenario: str, ids: list[str], numbers: list[str],
                     timeout: float = 60) -> list[dict[str, Any]]:
    """Every message ends `sent`, every number got exactly one accepted request; adds the summary line."""
    def settled() -> list[dict[str, Any]] | None:
        records = [message(api, mid) for mid in ids]
        return records if all(r["state"] in TERMINAL or r["state"] == "sent" for r in records) else None

    records = wait_for(settled, timeout=timeout, what=f"{scenario}: every message settled")
    runtime.tick()  # a sweep, so a lost queue message would be re-sent now and show up as a duplicate below
    accepted = Counter(r.form().get("To") for r in to_numbers(runtime, numbers) if r.answered == 201)
    states = Counter(r["state"] for r in records)
    duplicates = sum(count - 1 for count in accepted.values() if count > 1)
    lost = len(numbers) - sum(states.values())
    FAULT_SUMMARY.append(
        f"{scenario:38} accepted={len(numbers)} sent={states['sent']} failed={states['failed']} "
        f"expired={states['expired']} duplicates={duplicates} lost={lost} "
        f"attempts={sum(r['attempts'] for r in records)}"
    )
    assert states["sent"] == len(numbers) and duplicates == 0 and lost == 0
    assert all(accepted[n] == 1 for n in numbers)
    assert all(json.dumps(r["history"]).count('"sent"') == 1 for r in records)
    return list(records)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_message_ends_once_and_is_sent_once(runtime: Any, api: Api, scenario: str) -> None:
    numbers = fresh_numbers()
    SCENARIOS[scenario](runtime.twilio)
    status, send = api.call("POST", "/sends", send_body(sms_configuration(api), numbers))
    assert status == 202, send
    ids = list(send["message_ids"])
    if scenario == "duplicated SQS deliveries":
        sqs = runtime.client("sqs")
        url = sqs.get_queue_url(QueueName=SMS_QUEUE)["QueueUrl"]
        for _ in range(3):  # every queue message arrives three more times
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": QueueBody(message_id=mid, attempt=0).model_dump_json()}
                for i, mid in enumerate(ids)])
    assert_sent_once(runtime, api, scenario, ids, numbers)


def test_a_sender_killed_mid_batch_loses_nothing_and_sends_nothing_twice(runtime: Any, api: Api) -> None:
    """A sender process takes a batch of five and delivers them side by side; four are accepted and recorded,
    and it is SIGKILLed while the other one is at the provider (no answer yet). The batch comes back after the
    visibility timeout: the four settled are dropped as duplicates, and the one in flight is taken over once
    its lease runs out."""
    numbers = fresh_numbers()
    configuration_id = sms_configuration(api)
    runtime.pause(SMS_QUEUE)  # the batch must go to the process we kill, not to the runtime's own poller
    try:
        runtime.twilio.fault_next(2, "pass")
        runtime.twilio.fault_next(1, "hang", 60.0)
        status, send = api.call("POST", "/sends", send_body(configuration_id, numbers))
        assert status == 202, send

        def four_recorded() -> bool:
            states = [message(api, m)["state"] for m in send["message_ids"]]
            return states.count("sent") == 4 and states.count("sending") == 1

        # Its own HTTP timeout is long enough that the hung call is still open when the kill comes.
        sender = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.sender_process", SMS_QUEUE, "send_sms"], cwd=ROOT,
            env={**os.environ, "HTTP_TIMEOUT_SECONDS": "5"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: four_recorded() or sender.poll() is not None, timeout=60,
                     what="four settled and one at the provider", interval=0.05)
            sender.kill()
            _, stderr = sender.communicate(timeout=10)
        finally:
            if sender.poll() is None:
                sender.kill()
        assert sender.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
        at_kill = to_numbers(runtime, numbers)
        answered = [r.answered for r in at_kill]
        assert len(at_kill) == 5 and answered.count(201) == 4 and answered.count(None) == 1, answered
        hung = at_kill[answered.index(None)].form()["To"]
        assert message(api, send["message_ids"][numbers.index(hung)])["state"] == "sending"
    finally:
        runtime.resume(SMS_QUEUE)
    records = assert_sent_once(runtime, api, "sender killed mid-batch", list(send["message_ids"]), numbers)
    # The one in flight was claimed again by the takeover, as the same attempt (its first call never got an
    # answer, so it does not count as a failed try): two "sending" entries, one "sent".
    taken_over = records[numbers.index(hung)]
    assert taken_over["attempts"] == 1
    assert [h["state"] for h in taken_over["history"]].count("sending") == 2
    assert [r.answered for r in to_numbers(runtime, [hung])] == [None, 201]


def all_delivered(api: Api, definition_id: str, what: str) -> list[dict[str, Any]]:
    """The definition's delivered messages, once they carry all PER_SCENARIO notifications."""
    def delivered() -> list[dict[str, Any]] | None:
        found = api.call("GET", f"/messages?state=delivered&definition_id={definition_id}")[1]["messages"]
        return found if sum(len(m["payload"]["notification_ids"]) for m in found) == PER_SCENARIO else None

    return list(wait_for(delivered, timeout=60, what=what))


def acked_notifications(runtime: Any, path: str) -> Counter[str]:
    """How often the listener acked each notification id on `path`."""
    from chalicelib.soap.envelope import parse_notifications

    return Counter(n.id for r in runtime.soap.requests if r.path == path and r.answered == 200
                   for n in parse_notifications(r.body).notifications)


def test_aws_unreachable_mid_run_loses_nothing_and_sends_nothing_twice(runtime: Any, api: Api,
                                                                       log_lines: Any) -> None:
    """moto's server is shut down for four seconds and started again on its port (its data survives, as it
    would an AWS outage) while SMS and SOAP messages are in flight. The first SMS is accepted by Twilio while
    AWS is down: its sender keeps trying to record that until AWS answers, instead of leaving it to a
    takeover that would send it again. A client sending during the outage retries with its Idempotency-Key."""
    from tests.e2e.test_pipeline import soap_setup

    numbers, late_numbers = fresh_numbers(), fresh_numbers()
    configuration_id = sms_configuration(api)
    path = f"/outage/{uuid.uuid4().hex[:8]}"
    obj, definition_id = soap_setup(api, runtime.soap.url + path)
    errors_before = len(runtime.errors)
    runtime.twilio.fault_next(1, "slow", 1.2)  # answered inside the 2 s HTTP timeout, 1.2 s into the 4 s outage
    status, send = api.call("POST", "/sends", send_body(configuration_id, numbers))
    assert status == 202, send
    for i in range(PER_SCENARIO):
        assert api.call("PUT", f"/records/{obj}/500OUTAGE{i:09d}", {"fields": {"Subject": f"s{i}"}})[0] == 200
    wait_for(lambda: to_numbers(runtime, numbers), what="the first SMS at the provider", interval=0.01)
    outage = threading.Thread(target=runtime.restart_moto, args=(4.0,))
    outage.start()
    key = f"outage-{uuid.uuid4().hex}"
    late = send_body(configuration_id, late_numbers)
    headers = {"Idempotency-Key": key}
    first_status, _ = api.call("POST", "/sends", late, headers=headers)
    outage.join()

    def accepted_late() -> dict[str, Any] | None:
        answer_status, answer = api.call("POST", "/sends", late, headers=headers)
        return answer if answer_status == 202 else None

    late_send = wait_for(accepted_late, timeout=30, what="the late send accepted on retry", interval=0.5)
    assert len(runtime.errors) > errors_before, "the outage should have made the pollers fail"
    records = assert_sent_once(runtime, api, "AWS (moto) unreachable mid-run",
                               list(send["message_ids"]) + list(late_send["message_ids"]), numbers + late_numbers)
    first = records[numbers.index(to_numbers(runtime, numbers)[0].form()["To"])]
    # Accepted while AWS was down, recorded by its own sender once AWS was back: not taken over and re-sent.
    assert [h["state"] for h in first["history"]].count("sending") == 1
    assert any(line["event"] == "message.settle_retry" and line["message_id"] == first["message_id"]
               for line in log_lines.lines)

    soap_records = all_delivered(api, definition_id, "every notification delivered after the outage")
    acked = acked_notifications(runtime, path)
    duplicates = sum(count - 1 for count in acked.values())
    FAULT_SUMMARY.append(f"{'  same outage, SOAP notifications':38} accepted={PER_SCENARIO} delivered={len(acked)} "
                         f"failed=0 expired=0 duplicates={duplicates} lost={PER_SCENARIO - len(acked)} "
                         f"(the send made during the outage was first answered {first_status}, then 202 on retry)")
    assert set(acked) == {n for m in soap_records for n in m["payload"]["notification_ids"]} and duplicates == 0


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
    from tests.e2e.test_pipeline import soap_setup

    path = f"/faults/{uuid.uuid4().hex[:8]}"
    obj, definition_id = soap_setup(api, runtime.soap.url + path)
    SOAP_FAULTS[scenario](runtime.soap)
    for i in range(PER_SCENARIO):
        assert api.call("PUT", f"/records/{obj}/500FAULT{i:010d}", {"fields": {"Subject": f"s{i}"}})[0] == 200

    records = all_delivered(api, definition_id, f"{scenario}: every notification delivered")
    acked = acked_notifications(runtime, path)
    expected = {n for m in records for n in m["payload"]["notification_ids"]}
    duplicates = sum(count - 1 for count in acked.values() if count > 1)
    FAULT_SUMMARY.append(
        f"{scenario:38} accepted={PER_SCENARIO} delivered={len(expected)} failed=0 expired=0 "
        f"duplicates={duplicates} lost={PER_SCENARIO - len(expected)} attempts={sum(m['attempts'] for m in records)}"
    )
    assert set(acked) == expected and duplicates == 0


@pytest.mark.parametrize("form", ["e164", "formatted", "digits"])
def test_logs_never_carry_a_full_number_or_a_secret(runtime: Any, api: Api, log_lines: Any, form: str) -> None:
    """Twilio's error text names the number; the record keeps it for the operator, the log line masks it, in
    whatever form the provider wrote it (Twilio `+1 (415) 555-0142`, TeleSign digits only)."""
    [number] = fresh_numbers(1)
    written = {"e164": number, "formatted": f"+1 ({number[2:5]}) {number[5:8]}-{number[8:]}",
               "digits": number[1:]}[form]
    refused = twilio_error(400, 21211, f"The 'To' number {written} is not a valid phone number.")
    runtime.twilio.fail_next(1, refused.status, refused.body, refused.headers)
    status, send = api.call("POST", "/sends", send_body(sms_configuration(api), [number]))
    assert status == 202, send
    [message_id] = send["message_ids"]
    record = wait_for(lambda: (m := message(api, message_id))["state"] == "failed" and m, what="the refusal")
    assert written in record["last_error"]
    # The sender logs the failure just after recording it: wait for the line, not only for the record.
    failed = wait_for(lambda: [line for line in log_lines.lines if line.get("message_id") == message_id
                               and line["event"] == "message.failed"], what="the failure's log line")
    assert failed and written[-2:] in failed[0]["reason"] and "*" in failed[0]["reason"]
    text = "\n".join(json.dumps(line) for line in log_lines.lines)
    assert number not in text and written not in text and number[1:] not in text
    assert runtime.twilio.auth_token not in text and runtime.api_key not in text
