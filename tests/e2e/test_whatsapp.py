"""WhatsApp as WhatsApp allows it today: free text inside the 24-hour window
a contact's own message opens, the approved Twilio content template (ContentSid + ContentVariables) outside it,
and a clear `template_required` failure, without any provider call, when there is none for the contact."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from twilio.rest import Client

from chalicelib.core import clock
from chalicelib.models.messages import SmsPayload
from chalicelib.senders import twilio as twilio_sender
from tests.conftest import Api
from tests.e2e.test_pipeline import wait_state

OURS = "+15005550011"  # the WhatsApp sender of these tests only
CONTENT_SID = "HX" + "0123456789abcdef" * 2
GERMAN_SID = "HX" + "fedcba9876543210" * 2


def whatsapp_configuration(api: Api, content: dict[str, Any] | None) -> str:
    template: dict[str, Any] = {
        "name": "case update", "channel_type": "whatsapp", "default_locale": "en-US",
        "bodies": {"en-US": "Hi {{ CustomerName }}, case {{ CaseName }} is open.",
                   "de-DE": "Hallo {{ CustomerName }}, Fall {{ CaseName }} ist offen."}}
    if content is not None:
        template["content"] = content
    status, created = api.call("POST", "/templates", template)
    assert status == 201, created
    status, configuration = api.call("POST", "/outbound-configurations", {
        "name": "wa", "channel_type": "whatsapp", "channel": OURS, "template_id": created["id"]})
    assert status == 201, configuration
    return str(configuration["id"])


CONTENT = {
    "en-US": {"content_sid": CONTENT_SID, "variables": {"1": "{{ CustomerName }}", "2": "{{ CaseName }}"}},
    "de-DE": {"content_sid": GERMAN_SID, "variables": {"1": "{{ CustomerName }}", "2": "{{ CaseName }}"}},
}


def contact(number: str, **extra: Any) -> dict[str, Any]:
    return {"tocontactid": number, "CustomerName": "Jörg", "CaseName": "C-7", **extra}


def writes_in(runtime: Any, number: str) -> None:
    status, _ = runtime.twilio.send_inbound(f"{runtime.api_url}/webhooks/twilio/inbound", f"whatsapp:{number}",
                                            f"whatsapp:{OURS}", "Hello?")
    assert status == 200


def sent_form(runtime: Any, number: str) -> dict[str, str]:
    forms = [f for f in runtime.twilio.messages() if f.get("To") == f"whatsapp:{number}"]
    assert len(forms) == 1, forms
    return forms[0]


def send(api: Api, configuration_id: str, *contacts: dict[str, Any]) -> list[str]:
    status, answer = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": list(contacts)})
    assert status == 202, answer
    return list(answer["message_ids"])


def test_free_text_inside_the_window_the_content_template_outside_it(runtime: Any, api: Api) -> None:
    configuration_id = whatsapp_configuration(api, CONTENT)
    recent, stale, never, german = "+13035550400", "+13035550401", "+13035550402", "+13035550403"
    writes_in(runtime, stale)
    clock.advance(21 * 3600)
    writes_in(runtime, recent)
    clock.advance(3 * 3600)  # recent wrote 3 hours ago, stale 24 hours ago
    ids = send(api, configuration_id, contact(recent), contact(stale), contact(never),
               contact(german, locale="de-AT", CustomerName="Grüße an Jörg"))
    for message_id in ids:
        wait_state(api, message_id, "sent")
    free = sent_form(runtime, recent)
    assert free["Body"] == "Hi Jörg, case C-7 is open." and "ContentSid" not in free
    for number in (stale, never):
        form = sent_form(runtime, number)
        assert "Body" not in form and form["ContentSid"] == CONTENT_SID
        assert json.loads(form["ContentVariables"]) == {"1": "Jörg", "2": "C-7"}
        assert form["From"] == f"whatsapp:{OURS}"
    form = sent_form(runtime, german)  # de-AT: the German content template, as the German body would be picked
    assert form["ContentSid"] == GERMAN_SID and json.loads(form["ContentVariables"])["1"] == "Grüße an Jörg"
    ours = [f for f in runtime.twilio.outside_window if f.get("From") == f"whatsapp:{OURS}"]
    assert ours == [], "free text outside the window: WhatsApp would fail it with 63016"


def test_without_a_content_template_outside_the_window_the_message_fails_as_template_required(
        runtime: Any, api: Api) -> None:
    configuration_id = whatsapp_configuration(api, None)
    inside, outside = "+13035550410", "+13035550411"
    writes_in(runtime, inside)
    ids = send(api, configuration_id, contact(inside), contact(outside))
    assert wait_state(api, ids[0], "sent")
    record = wait_state(api, ids[1], "failed")
    assert record["error_code"] == "template_required" and "24-hour" in record["last_error"]
    assert not [f for f in runtime.twilio.messages() if f.get("To") == f"whatsapp:{outside}"]


def test_sendastemplate_and_templateparameters_as_dynamics_takes_them(runtime: Any, api: Api) -> None:
    configuration_id = whatsapp_configuration(api, CONTENT)
    forced, listed = "+13035550420", "+13035550421"
    writes_in(runtime, forced)
    writes_in(runtime, listed)
    ids = send(api, configuration_id, contact(forced, sendastemplate=True, templateparameters={"2": "C-8"}),
               contact(listed, sendastemplate=True, templateparameters=["Ana", 42]))
    for message_id in ids:
        wait_state(api, message_id, "sent")
    assert json.loads(sent_form(runtime, forced)["ContentVariables"]) == {"1": "Jörg", "2": "C-8"}
    assert json.loads(sent_form(runtime, listed)["ContentVariables"]) == {"1": "Ana", "2": "42"}


def test_preview_says_which_form_a_contact_would_get(runtime: Any, api: Api) -> None:
    status, template = api.call("POST", "/templates", {
        "name": "p", "channel_type": "whatsapp", "bodies": {"en-US": "Hi {{ CustomerName }}"}, "content": CONTENT})
    assert status == 201, template
    wrote = "+13035550430"
    writes_in(runtime, wrote)
    preview = f"/templates/{template['id']}/preview"
    status, answer = api.call("POST", preview, {"contact": contact(wrote), "channel": OURS})
    assert status == 200, answer
    assert (answer["form"], answer["window_open"], answer["body"]) == ("freeform", True, "Hi Jörg")
    assert answer["content_sid"] == CONTENT_SID and answer["content_variables"] == {"1": "Jörg", "2": "C-7"}
    status, answer = api.call("POST", preview, {"contact": contact("+13035550431"), "channel": OURS})
    assert (answer["form"], answer["window_open"], answer["last_inbound"]) == ("template", False, None)
    status, answer = api.call("POST", preview, {"contact": contact("+13035550431")})
    assert (answer["form_inside_window"], answer["form_outside_window"]) == ("freeform", "template")
    assert "form" not in answer
    status, answer = api.call("POST", preview, {"contact": contact("+13035550431", CustomerName="a\nb")})
    assert status == 400 and answer["fields"][0]["field"] == "contact", answer
    status, answer = api.call("POST", preview, {"contact": contact("not a number"), "channel": OURS})
    assert status == 400 and answer["fields"][0]["field"] == "contact.tocontactid", answer


def test_bad_whatsapp_input_is_refused_at_the_door_naming_the_field(api: Api) -> None:
    base = {"name": "x", "channel_type": "whatsapp", "bodies": {"en-US": "Hi"}}
    for change, field in (
        ({"channel_type": "sms", "content": CONTENT}, "content"),
        ({"content": {"en-US": {"content_sid": "HX123"}}}, "content.en-US.content_sid"),
        ({"content": {"en-US": {"content_sid": CONTENT_SID, "variables": {"1": "{{ x"}}}},
         "content.en-US.variables.1"),
        ({"content": {"en-US": {"content_sid": CONTENT_SID, "variables": {"one two": "x"}}}}, "content.en-US.variables"),
    ):
        status, body = api.call("POST", "/templates", {**base, **change})
        assert status == 400 and body["fields"][0]["field"].startswith(field), (change, body)
    configuration_id = whatsapp_configuration(api, CONTENT)
    for entry, field in (
        (contact("+13035550440", CustomerName="two\nlines"), "contacts.0"),
        (contact("+13035550440", templateparameters={"1": "     five spaces"}), "contacts.0"),
        (contact("+13035550440", CustomerName=" "), "contacts.0"),
    ):
        status, body = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [entry]})
        assert status == 400 and body["fields"][0]["field"] == field, (entry, body)
    status, template = api.call("POST", "/templates", {**base, "channel_type": "sms"})
    status, sms = api.call("POST", "/outbound-configurations", {
        "name": "s", "channel_type": "sms", "channel": "+15005550006", "template_id": template["id"]})
    status, body = api.call("POST", "/sends", {"configuration_id": sms["id"],
                                               "contacts": [contact("+13035550441", sendastemplate=True)]})
    assert status == 400 and body["fields"][0]["field"] == "contacts.0.sendastemplate", body
    status, plain = api.call("POST", "/templates", base)
    status, cfg = api.call("POST", "/outbound-configurations", {
        "name": "w", "channel_type": "whatsapp", "channel": OURS, "template_id": plain["id"]})
    status, body = api.call("POST", "/sends", {"configuration_id": cfg["id"],
                                               "contacts": [contact("+13035550442", sendastemplate=True)]})
    assert status == 400 and body["fields"][0]["field"] == "contacts.0.sendastemplate", body


def test_the_content_template_request_is_the_one_twilios_sdk_sends(runtime: Any) -> None:
    """twilio-python's `messages.create(content_sid=..., content_variables=...)` and our sender, both against the
    loopback Twilio: the same form fields, the same values (ContentVariables compared as JSON)."""
    account, token = runtime.twilio.account_sid, runtime.twilio.auth_token
    variables = {"1": "Jörg", "2": "C-7"}
    client = Client(account, token)
    client.api.base_url = runtime.twilio.url
    before = len(runtime.twilio.requests)
    client.messages.create(to="whatsapp:+13035550450", from_=f"whatsapp:{OURS}", content_sid=CONTENT_SID,
                           content_variables=json.dumps(variables), status_callback="https://example.com/cb")
    payload = SmsPayload(to="+13035550450", sender=OURS, body="free text", status_callback="https://example.com/cb",
                         content_sid=CONTENT_SID, content_variables=variables)
    url, body, headers = twilio_sender.build_request("whatsapp", payload, account, token, as_template=True)
    with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers, method="POST")) as answer:
        assert answer.status == 201
    sdk, ours = runtime.twilio.requests[before:before + 2]
    assert sdk.path == ours.path and sdk.headers["authorization"] == ours.headers["authorization"]
    sdk_form, our_form = sdk.form(), ours.form()
    assert json.loads(sdk_form.pop("ContentVariables")) == json.loads(our_form.pop("ContentVariables"))
    assert sdk_form == our_form


def test_a_reply_opens_the_window_only_forward(runtime: Any) -> None:
    """A webhook Twilio redelivers later does not move the window; only a newer message does."""
    from chalicelib.stores import contact_windows

    first = clock.now()
    contact_windows.note_inbound("whatsapp", OURS, "+13035550460", first)
    contact_windows.note_inbound("whatsapp", OURS, "+13035550460", first.replace(year=first.year - 1))
    assert contact_windows.last_inbound("whatsapp", f"whatsapp:{OURS}", "whatsapp:+13035550460") == first
