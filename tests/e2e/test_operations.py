"""Operators' view: list messages with filters, and redrive a channel's dead-letter queue."""

from __future__ import annotations

import time
from typing import Any

from local.providers import twilio_error
from tests.conftest import Api
from tests.e2e.test_pipeline import message, sms_configuration, wait_state


def contact(number: str, optin: bool = True) -> dict[str, Any]:
    return {"tocontactid": number, "optin": optin, "CustomerName": "O", "CaseName": "C",
            "contextitems": {"Status": "x"}}


def test_message_list_filters(api: Api) -> None:
    mine, other = sms_configuration(api), sms_configuration(api)
    for configuration_id in (mine, other):
        status, _ = api.call("POST", "/sends", {"configuration_id": configuration_id,
                                                "contacts": [contact("+14155552730", optin=False)]})
        assert status == 202
    status, listed = api.call("GET", f"/messages?state=opted_out&configuration_id={mine}&limit=100")
    assert status == 200 and {m["configuration_id"] for m in listed["messages"]} <= {mine}
    found = []
    cursor = None
    for _ in range(50):  # filters apply after each page's read: follow the cursor
        query = f"/messages?state=opted_out&configuration_id={mine}&channel=sms&limit=100"
        status, page = api.call("GET", query + (f"&cursor={cursor}" if cursor else ""))
        found += page["messages"]
        cursor = page["cursor"]
        if not cursor:
            break
    assert len(found) == 1 and found[0]["configuration_id"] == mine
    status, future = api.call("GET", "/messages?state=opted_out&created_after=2999-01-01T00:00:00Z")
    assert status == 200 and future["messages"] == []
    for query, field in (("created_after=yesterday", "created_after"), ("created_before=2026-01-01T00:00:00",
                         "created_before"), ("channel=fax", "channel"), ("colour=red", "colour")):
        status, body = api.call("GET", f"/messages?state=opted_out&{query}")
        assert status == 400 and body["fields"][0]["field"] == field


def test_dlq_redrive_sends_dead_messages_again_and_drops_stale_entries(runtime: Any, api: Api) -> None:
    refused = twilio_error(400, 21614, "To number: +14155552731, is not a mobile number")
    runtime.twilio.fail_next(2, refused.status, refused.body, refused.headers)
    status, send = api.call("POST", "/sends", {"configuration_id": sms_configuration(api),
                                               "contacts": [contact("+14155552731"), contact("+14155552732")]})
    assert status == 202
    redriven_id, retried_id = send["message_ids"]
    wait_state(api, redriven_id, "failed")
    wait_state(api, retried_id, "failed")
    assert api.call("POST", f"/messages/{retried_id}/retry")[0] == 202  # retried through the API meanwhile
    wait_state(api, retried_id, "sent")
    status, report = api.call("POST", "/dlq/sms/redrive", {"limit": 500})
    assert status == 200, report
    assert redriven_id in report["redriven"] and retried_id in report["dropped"]
    wait_state(api, redriven_id, "sent")
    assert message(api, retried_id)["attempts"] == 2  # not sent a third time by the redrive
    status, again = api.call("POST", "/dlq/sms/redrive", {"limit": 500})
    assert redriven_id not in again["redriven"] + again["dropped"]
    assert api.call("POST", "/dlq/fax/redrive")[0] == 400
    assert api.call("POST", "/dlq/sms/redrive", {"limit": 0})[0] == 400


def test_a_redrive_retries_each_dead_message_once_even_if_it_dies_again_at_once(runtime: Any, api: Api) -> None:
    """A permanent error brings a redriven message straight back to the DLQ; the same run must not pick it up
    and retry it again until its limit (it did: messages were sent dozens of times by one redrive)."""
    refused = twilio_error(400, 21614, "To number is not a mobile number")
    runtime.twilio.fail_next(40, refused.status, refused.body, refused.headers)
    numbers = [f"+1415555{3400 + i}" for i in range(40)]  # a block no other test uses
    status, send = api.call("POST", "/sends", {"configuration_id": sms_configuration(api),
                                               "contacts": [contact(n) for n in numbers]})
    assert status == 202
    ids = send["message_ids"]
    for message_id in ids:
        wait_state(api, message_id, "failed")
    runtime.twilio.fail_next(400, refused.status, refused.body, refused.headers)
    try:
        status, report = api.call("POST", "/dlq/sms/redrive", {"limit": 500})
        assert status == 200, report
        assert all(report["redriven"].count(message_id) == 1 for message_id in ids), report["redriven"]
        time.sleep(2)  # every redriven message has failed again by now
        assert sorted({message(api, m)["attempts"] for m in ids}) == [2]
    finally:
        runtime.twilio.script.clear()
