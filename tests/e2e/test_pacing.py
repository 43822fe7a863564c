"""Pacing per sender: a burst from a sending number configured at 1 per second
reaches the provider at that rate on the test clock, none failed, none counted as an extra attempt, and none
looking lost to the sweep while it waits its turn."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from chalicelib.core import clock
from chalicelib.models.messages import MessageState
from chalicelib.stores import messages as message_store
from chalicelib.triggers import sweep
from tests.conftest import Api, wait_for

SENDER = "+15005550009"  # no other test sends from it: its budget is this test's alone
COUNT = 50
GRACE = timedelta(seconds=20)


def paced_configuration(api: Api, pace: dict[str, Any] | None, sender: str = SENDER) -> str:
    status, template = api.call("POST", "/templates", {
        "name": "paced", "channel_type": "sms", "bodies": {"en-US": "Hi {{ CustomerName }}"}})
    assert status == 201, template
    body: dict[str, Any] = {"name": "paced", "channel_type": "sms", "channel": sender, "template_id": template["id"]}
    if pace is not None:
        body["pace"] = pace
    status, created = api.call("POST", "/outbound-configurations", body)
    assert status == 201, created
    return str(created["id"])


def test_a_long_code_at_one_per_second_sends_a_burst_of_50_over_50_seconds(runtime: Any, api: Api) -> None:
    configuration_id = paced_configuration(api, {"per_second": 1, "burst": 1})
    contacts = [{"tocontactid": f"+1303555{200 + k:04d}", "CustomerName": f"C{k}"} for k in range(COUNT)]
    before = len(runtime.twilio.requests)
    status, answer = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": contacts})
    assert status == 202, answer
    ids = answer["message_ids"]

    def sent() -> list[Any]:
        return [r for r in runtime.twilio.requests[before:] if r.form().get("From") == SENDER]

    def slotted() -> bool:  # each has been through the sender once: given its slot (or sent in the first)
        records = [message_store.get(i) for i in ids]
        return all(r and (r.paced_for or r.state != MessageState.queued) for r in records)

    wait_for(slotted, 60, "every message to get its slot")
    deadline = time.monotonic() + 120
    while len(sent()) < COUNT and time.monotonic() < deadline:
        # Waiting ones are queued with their slot as due time: never what the sweep takes for lost, though most
        # wait far beyond its grace. (20 s of grace, not the runtime's 5: on a clock moving 3x, a message received
        # in a batch or a sender's lease would look lost after a few real seconds.)
        assert sweep.sweep(clock.now(), GRACE) == 0
        clock.advance(0.3)
        time.sleep(0.1)
    requests = sent()
    assert len(requests) == COUNT, f"{len(requests)} of {COUNT} reached Twilio"
    moments = sorted(r.received_at for r in requests)
    for k, moment in enumerate(moments):
        assert moment - moments[0] >= k - 0.5, f"message {k} went {moment - moments[0]:.2f}s after the first"
    assert 48.5 <= moments[-1] - moments[0] <= 65

    def settled() -> list[dict[str, Any]]:
        records = [api.call("GET", f"/messages/{i}")[1] for i in ids]
        return records if all(r["state"] == "sent" for r in records) else []

    records = wait_for(settled, 30, "every paced message to be sent")
    assert all(r["attempts"] == 1 for r in records), "waiting for a slot is not an attempt"
    assert sum(1 for r in records if any("paced by" in (h.get("detail") or "") for h in r["history"])) >= COUNT - 2
    assert {r["To"] for r in (q.form() for q in requests)} == {c["tocontactid"] for c in contacts}


def test_a_message_whose_slot_falls_past_its_deadline_expires_visibly_and_can_be_retried(api: Api) -> None:
    configuration_id = paced_configuration(api, {"per_second": 0.00001}, sender="+15005550010")  # 1 per 27 h
    contacts = [{"tocontactid": "+13035550300", "CustomerName": "A"}, {"tocontactid": "+13035550301",
                                                                        "CustomerName": "B"}]
    status, answer = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": contacts})
    assert status == 202, answer

    def final() -> list[dict[str, Any]]:
        records = [api.call("GET", f"/messages/{i}")[1] for i in answer["message_ids"]]
        return records if all(r["state"] in {"sent", "expired"} for r in records) else []

    records = wait_for(final, 30, "both messages to settle")
    assert sorted(r["state"] for r in records) == ["expired", "sent"]
    (expired,) = [r for r in records if r["state"] == "expired"]
    assert expired["error_code"] == "paced" and "+15005550010" in expired["last_error"]
    assert expired["attempts"] == 0, "no provider call was made for it"


def test_pace_is_validated_at_the_door(api: Api) -> None:
    status, template = api.call("POST", "/templates", {"name": "p", "channel_type": "sms", "bodies": {"en-US": "x"}})
    assert status == 201
    for pace, field in (({"per_second": 0}, "pace.per_second"), ({"per_second": 1, "burst": 0}, "pace.burst"),
                        ({"per_second": 1, "every": 2}, "pace.every")):
        status, body = api.call("POST", "/outbound-configurations", {
            "name": "p", "channel_type": "sms", "channel": SENDER, "template_id": template["id"], "pace": pace})
        assert status == 400 and field in str(body), body
