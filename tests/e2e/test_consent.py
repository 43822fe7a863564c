"""One consent list across providers, quiet hours in the recipient's zone: through the local runtime, its API,
Twilio's signed inbound webhook and the loopback providers (Twilio, TeleSign, End User Messaging)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from chalicelib.core import clock
from tests.conftest import Api, wait_for
from tests.e2e.test_pipeline import message, wait_state
from tests.e2e.test_providers import contact, send

TWILIO_NUMBER = "+15005550006"


def template(api: Api, channel_type: str = "sms") -> str:
    status, created = api.call("POST", "/templates", {
        "name": "consent", "channel_type": channel_type, "bodies": {"en-US": "Hi {{ CustomerName }}: sale today"}})
    assert status == 201, created
    return str(created["id"])


def configuration(api: Api, channel: str, provider: str = "twilio", **extra: Any) -> str:
    channel_type = extra.pop("channel_type", "sms")
    body = {"name": "cfg", "channel_type": channel_type, "channel": channel, "provider": provider,
            "template_id": template(api, channel_type), **extra}
    status, created = api.call("POST", "/outbound-configurations", body)
    assert status == 201, created
    return str(created["id"])


def provider_requests(runtime: Any, number: str) -> int:
    twilio = sum(1 for f in runtime.twilio.messages() if f.get("To", "").removeprefix("whatsapp:") == number)
    telesign = sum(1 for f in runtime.telesign.messages() if f.get("phone_number") == number.lstrip("+"))
    eum = sum(1 for p in runtime.eum.sent() if p.get("DestinationPhoneNumber") == number)
    return twilio + telesign + eum


def inbound(runtime: Any, number: str, body: str, ours: str = TWILIO_NUMBER) -> None:
    status, answer = runtime.twilio.send_inbound(f"{runtime.api_url}/webhooks/twilio/inbound", number, ours, body)
    assert status == 200, answer


def test_a_stop_through_twilio_stops_every_provider_and_start_lifts_it(runtime: Any, api: Api) -> None:
    number = "+13035550701"
    twilio = configuration(api, TWILIO_NUMBER)
    telesign = configuration(api, "OUTBOUND", "telesign")
    eum = configuration(api, "+15005550012", "eum")
    inbound(runtime, number, " Stop ")
    status, listed = api.call("GET", f"/consent?address={quote(number)}")
    assert status == 200 and listed["items"][0]["opted_out"], listed
    (entry,) = listed["items"][0]["entries"]
    assert (entry["scope"], entry["status"], entry["evidence"]["keyword"], entry["evidence"]["verified"],
            entry["evidence"]["actor"]) == ("global", "opted_out", "Stop", True, "person")
    assert number in runtime.eum.opted_out  # End User Messaging's own list kept in step
    before = provider_requests(runtime, number)
    sent = [send(api, cfg, contact(number))[0] for cfg in (twilio, telesign, eum)]
    for message_id in sent:
        record = wait_state(api, message_id, "opted_out")
        assert record["error_code"] == "consent" and entry["id"] in record["last_error"]
        assert record["attempts"] == 0
    assert provider_requests(runtime, number) == before  # not one provider request
    # A retry by an operator (or a redrive) goes through the same check.
    inbound(runtime, number, "START")
    assert number not in runtime.eum.opted_out
    (again,) = send(api, twilio, contact(number))
    wait_state(api, again, "sent")
    assert provider_requests(runtime, number) == before + 1
    history = api.call("GET", f"/consent?address={quote(number)}")[1]["items"][0]["history"]
    assert [h["status"] for h in history] == ["opted_out", "opted_in"]


def test_a_stop_to_a_brand_number_stops_that_brand_only(runtime: Any, api: Api) -> None:
    number, brand_number = "+13035550702", "+15005550031"
    brand_a = configuration(api, brand_number, consent_scope="brand-a")
    brand_a_elsewhere = configuration(api, "OUTBOUND", "telesign", consent_scope="brand-a")
    brand_b = configuration(api, TWILIO_NUMBER, consent_scope="brand-b")
    inbound(runtime, number, "stop", ours=brand_number)
    (entry,) = api.call("GET", f"/consent?address={quote(number)}")[1]["items"][0]["entries"]
    assert entry["scope"] == "brand-a"
    blocked = [send(api, cfg, contact(number))[0] for cfg in (brand_a, brand_a_elsewhere)]
    (allowed,) = send(api, brand_b, contact(number))
    for message_id in blocked:
        wait_state(api, message_id, "opted_out")
    wait_state(api, allowed, "sent")


def test_longer_revocations_count_where_the_configuration_says_so(runtime: Any, api: Api) -> None:
    number, strict_number, lenient_number = "+13035550703", "+15005550032", "+15005550033"
    configuration(api, strict_number, consent_scope="strict")
    configuration(api, lenient_number, consent_scope="lenient", revocation_phrases=True)
    inbound(runtime, number, "please stop texting me", ours=strict_number)
    assert api.call("GET", f"/consent?address={quote(number)}")[0] == 404  # a reply, not a keyword
    inbound(runtime, number, "please stop texting me", ours=lenient_number)
    (entry,) = api.call("GET", f"/consent?address={quote(number)}")[1]["items"][0]["entries"]
    assert entry["scope"] == "lenient" and entry["evidence"]["keyword"] == "please stop texting me"


def test_twilio_21610_opts_the_number_out_for_every_provider(runtime: Any, api: Api) -> None:
    from local.providers import twilio_error

    number = "+13035550704"
    twilio = configuration(api, TWILIO_NUMBER)
    telesign = configuration(api, "OUTBOUND", "telesign")
    runtime.twilio.script.append(twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"))
    (refused,) = send(api, twilio, contact(number))
    assert wait_state(api, refused, "opted_out")["error_code"] == "21610"
    (entry,) = wait_for(lambda: (r := api.call("GET", f"/consent?address={quote(number)}"))[0] == 200 and
                        r[1]["items"][0]["entries"], 10, "the consent entry")
    assert (entry["evidence"]["code"], entry["evidence"]["actor"], entry["applies_to"]) == ("21610", "provider", "all")
    before = provider_requests(runtime, number)
    (blocked,) = send(api, telesign, contact(number))
    wait_state(api, blocked, "opted_out")
    assert provider_requests(runtime, number) == before


def test_whatsapp_131050_stops_whatsapp_marketing_only(runtime: Any, api: Api) -> None:
    number = "+13035550705"
    whatsapp_number = "whatsapp:" + TWILIO_NUMBER
    marketing = configuration(api, whatsapp_number, channel_type="whatsapp", purpose="marketing",
                              sending_window={"start": "00:00", "end": "23:59"})
    transactional = configuration(api, whatsapp_number, channel_type="whatsapp")
    status, _ = api.call("PUT", f"/consent/{quote(number)}", {"applies_to": "whatsapp_marketing",
                                                              "note": "131050 seen in the WhatsApp manager"})
    assert status == 200
    inbound(runtime, "whatsapp:" + number, "hello", ours=whatsapp_number)  # the 24-hour window is open
    (blocked,) = send(api, marketing, contact(number) | {"timezone": "UTC"})
    (allowed,) = send(api, transactional, contact(number))
    assert wait_state(api, blocked, "opted_out")["error_code"] == "consent"
    record = wait_for(lambda: (m := message(api, allowed))["state"] not in ("queued", "sending") and m, 20, "sent")
    assert record["state"] == "sent", record


def test_operators_list_add_remove_export_and_import(api: Api) -> None:
    number = "+13035550706"
    status, item = api.call("PUT", f"/consent/{quote(number)}", {"scope": "brand-c", "note": "asked by phone"})
    assert status == 200 and item["entries"][0]["evidence"]["actor"] == "operator"
    status, removed = api.call("DELETE", f"/consent/{quote(number)}?scope=brand-c")
    assert status == 200 and removed["entries"] == [] and removed["history"][-1]["status"] == "removed"
    assert api.call("PUT", "/consent/not-a-number", {})[1]["fields"][0]["field"] == "address"
    assert api.call("PUT", f"/consent/{quote(number)}", {"scope": "Bad Scope"})[1]["fields"][0]["field"] == "scope"
    csv = "address,scope,status\n+13035550707,global,opted_out\n+13035550708,brand-c,opted_out\n"
    status, answer = api.call("POST", "/consent/import", raw=csv.encode(), content_type="text/csv")
    assert (status, answer) == (200, {"imported": 2})
    bad = "address,scope\n+13035550709,global\nnot a number,global\n"
    status, answer = api.call("POST", "/consent/import", raw=bad.encode(), content_type="text/csv")
    assert status == 400 and answer["fields"][0]["field"] == "rows.2.address"
    assert api.call("GET", f"/consent?address={quote('+13035550709')}")[0] == 404  # nothing of a refused import
    status, exported = api.call("GET", "/consent/export")
    assert status == 200
    lines = exported.decode().splitlines()
    assert lines[0].startswith("address,scope,applies_to,status")
    assert any(line.startswith("+13035550708,brand-c,all,opted_out,import") for line in lines)


def test_marketing_waits_for_the_recipients_window_and_is_released_then(runtime: Any, api: Api) -> None:
    """A window that opens two hours from now in the recipient's zone: the message is deferred (no provider
    request), then released by the minute tick once the clock reaches the window."""
    now = clock.now().astimezone(UTC)
    start, end = now + timedelta(hours=2), now + timedelta(hours=3)
    cfg = configuration(api, TWILIO_NUMBER, purpose="marketing",
                        sending_window={"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")})
    number = "+13035550710"
    before = provider_requests(runtime, number)
    (message_id,) = send(api, cfg, contact(number) | {"timezone": "UTC"})
    record = wait_state(api, message_id, "deferred")
    opens = datetime.combine(start.date(), start.time().replace(second=0, microsecond=0), tzinfo=UTC)
    assert record["due_at"].startswith(opens.strftime("%Y-%m-%dT%H:%M")), record
    assert "outside the sending window" in record["history"][-1]["detail"]
    runtime.tick()
    assert message(api, message_id)["state"] == "deferred" and provider_requests(runtime, number) == before
    try:
        clock.advance((opens - now).total_seconds() + 1)
        runtime.tick()
        wait_state(api, message_id, "sent")
    finally:
        clock.reset()
    assert provider_requests(runtime, number) == before + 1


def test_an_unknown_zone_waits_for_an_operator_and_critical_messages_go(runtime: Any, api: Api) -> None:
    marketing = configuration(api, TWILIO_NUMBER, purpose="marketing")
    satellite = "+881612345678"  # Iridium: valid, and no zone in libphonenumber's data
    (waiting,) = send(api, marketing, contact(satellite))
    record = wait_state(api, waiting, "deferred")
    assert "waiting for an operator" in record["history"][-1]["detail"]
    assert record["due_at"] == record["deadline"]
    status, retried = api.call("POST", f"/messages/{waiting}/retry", {"waive_window": True})
    assert status == 202, retried
    wait_state(api, waiting, "sent")
    # A transactional configuration with a window: critical sends go at once, said in their history.
    night = (clock.now().astimezone(UTC) + timedelta(hours=6)).strftime("%H:%M")
    later = (clock.now().astimezone(UTC) + timedelta(hours=7)).strftime("%H:%M")
    windowed = configuration(api, TWILIO_NUMBER, sending_window={"start": night, "end": later})
    status, answer = api.call("POST", "/sends", {"configuration_id": windowed, "critical": True,
                                                 "contacts": [contact("+13035550711") | {"timezone": "UTC"}]})
    assert status == 202, answer
    record = wait_state(api, answer["message_ids"][0], "sent")
    assert any("critical" in (h["detail"] or "") for h in record["history"])
    status, refused = api.call("POST", "/sends", {"configuration_id": marketing, "critical": True,
                                                  "contacts": [contact("+13035550712")]})
    assert status == 400 and refused["fields"][0]["field"] == "critical"


def test_the_frequency_cap_defers_a_fourth_florida_marketing_message(runtime: Any, api: Api) -> None:
    """Florida: 08:00-20:00 and three marketing messages on one subject per 24 hours. Run at noon in Miami."""
    from zoneinfo import ZoneInfo

    cfg = configuration(api, TWILIO_NUMBER, purpose="marketing")
    miami, now = "+13055550713", clock.now()
    local = now.astimezone(ZoneInfo("America/New_York"))
    noon = local.replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=1)
    try:
        clock.advance((noon - now).total_seconds())
        ids = [send(api, cfg, contact(miami))[0] for _ in range(4)]
        states = wait_for(lambda: (s := sorted(message(api, i)["state"] for i in ids)) and
                          "queued" not in s and "sending" not in s and s, 20, "four settled")
        assert states == ["deferred", "sent", "sent", "sent"], states
        (capped,) = [m for i in ids if (m := message(api, i))["state"] == "deferred"]
        assert capped["error_code"] == "frequency_cap" and "US-FL" in capped["last_error"]
        assert capped["due_at"] > (noon + timedelta(hours=23)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    finally:
        clock.reset()


def test_an_erased_person_who_said_stop_stays_opted_out(runtime: Any, api: Api) -> None:
    number = "+13035550714"
    inbound(runtime, number, "STOP")
    status, answer = api.call("DELETE", f"/contacts/{quote(number)}")
    assert status == 200, answer
    status, listed = api.call("GET", f"/consent?address={quote(number)}")
    assert status == 200 and listed["items"][0]["erased"] and listed["items"][0]["opted_out"]
    raw = json.dumps(listed["items"][0]["entries"])
    assert number not in raw and "3035550714" not in raw
    (blocked,) = send(api, configuration(api, TWILIO_NUMBER), contact(number))
    wait_state(api, blocked, "opted_out")


def _every_stored_text() -> str:
    """Every item of every table and every object of every bucket, as text (compressed payloads opened)."""
    import zlib

    from chalicelib.platform import aws

    def opened(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"B"} and isinstance(value["B"], bytes | bytearray):
            try:
                return zlib.decompress(value["B"]).decode()
            except zlib.error:
                return repr(value["B"])
        if isinstance(value, dict):
            return {k: opened(v) for k, v in value.items()}
        if isinstance(value, list):
            return [opened(v) for v in value]
        return value

    dynamodb, s3, out = aws.client("dynamodb"), aws.client("s3"), []
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            out.append(json.dumps(opened(page["Items"]), default=str, ensure_ascii=False))
    for bucket in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket["Name"], Key=obj["Key"])["Body"].read()
                try:
                    out.append(zlib.decompress(body).decode())
                except zlib.error:
                    out.append(body.decode("utf-8", "replace"))
    return "\n".join(out)


def test_erasure_leaves_no_trace_of_the_person_in_any_table_or_bucket(runtime: Any, api: Api) -> None:
    number, name, case, reply = "+13035550790", "Zebedee Quuxworth", "C-ERASE-4242", "Thanks from Zebedee"
    cfg = configuration(api, TWILIO_NUMBER, show_in_timeline=True)
    person = {"tocontactid": number, "CustomerName": name, "CaseName": case, "entityrelationshipname": "contact"}
    first, second = (send(api, cfg, person)[0] for _ in range(2))
    wait_state(api, first, "sent")
    wait_state(api, second, "sent")
    inbound(runtime, number, reply)  # a conversation, and a contact window
    inbound(runtime, number, "STOP")
    (blocked,) = send(api, cfg, person)
    wait_state(api, blocked, "opted_out")
    digits = number.lstrip("+")
    before = _every_stored_text()
    assert [s for s in (number, name, reply) if s not in before] == []  # the scan sees them (case: not rendered)
    status, answer = api.call("DELETE", f"/contacts/{quote(number)}")
    assert status == 200, answer
    erased = answer["erased"]
    assert erased["messages"] == 3 and erased["conversation_entries"] >= 2 and erased["timeline_entries"] == 3
    assert erased["contact_windows"] == 1 and "opted out" in erased["consent"]
    after = _every_stored_text()
    for secret in (number, digits, name, case, reply, "Zebedee"):
        assert secret not in after, secret
    record = message(api, first)
    assert record["state"] == "sent" and record["audit"]["verified"], record["audit"]
    assert record["history"][-1]["detail"].startswith("erased")
    (again,) = send(api, cfg, person)  # the keyed hash still says STOP
    wait_state(api, again, "opted_out")
    assert api.call("DELETE", "/contacts/nobody")[1]["fields"][0]["field"] == "address"


def twilio_to(runtime: Any, number: str) -> list[dict[str, str]]:
    return [f for f in runtime.twilio.messages() if f.get("To", "").removeprefix("whatsapp:") == number]


def test_help_gets_the_help_text_and_a_stop_one_confirmation(runtime: Any, api: Api) -> None:
    ours, number = "+15005550034", "+13035550720"
    help_text, confirmation = "Acme: help at acme.example or 555-0100.", "Acme: no more messages. Reply START."
    configuration(api, ours, help_text=help_text, opt_out_confirmation=confirmation)
    inbound(runtime, number, "help", ours=ours)
    wait_for(lambda: [f["Body"] for f in twilio_to(runtime, number)] == [help_text], 20, "the help text")
    sid = "SM" + "c" * 32
    for _ in range(2):  # Twilio delivers the webhook again: still one confirmation
        status, _ = runtime.twilio.send_inbound(f"{runtime.api_url}/webhooks/twilio/inbound", number, ours, "STOP",
                                                sid)
        assert status == 200
    wait_for(lambda: [f["Body"] for f in twilio_to(runtime, number)] == [help_text, confirmation], 20,
             "the confirmation")
    inbound(runtime, number, "stop", ours=ours)  # already opted out: nothing changes, nothing more is sent
    (cfg,) = [c["id"] for c in api.call("GET", "/outbound-configurations")[1]["configurations"]
              if c["channel"] == ours]
    (blocked,) = send(api, cfg, contact(number))
    wait_state(api, blocked, "opted_out")
    assert [f["Body"] for f in twilio_to(runtime, number)] == [help_text, confirmation]


def test_a_messaging_service_sends_as_twilios_sdk_does(runtime: Any, api: Api) -> None:
    """MessagingServiceSid instead of From: the fields twilio-python sends for `messaging_service_sid=`."""
    import urllib.request

    from twilio.rest import Client

    from chalicelib.models.messages import SmsPayload
    from chalicelib.senders import twilio as twilio_sender

    service, number = "MG" + "ab" * 16, "+13035550721"
    cfg = configuration(api, TWILIO_NUMBER, messaging_service_sid=service)
    (message_id,) = send(api, cfg, contact(number))
    wait_state(api, message_id, "sent")
    (form,) = twilio_to(runtime, number)
    assert form["MessagingServiceSid"] == service and "From" not in form
    account, token = runtime.twilio.account_sid, runtime.twilio.auth_token
    client = Client(account, token)
    client.api.base_url = runtime.twilio.url
    before = len(runtime.twilio.requests)
    client.messages.create(to=number, messaging_service_sid=service, body="hi", status_callback="https://e.com/cb")
    payload = SmsPayload(to=number, sender=TWILIO_NUMBER, body="hi", status_callback="https://e.com/cb",
                         messaging_service_sid=service)
    url, body, headers = twilio_sender.build_request("sms", payload, account, token)
    with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers, method="POST")) as answer:
        assert answer.status == 201
    sdk, ours = runtime.twilio.requests[before:before + 2]
    assert sdk.form() == ours.form()
    status, refused = api.call("POST", "/outbound-configurations", {
        "name": "x", "channel_type": "sms", "channel": "OUTBOUND", "provider": "telesign", "template_id": "t",
        "messaging_service_sid": service})
    assert status == 400 and "messaging_service_sid" in refused["message"]


def test_a_stop_texted_to_an_end_user_messaging_number_stops_every_provider(runtime: Any, api: Api) -> None:
    """End User Messaging two-way SMS: the documented payload, published to the stack's topic, delivered raw to
    the inbound-SMS queue, read by on_inbound_sms."""
    eum_number, number = "+15005550035", "+13035550730"
    configuration(api, eum_number, "eum", consent_scope="eum-brand")
    twilio = configuration(api, TWILIO_NUMBER, consent_scope="eum-brand")
    inbound_id = runtime.text_eum_number(number, eum_number, "Stop")
    (entry,) = wait_for(lambda: (r := api.call("GET", f"/consent?address={quote(number)}"))[0] == 200 and
                        r[1]["items"][0]["entries"], 20, "the opt-out from End User Messaging")
    assert (entry["scope"], entry["evidence"]["source"], entry["evidence"]["provider_message_id"]) == (
        "eum-brand", "eum", inbound_id)
    before = provider_requests(runtime, number)
    (blocked,) = send(api, twilio, contact(number))
    wait_state(api, blocked, "opted_out")
    assert provider_requests(runtime, number) == before
    from chalicelib.core import ids

    conversation = ids.deterministic_id("conv", "sms", number, eum_number)  # the person wrote first
    status, entries = api.call("GET", f"/conversations/{conversation}")
    assert status == 200 and [e["body"] for e in entries["entries"]] == ["Stop"], entries


def test_an_unreadable_inbound_sms_is_dropped_and_its_neighbours_go_on(runtime: Any, api: Api) -> None:
    from chalicelib.operations import eum_inbound
    from local.providers import two_way_sms

    good = two_way_sms("+13035550731", "+15005550036", "STOP")
    answer = eum_inbound.handle([{"messageId": "1", "body": "{not json"},
                                 {"messageId": "2", "body": json.dumps({"originationNumber": "nope"})},
                                 {"messageId": "3", "body": json.dumps({"Type": "Notification",
                                                                        "Message": json.dumps(good)})}])
    assert answer == {"batchItemFailures": []}
    assert api.call("GET", f"/consent?address={quote('+13035550731')}")[1]["items"][0]["opted_out"]


def test_whatsapp_63014_in_a_status_callback_stops_whatsapp_marketing(runtime: Any, api: Api) -> None:
    """The person blocked the business (Twilio 63014, reported by the signed status callback after Twilio
    accepted the message): WhatsApp marketing to them stops; their transactional messages still go."""
    number, whatsapp_number = "+13035550740", "whatsapp:" + TWILIO_NUMBER
    marketing = configuration(api, whatsapp_number, channel_type="whatsapp", purpose="marketing",
                              sending_window={"start": "00:00", "end": "23:59"})
    transactional = configuration(api, whatsapp_number, channel_type="whatsapp")
    inbound(runtime, "whatsapp:" + number, "hi", ours=whatsapp_number)  # the 24-hour window is open
    twilio = runtime.twilio
    twilio.status_callbacks, twilio.final_status, twilio.final_error_code = True, "undelivered", "63014"
    try:
        (first,) = send(api, marketing, contact(number) | {"timezone": "UTC"})
        assert wait_state(api, first, "undelivered")["error_code"] == "63014"
    finally:
        twilio.status_callbacks, twilio.final_status, twilio.final_error_code = False, "delivered", None
    (entry,) = wait_for(lambda: (r := api.call("GET", f"/consent?address={quote(number)}"))[0] == 200 and
                        r[1]["items"][0]["entries"], 10, "the consent entry")
    assert (entry["applies_to"], entry["evidence"]["code"], entry["evidence"]["actor"]) == (
        "whatsapp_marketing", "63014", "provider")
    (blocked,) = send(api, marketing, contact(number) | {"timezone": "UTC"})
    (allowed,) = send(api, transactional, contact(number))
    wait_state(api, blocked, "opted_out")
    wait_state(api, allowed, "sent")


def test_a_change_that_changes_nothing_writes_nothing(runtime: Any) -> None:
    """Nothing to record for a person never seen (e.g. an operator's removal raced by an erasure): no empty item."""
    from chalicelib.stores import consent as consent_store

    item, changed = consent_store.change("+13035550799", lambda unchanged: unchanged)
    assert not changed and item.entries == {}
    assert consent_store.get("+13035550799") is None
