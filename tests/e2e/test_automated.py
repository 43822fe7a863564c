"""Automated customer sends: a record event fires a rule whose configuration messages the record's related
contacts, end to end through the records stream, the SMS sender and the loopback Twilio."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, unique_object, wait_for
from tests.e2e.test_pipeline import message


def setup(api: Api) -> tuple[str, str]:
    contact, case = unique_object(), unique_object()
    assert api.call("PUT", f"/objects/{contact}", {"name": contact, "fields": {
        "MobilePhone": "string", "FullName": "string", "Locale": "string", "OptIn": "boolean"}})[0] == 200
    assert api.call("PUT", f"/objects/{case}", {"name": case, "fields": {
        "Subject": "string", "Status": "string", "ContactId": "string", "SecondaryContactId": "string",
        "ThirdContactId": "string"}})[0] == 200
    for record_id, fields in (
        ("003A", {"MobilePhone": "+1 415 555 2700", "FullName": "Jörg", "Locale": "de-DE", "OptIn": True}),
        ("003B", {"MobilePhone": "+14155552701", "FullName": "Bo", "OptIn": False}),
    ):
        assert api.call("PUT", f"/records/{contact}/{record_id}", {"fields": fields})[0] == 200
    status, template = api.call("POST", "/templates", {
        "name": "case created", "channel_type": "sms", "default_locale": "en-US",
        "bodies": {"en-US": "Hi {{ CustomerName }}, we opened {{ CaseName }} ({{ Status }}).",
                   "de-DE": "Hallo {{ CustomerName }}, Fall {{ CaseName }} ist eröffnet ({{ Status }})."}})
    assert status == 201
    status, configuration = api.call("POST", "/outbound-configurations", {
        "name": "case created", "channel_type": "sms", "channel": "+15005550006", "template_id": template["id"],
        "show_in_timeline": True})
    assert status == 201
    rule = {"object": case, "name": "case created", "evaluation": "created",
            "configuration_ids": [configuration["id"]]}
    status, body = api.call("POST", "/rules", rule)
    assert status == 400 and body["fields"][0]["field"] == "recipients"
    status, body = api.call("POST", "/rules", {**rule, "recipients": {"via": ["Nope"], "contact_object": contact}})
    assert status == 409 and body["fields"][0]["field"] == "recipients.via.0"
    status, body = api.call("POST", "/rules", {**rule, "configuration_ids": ["cfg_nope"],
                                               "recipients": {"via": ["ContactId"], "contact_object": contact}})
    assert status == 404 and body["fields"][0]["field"] == "configuration_ids.0"
    status, body = api.call("POST", "/rules", {**rule, "recipients": {
        "via": ["ContactId", "SecondaryContactId", "ThirdContactId"], "contact_object": contact,
        "case_name_field": "Subject"}})
    assert status == 201, body
    return case, str(configuration["id"])


def test_case_created_messages_its_contacts(runtime: Any, api: Api) -> None:
    case, configuration_id = setup(api)
    status, _ = api.call("PUT", f"/records/{case}/500AUTO1", {"fields": {
        "Subject": "Printer on fire", "Status": "New", "ContactId": "003A", "SecondaryContactId": "003B",
        "ThirdContactId": "003C"}})
    assert status == 200
    sms = wait_for(lambda: [m for m in runtime.twilio.messages() if m["To"] == "+14155552700"], what="automated SMS")
    assert sms[0]["Body"] == "Hallo Jörg, Fall Printer on fire ist eröffnet (New)."
    def activities() -> dict[str, dict[str, Any]]:
        status, timeline = api.call("GET", f"/entities/{case}/500AUTO1/timeline")
        assert status == 200
        found = {a["state"]: message(api, a["message_id"]) for a in timeline["activities"]}
        return found if {"sent", "opted_out", "failed"} <= set(found) else {}

    by_state = wait_for(activities, what="three messages on the case's timeline")
    assert by_state["sent"]["payload"]["to"] == "+14155552700" and by_state["sent"]["source"]["kind"] == "stream"
    assert by_state["opted_out"]["payload"]["to"] == "+14155552701"
    assert not any(m["To"] == "+14155552701" for m in runtime.twilio.messages())
    failed = by_state["failed"]
    assert "003C does not exist" in failed["last_error"] and failed["error_code"] == "invalid_contact"
    assert {m["configuration_id"] for m in by_state.values()} == {configuration_id}


def test_recurring_cron_schedule_is_planned_for_its_next_run(api: Api) -> None:
    from datetime import datetime

    from chalicelib.core import clock
    from chalicelib.core import schedule_expressions as se
    from tests.e2e.test_pipeline import sms_configuration

    configuration_id = sms_configuration(api)
    contacts = [{"tocontactid": "+14155552710", "CustomerName": "A", "CaseName": "C", "contextitems": {"Status": "x"}}]
    status, body = api.call("POST", "/schedules", {"configuration_id": configuration_id, "contacts": contacts,
                                                   "cron": "cron(0 9 L * ? *)"})
    assert status == 400 and body["fields"][0]["field"] == "cron"
    before = clock.now()
    status, schedule = api.call("POST", "/schedules", {"configuration_id": configuration_id, "contacts": contacts,
                                                       "cron": "0 9 ? * MON-FRI *"})
    assert status == 201, schedule
    assert schedule["expression"] == "cron(0 9 ? * MON-FRI *)" and schedule["timezone"] == "UTC"
    planned = datetime.fromisoformat(schedule["next_fire_times"][0].replace("Z", "+00:00"))
    assert planned == se.next_fire(se.parse(schedule["expression"]), se.zone("UTC"), before, before)
    assert api.call("DELETE", f"/schedules/{schedule['id']}")[0] == 204


def test_an_automated_sms_over_the_providers_limit_fails_as_too_long(runtime: Any, api: Api) -> None:
    """An instant send refuses it with a 400 naming the contact; an automated one records `failed`, code
    `too_long`, and sends nothing."""
    case, configuration_id = setup(api)
    long_subject, long_status = "S" * 990, "T" * 700  # each within a contact value's 1,000; together over 1,600
    status, _ = api.call("PUT", f"/records/{case}/500LONG1", {"fields": {
        "Subject": long_subject, "Status": long_status, "ContactId": "003A"}})
    assert status == 200

    def failed() -> dict[str, Any] | None:
        listed = api.call("GET", f"/messages?state=failed&configuration_id={configuration_id}")[1]["messages"]
        return next((m for m in listed if m["error_code"] == "too_long"), None)

    record = wait_for(failed, what="the too-long automated message")
    assert "renders to more than 1600 characters" in record["last_error"]
    assert not any(m["To"] == "+14155552700" and long_subject in m["Body"] for m in runtime.twilio.messages())
