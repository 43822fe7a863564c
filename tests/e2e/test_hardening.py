"""Hostile and unlucky input, through the local runtime: nothing lost, nothing sent twice, nothing unbounded."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from chalicelib.stores import config as config_store
from tests.conftest import FAULT_SUMMARY, Api, unique_object, wait_for
from tests.e2e.test_pipeline import message, sms_configuration, soap_setup, wait_state
from tests.e2e.test_twilio_webhooks import post_form, send_one
from tests.unit.test_template_bombs import BOMBS

pytestmark = pytest.mark.e2e


def template(api: Api, body: str, channel: str = "sms") -> tuple[int, Any]:
    return api.call("POST", "/templates", {"name": "t", "channel_type": channel, "bodies": {"en-US": body}})


def configuration_for(api: Api, body: str) -> str:
    status, created = template(api, body)
    assert status == 201, created
    status, configuration = api.call("POST", "/outbound-configurations", {
        "name": "c", "channel_type": "sms", "channel": "+15005550006", "template_id": created["id"]})
    assert status == 201, configuration
    return str(configuration["id"])


HOSTILE = [
    "{{ 9**(9**8) }}",  # folded by jinja2's compiler at save time: over a minute of CPU, the GIL held
    "{{ 'a' * 10**9 }}",  # 3 GB at save time
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "{% include 'other' %}",
    "{% extends 'base' %}",
    "{% import 'macros' as m %}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{{ 'x'|center(1000000000) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ range(10**6)|list }}",
    *BOMBS,  # loops that produce nothing, widths of a gigabyte: each once held the save for seconds or ~1 GB
]


def test_hostile_templates_are_refused_at_save_and_the_service_stays_responsive(runtime: Any, api: Api) -> None:
    answers: list[tuple[int, Any]] = []
    health: list[int] = []

    def probe() -> None:
        while len(answers) < len(HOSTILE):
            health.append(api.call("GET", "/health")[0])
            time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    for body in HOSTILE:
        answers.append(template(api, body))
    prober.join()
    for body, (status, answer) in zip(HOSTILE, answers, strict=True):
        assert status == 400, (body, answer)
        assert answer["error"] == "validation_error" and answer["fields"][0]["field"] == "bodies.en-US", answer
    assert health and set(health) == {200}
    FAULT_SUMMARY.append(f"{'hostile templates at save':38} refused={len(HOSTILE)}/{len(HOSTILE)} "
                         f"health_checks={len(health)} all_200={set(health) == {200}}")


def test_a_template_that_fails_for_one_contact_at_render_is_a_4xx_or_a_failed_message(
    runtime: Any, api: Api
) -> None:
    """Accepted at save (it renders with empty values), fails for some values: a preview and an instant send
    answer 400 naming the contact and store nothing; an automated send records a failed message with the reason
    (before: the send disappeared and the stream retried the batch for ~37 s)."""
    body = "Case {{ CaseName }}: {{ 100 // (Priority|int) }} hours left"
    configuration_id = configuration_for(api, body)
    status, answer = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": "+14155553100", "CaseName": "C-1", "contextitems": {"Priority": 4}},
        {"tocontactid": "+14155553101", "CaseName": "C-2", "contextitems": {"Priority": 0}}]})
    assert status == 400 and answer["fields"][0]["field"] == "contacts.1", answer
    assert "ZeroDivisionError" in answer["message"]
    time.sleep(1)
    assert not [m for m in runtime.twilio.messages() if m["To"] in {"+14155553100", "+14155553101"}]

    contact, case = unique_object(), unique_object()
    api.call("PUT", f"/objects/{contact}", {"name": contact, "fields": {
        "MobilePhone": "string", "FullName": "string", "Locale": "string", "OptIn": "boolean"}})
    api.call("PUT", f"/objects/{case}", {"name": case, "fields": {"Priority": "int", "ContactId": "string"}})
    api.call("PUT", f"/records/{contact}/003Z", {"fields": {"MobilePhone": "+14155553102"}})
    status, rule = api.call("POST", "/rules", {"object": case, "name": "r", "evaluation": "created",
                                               "configuration_ids": [configuration_id],
                                               "recipients": {"via": ["ContactId"], "contact_object": contact}})
    assert status == 201, rule
    api.call("PUT", f"/records/{case}/500ZERO", {"fields": {"Priority": 0, "ContactId": "003Z"}})
    api.call("PUT", f"/records/{case}/500FOUR", {"fields": {"Priority": 4, "ContactId": "003Z"}})
    sent = wait_for(lambda: [m for m in runtime.twilio.messages() if m["To"] == "+14155553102"], 20,
                    "the good record's SMS")
    assert sent[0]["Body"] == "Case 500FOUR: 25 hours left"

    def failed() -> list[dict[str, Any]]:
        listed = api.call("GET", f"/messages?state=failed&configuration_id={configuration_id}")[1]["messages"]
        return [m for m in listed if "ZeroDivisionError" in (m.get("last_error") or "")]

    record = wait_for(failed, 20, "the failed message for the record that cannot be rendered")[0]
    assert record["error_code"] == "invalid_contact" and "003Z" in record["last_error"]


def test_a_send_with_one_unstorable_contact_is_refused_whole_and_sends_nothing(runtime: Any, api: Api) -> None:
    """Before: 500, yet the good contact's record was written and texted; the client's retry texted it again."""
    configuration_id = sms_configuration(api)
    number = "+14155553200"
    status, answer = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": number, "CustomerName": "Ana", "CaseName": "C-1", "contextitems": {"Status": "open"}},
        {"tocontactid": "+14155553201", "CustomerName": "B" * 450_000, "CaseName": "C-2",
         "contextitems": {"Status": "open"}}]})
    assert status == 400 and answer["fields"][0]["field"].startswith("contacts.1.CustomerName"), answer
    status, answer = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": number, "CustomerName": "Ana", "CaseName": "C-1", "contextitems": {"Status": "open"}},
        {"tocontactid": "+14155553201", "CustomerName": "B" * 1_000, "CaseName": "C-2",
         "contextitems": {"Status": "y" * 1_000}}]})
    assert status == 400 and "1600" in answer["message"], answer  # renders past Twilio's 1,600 characters
    status, answer = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": number, "CustomerName": "Ana", "CaseName": "C-1", "contextitems": {"Status": "open"}}]})
    assert status == 202
    wait_state(api, answer["messages"][0]["message_id"], "sent")
    time.sleep(1)
    assert len([m for m in runtime.twilio.messages() if m["To"] == number]) == 1


def test_preview_output_is_bounded(api: Api) -> None:
    status, created = template(api, "{{ CustomerName * 1000 }}")
    assert status == 201
    status, answer = api.call("POST", f"/templates/{created['id']}/preview",
                              {"contact": {"tocontactid": "+14155550100", "CustomerName": "x" * 1000}})
    assert status == 400 and answer["fields"][0]["field"] == "contact", answer


def test_endpoint_urls_that_cannot_work_are_refused_at_save(api: Api) -> None:
    obj = unique_object()
    api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {"Subject": "string"}})
    for url in ("http://127.0.0.1:99999/x", "http://user:secret@127.0.0.1:8000/x", "http://127.0.0.1:8000/a b"):
        status, answer = api.call("POST", "/outbound-messages", {
            "object": obj, "name": "n", "unique_name": "Bad_url", "endpoint_url": url})
        assert status == 400 and answer["fields"][0]["field"] == "endpoint_url", (url, answer)


def test_a_stored_endpoint_with_an_invalid_port_ends_failed_once(runtime: Any, api: Api) -> None:
    """A definition saved before the port check existed (written straight into the table): its message fails at
    once with the reason, instead of raising in the sender, staying `sending`, and growing its history forever."""
    obj, definition_id = soap_setup(api, runtime.soap.url + "/port")
    from chalicelib.models.definitions import OutboundMessageDefinition

    definition = config_store.get(config_store.DEFINITION, definition_id, OutboundMessageDefinition)
    assert definition is not None
    config_store.put(config_store.DEFINITION, definition_id,
                     definition.model_copy(update={"endpoint_url": "http://127.0.0.1:99999/port"}))
    api.call("PUT", f"/records/{obj}/500PORT", {"fields": {"Subject": "where to?"}})
    record = wait_for(lambda: (api.call("GET", f"/messages?state=failed&definition_id={definition_id}")[1]
                               ["messages"] or [None])[0], 20, "the failed message")
    assert record["error_code"] == "endpoint_refused" and "port" in record["last_error"]
    time.sleep(2)  # several sweep ticks: nothing moves it again
    again = message(api, record["message_id"])
    assert again["state"] == "failed" and again["attempts"] == 1 and len(again["history"]) == 3
    FAULT_SUMMARY.append(f"{'endpoint with an invalid port':38} accepted=1 failed=1 attempts={again['attempts']} "
                         f"history={len(again['history'])} duplicates=0 lost=0")


def test_broken_schedules_are_refused_or_recorded_and_never_starve_the_others(runtime: Any, api: Api) -> None:
    configuration_id = sms_configuration(api)
    # Refused at creation, like an instant send: the template needs {{ Status }}, the contact lacks it.
    status, answer = api.call("POST", "/schedules", {"configuration_id": configuration_id, "delay_seconds": 0,
                                                     "contacts": [{"tocontactid": "+14155553300"}]})
    assert status == 400 and answer["fields"][0]["field"] == "contacts.0", answer
    # 30 schedules whose configuration is deleted (around the API) after they were created, due with a good one.
    doomed = sms_configuration(api)
    contact = {"tocontactid": "+14155553301", "CustomerName": "B", "CaseName": "C", "contextitems": {"Status": "x"}}
    broken = [api.call("POST", "/schedules", {"configuration_id": doomed, "delay_seconds": 2,
                                              "contacts": [contact]})[1]["id"] for _ in range(30)]
    config_store.delete(config_store.CONFIGURATION, doomed)
    status, good = api.call("POST", "/schedules", {"configuration_id": configuration_id, "delay_seconds": 2,
                                                   "contacts": [{"tocontactid": "+14155553302", "CustomerName": "Cy",
                                                                 "CaseName": "C-9",
                                                                 "contextitems": {"Status": "due"}}]})
    assert status == 201, good
    wait_for(lambda: [m for m in runtime.twilio.messages() if m["To"] == "+14155553302"], 30,
             "the good schedule's SMS beside 30 broken schedules")
    shown = wait_for(lambda: (b := api.call("GET", f"/schedules/{broken[0]}")[1])["state"] == "failed" and b, 30,
                     "the broken schedule's failure on its record")
    assert doomed in shown["last_error"] and shown["failures"] == 1
    failures = api.call("GET", "/schedule-failures?limit=100")[1]["failures"]
    assert {f["schedule_id"] for f in failures} >= set(broken[:1])
    recorded = wait_for(lambda: (n := sum(1 for b in broken if api.call("GET", f"/schedules/{b}")[1]["state"]
                                          == "failed")) == len(broken) and n, 30, "every broken schedule recorded")
    FAULT_SUMMARY.append(f"{'30 broken schedules beside a good one':38} good_fired=1 broken_recorded={recorded}"
                         " lost=0")


def test_error_bodies_have_one_shape(runtime: Any, api: Api) -> None:
    anonymous, wrong = Api(runtime.api_url), Api(runtime.api_url, "not-the-key")
    for client, status in ((anonymous, 401), (wrong, 403)):
        code, body = client.call("GET", "/messages?state=failed")
        assert code == status and set(body) >= {"error", "message"}, body
    code, body = api.call("POST", "/sends", raw=b"a=b", content_type="application/x-www-form-urlencoded")
    assert code == 415 and body["error"] == "unsupported_media_type" and "message" in body, body
    code, body = api.call("GET", "/nope")
    assert code == 404 and set(body) >= {"error", "message"}


def test_a_poison_record_among_good_ones_fault_summary(runtime: Any, api: Api) -> None:
    """The stream-isolation scenario as a fault-suite line (the detailed checks live in test_stream_isolation)."""
    from tests.e2e.test_stream_isolation import delivered_ids, failed_entries, write_records

    obj, definition_id = soap_setup(api, runtime.soap.url + "/poison")
    batch = uuid.uuid4().hex[:6]
    ids = [f"509{batch}{i:03d}" for i in range(20)]
    bad = ids[7]
    write_records(runtime, obj, [{"id": rid, "Subject": "nul \x00 here" if rid == bad else "fine"} for rid in ids])
    wait_for(lambda: all(rid.encode() in delivered_ids(runtime) for rid in ids if rid != bad), 30, "the good ones")
    listed = wait_for(lambda: [e for e in failed_entries(api, definition_id) if bad in e["record_ids"]], 20, "listed")
    good = sum(1 for rid in ids if rid != bad and rid.encode() in delivered_ids(runtime))
    FAULT_SUMMARY.append(f"{'poison record among 19 good ones':38} accepted=20 delivered={good} "
                         f"failed={len(listed)} duplicates=0 lost={len(ids) - good - len(listed)}")
    assert good == 19 and len(listed) == 1


def test_a_webhook_flood_is_refused_cheaply_while_health_and_a_genuine_callback_get_through(
        runtime: Any, api: Api) -> None:
    """Four clients post 40,000-field bodies (349 KB), 300-field bodies and forged signatures at the public
    callback URL; each is refused (413, 400, 403) and /health answers 200 throughout; a genuine signed callback
    sent in the middle of the flood still moves its message."""
    import urllib.error
    import urllib.request

    from twilio.request_validator import RequestValidator

    message_id = send_one(api, "+14155553190")
    sent = wait_state(api, message_id, "sent")
    url = f"{runtime.api_url}/webhooks/twilio/status?message_id={message_id}"
    bodies = ["&".join(f"f{i}=v" for i in range(40_000)), "&".join(f"f{i}=v" for i in range(300)),
              f"MessageSid={sent['provider_message_id']}&MessageStatus=failed&ErrorCode=30007"]
    answers: list[int] = []
    health: list[int] = []
    flooding = threading.Event()
    flooding.set()

    def flood(worker: int) -> None:
        for n in range(12):
            body = bodies[(worker + n) % len(bodies)].encode()
            request = urllib.request.Request(url, data=body, method="POST", headers={
                "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "Zm9yZ2Vk"})
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    answers.append(answer.status)
            except urllib.error.HTTPError as error:
                answers.append(error.code)

    def probe() -> None:
        while flooding.is_set():
            health.append(api.call("GET", "/health")[0])
            time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    workers = [threading.Thread(target=flood, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    params = {"MessageSid": sent["provider_message_id"], "MessageStatus": "delivered",
              "AccountSid": runtime.twilio.account_sid}
    genuine = post_form(url, params, RequestValidator(runtime.twilio.auth_token).compute_signature(url, params))
    for worker in workers:
        worker.join()
    flooding.clear()
    prober.join()
    FAULT_SUMMARY.append(f"{'webhook flood (48 hostile posts)':38} refused={sum(a in (400, 403, 413) for a in answers)}"
                         f"/{len(answers)} genuine={genuine} health_checks={len(health)} "
                         f"all_200={set(health) == {200}}")
    assert len(answers) == 48 and set(answers) == {400, 403, 413}, sorted(set(answers))
    assert genuine == 200 and message(api, message_id)["state"] == "delivered"
    assert health and set(health) == {200}
