"""Channel fallback through the local runtime: a WhatsApp message nobody received becomes an SMS, once, whatever
duplicates and reorderings of Twilio's callbacks arrive (signed as Twilio signs them)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chalicelib.core import clock
from tests.conftest import Api, wait_for
from tests.e2e.test_pipeline import message, wait_state
from tests.e2e.test_twilio_webhooks import post_form
from tests.e2e.test_whatsapp import OURS, contact, whatsapp_configuration, writes_in

pytestmark = pytest.mark.e2e


def sms_configuration(api: Api) -> str:
    status, template = api.call("POST", "/templates", {
        "name": "sms fallback", "channel_type": "sms", "bodies": {"en-US": "SMS: {{ CustomerName }}, {{ CaseName }}"}})
    assert status == 201, template
    status, configuration = api.call("POST", "/outbound-configurations", {
        "name": "sms", "channel_type": "sms", "channel": "+15005550006", "template_id": template["id"]})
    assert status == 201, configuration
    return str(configuration["id"])


def with_fallback(api: Api, after_seconds: int = 300) -> str:
    whatsapp = whatsapp_configuration(api, None)
    status, current = api.call("GET", f"/outbound-configurations/{whatsapp}")
    assert status == 200
    body = {k: current[k] for k in ("name", "channel_type", "channel", "template_id")}
    status, updated = api.call("PUT", f"/outbound-configurations/{whatsapp}", {
        **body, "fallback": [{"configuration_id": sms_configuration(api), "after_seconds": after_seconds}]})
    assert status == 200, updated
    return whatsapp


def send_one(api: Api, configuration_id: str, number: str, **extra: Any) -> str:
    status, answer = api.call("POST", "/sends", {"configuration_id": configuration_id,
                                                 "contacts": [contact(number, **extra)]})
    assert status == 202, answer
    return str(answer["message_ids"][0])


def sms_to(runtime: Any, number: str) -> list[dict[str, str]]:
    return [f for f in runtime.twilio.messages() if f.get("To") == number]


def report(runtime: Any, api: Api, message_id: str, status: str, code: str | None = None) -> int:
    from twilio.request_validator import RequestValidator

    record = message(api, message_id)
    url = record["payload"]["status_callback"]
    params = {"MessageSid": record["provider_message_id"], "MessageStatus": status,
              "AccountSid": runtime.twilio.account_sid, **({"ErrorCode": code} if code else {})}
    return post_form(url, params, RequestValidator(runtime.twilio.auth_token).compute_signature(url, params))


def chain(api: Api, message_id: str) -> list[tuple[str, str]]:
    return [(e["channel"], e["state"]) for e in message(api, message_id)["fallback_chain"]]


def test_a_whatsapp_message_that_fails_becomes_one_sms_of_the_same_logical_message(runtime: Any, api: Api) -> None:
    number = "+13035550601"  # never wrote in: outside the 24-hour window, and no content template
    whatsapp = with_fallback(api)
    first = send_one(api, whatsapp, number)
    assert wait_state(api, first, "failed")["error_code"] == "template_required"
    wait_for(lambda: sms_to(runtime, number), 20, "the SMS")
    [sms] = sms_to(runtime, number)
    assert sms["Body"] == "SMS: Jörg, C-7"  # the SMS configuration's own template, for the same contact values
    assert wait_for(lambda: chain(api, first) == [("whatsapp", "failed"), ("sms", "sent")] and True, 20, "chain")
    follower = message(api, first)["fallback_chain"][1]["message_id"]
    assert message(api, follower)["fallback"]["logical"] == first and message(api, follower)["fallback"]["step"] == 1


def test_duplicated_failure_callbacks_make_one_sms(runtime: Any, api: Api) -> None:
    number = "+13035550602"
    whatsapp = with_fallback(api)
    writes_in(runtime, number)  # inside the window: Twilio accepts it
    first = send_one(api, whatsapp, number)
    wait_state(api, first, "sent")
    for status in ("undelivered", "undelivered", "undelivered", "failed"):
        assert report(runtime, api, first, status, "30008") == 200
    wait_for(lambda: sms_to(runtime, number), 20, "the SMS")
    time.sleep(1.5)  # whatever else was coming has come
    assert len(sms_to(runtime, number)) == 1
    assert [c for c, _ in chain(api, first)] == ["whatsapp", "sms"]


def test_no_delivered_within_the_time_sends_the_sms_a_delivered_before_prevents_it(runtime: Any, api: Api) -> None:
    quiet, heard = "+13035550603", "+13035550604"
    whatsapp = with_fallback(api, after_seconds=60)
    for number in (quiet, heard):
        writes_in(runtime, number)
    silent = send_one(api, whatsapp, quiet)
    answered = send_one(api, whatsapp, heard)
    wait_state(api, silent, "sent")
    wait_state(api, answered, "sent")
    clock.advance(59)
    assert report(runtime, api, answered, "delivered") == 200  # at T - 1 s
    wait_state(api, answered, "delivered")
    clock.advance(2)
    wait_for(lambda: sms_to(runtime, quiet), 30, "the SMS after 60 s without delivered")
    time.sleep(1.5)
    assert sms_to(runtime, heard) == []
    # a late delivered for the WhatsApp message: recorded, the person got both, and no further step starts
    assert report(runtime, api, silent, "delivered") == 200
    view = wait_for(lambda: (m := message(api, silent))["state"] == "delivered" and m, 20, "late delivered")
    assert view["delivered_via"] == ["whatsapp"] and [c for c, _ in chain(api, silent)] == ["whatsapp", "sms"]


@pytest.mark.parametrize("code", ["63014", "131050"])
def test_a_refusal_by_the_person_never_falls_back(runtime: Any, api: Api, code: str) -> None:
    number = f"+1303555{code[-4:]}"
    whatsapp = with_fallback(api)
    writes_in(runtime, number)
    first = send_one(api, whatsapp, number)
    wait_state(api, first, "sent")
    assert report(runtime, api, first, "undelivered", code) == 200
    wait_state(api, first, "undelivered")
    time.sleep(1.5)
    assert sms_to(runtime, number) == [] and chain(api, first) == [("whatsapp", "undelivered")]


def test_an_opted_out_contact_gets_no_sms_and_the_record_says_why(runtime: Any, api: Api) -> None:
    number = "+13035550605"
    whatsapp = with_fallback(api)
    first = send_one(api, whatsapp, number, optin=False)
    assert wait_state(api, first, "opted_out")
    time.sleep(1.0)
    assert sms_to(runtime, number) == [] and chain(api, first) == [("whatsapp", "opted_out")]


def test_fallback_steps_are_checked_at_the_door(api: Api) -> None:
    whatsapp = whatsapp_configuration(api, None)
    current = api.call("GET", f"/outbound-configurations/{whatsapp}")[1]
    body = {k: current[k] for k in ("name", "channel_type", "channel", "template_id")}
    missing = api.call("PUT", f"/outbound-configurations/{whatsapp}",
                       {**body, "fallback": [{"configuration_id": "cfg_nope"}]})
    assert missing[0] == 404 and missing[1]["fields"][0]["field"] == "fallback.0.configuration_id", missing
    itself = api.call("PUT", f"/outbound-configurations/{whatsapp}",
                      {**body, "fallback": [{"configuration_id": whatsapp}]})
    assert itself[0] == 409, itself
    too_soon = api.call("PUT", f"/outbound-configurations/{whatsapp}",
                        {**body, "fallback": [{"configuration_id": whatsapp, "after_seconds": 1}]})
    assert too_soon[0] == 400 and "after_seconds" in str(too_soon[1]), too_soon
    assert OURS  # the WhatsApp sender these configurations use
