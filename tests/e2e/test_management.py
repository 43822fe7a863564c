"""Operators see and change what is configured, and every message, through the API."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.conftest import Api
from tests.e2e.test_pipeline import message, wait_state

BODY = {"name": "mgmt", "channel_type": "sms", "default_locale": "en-US",
        "bodies": {"en-US": "First {{ CustomerName }}"}}


def contact(number: str) -> dict[str, Any]:
    return {"tocontactid": number, "CustomerName": "Ana"}


def send(api: Api, configuration_id: str, number: str) -> str:
    status, sent = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [contact(number)]})
    assert status == 202, sent
    return str(sent["message_ids"][0])


def test_templates_are_listed_read_with_a_version_updated_only_from_the_current_one_and_deleted_when_unused(
        runtime: Any, api: Api) -> None:
    status, template = api.call("POST", "/templates", {**BODY, "name": "mgmt-a"})
    assert status == 201, template
    template_id = template["id"]
    status, listed = api.call("GET", "/templates?channel_type=sms&name=mgmt-a")
    assert status == 200 and [t["id"] for t in listed["templates"]] == [template_id]
    status, read = api.call("GET", f"/templates/{template_id}")
    assert status == 200 and read["version"] == 1
    status, configuration = api.call("POST", "/outbound-configurations", {
        "name": "mgmt-a", "channel_type": "sms", "channel": "+15005550006", "template_id": template_id})
    assert status == 201, configuration
    before = send(api, configuration["id"], "+12025550601")
    wait_state(api, before, "sent")

    changed = {**BODY, "name": "mgmt-a", "bodies": {"en-US": "Second {{ CustomerName }}"}}
    status, updated = api.call("PUT", f"/templates/{template_id}", changed, headers={"If-Match": '"1"'})
    assert status == 200 and updated["version"] == 2, updated
    status, refused = api.call("PUT", f"/templates/{template_id}", {**changed, "bodies": {"en-US": "Third"}},
                               headers={"If-Match": '"1"'})
    assert status == 412 and refused["fields"][0]["field"] == "If-Match", refused
    assert api.call("GET", f"/templates/{template_id}")[1]["bodies"] == {"en-US": "Second {{ CustomerName }}"}
    status, refused = api.call("PUT", f"/templates/{template_id}", {**changed, "channel_type": "whatsapp"})
    assert status == 409 and refused["fields"][0]["field"] == "channel_type", refused
    status, refused = api.call("PUT", f"/templates/{template_id}", {**changed, "bodies": {"en-US": "{{ x"}})
    assert status == 400 and refused["fields"][0]["field"] == "bodies.en-US", refused

    after = send(api, configuration["id"], "+12025550602")
    wait_state(api, after, "sent")
    assert message(api, before)["payload"]["body"] == "First Ana"  # a message keeps what it was rendered from
    assert message(api, after)["payload"]["body"] == "Second Ana"

    status, refused = api.call("DELETE", f"/templates/{template_id}")
    assert status == 409 and configuration["id"] in refused["message"], refused
    assert api.call("DELETE", f"/outbound-configurations/{configuration['id']}")[0] == 204
    assert api.call("DELETE", f"/templates/{template_id}", headers={"If-Match": '"1"'})[0] == 412
    assert api.call("DELETE", f"/templates/{template_id}", headers={"If-Match": '"2"'})[0] == 204
    assert api.call("GET", f"/templates/{template_id}")[0] == 404
    assert api.call("GET", "/templates?nope=1")[1]["fields"][0]["field"] == "nope"


def test_configurations_are_listed_updated_and_not_deleted_while_a_schedule_uses_them(runtime: Any, api: Api) -> None:
    status, template = api.call("POST", "/templates", {**BODY, "name": "mgmt-b"})
    assert status == 201
    base = {"name": "mgmt-b", "channel_type": "sms", "channel": "+15005550006", "template_id": template["id"]}
    configuration = api.call("POST", "/outbound-configurations", base)[1]
    configuration_id = configuration["id"]
    status, listed = api.call("GET", f"/outbound-configurations?template_id={template['id']}")
    assert status == 200 and [c["id"] for c in listed["configurations"]] == [configuration_id]
    status, updated = api.call("PUT", f"/outbound-configurations/{configuration_id}",
                               {**base, "channel": "+15005550007"})
    assert status == 200 and updated["channel"] == "+15005550007" and updated["version"] == 2, updated
    status, refused = api.call("PUT", f"/outbound-configurations/{configuration_id}",
                               {**base, "template_id": "tpl_nope"})
    assert status == 404 and refused["fields"][0]["field"] == "template_id", refused
    status, schedule = api.call("POST", "/schedules", {"configuration_id": configuration_id, "rate": "rate(7 days)",
                                                       "contacts": [contact("+12025550603")]})
    assert status == 201, schedule
    status, refused = api.call("DELETE", f"/outbound-configurations/{configuration_id}")
    assert status == 409 and schedule["id"] in refused["message"], refused
    # Schedules carry versions too: a stale change is refused and Scheduler keeps the current one.
    path = f"/schedules/{schedule['id']}"
    assert api.call("GET", path)[1]["version"] == 1
    status, paused = api.call("PATCH", path, {"state": "paused"}, headers={"If-Match": '"1"'})
    assert status == 200 and paused["version"] == 2 and paused["state"] == "paused", paused
    status, refused = api.call("PATCH", path, {"state": "active"}, headers={"If-Match": '"1"'})
    assert status == 412 and refused["fields"][0]["field"] == "If-Match", refused
    remote = runtime.client("scheduler").get_schedule(Name=schedule["id"], GroupName="outbound-local")
    assert remote["State"] == "DISABLED" and api.call("GET", path)[1]["state"] == "paused"
    assert api.call("DELETE", path, headers={"If-Match": '"1"'})[0] == 412
    assert api.call("DELETE", path, headers={"If-Match": '"2"'})[0] in (200, 204)
    assert api.call("DELETE", f"/outbound-configurations/{configuration_id}")[0] == 204
    assert api.call("GET", f"/outbound-configurations/{configuration_id}")[0] == 404


def test_messages_without_a_state_lists_every_state_newest_first(runtime: Any, api: Api) -> None:
    """`outbound messages list` printed "0 message(s)" right after nine deliveries: no state meant `failed`."""
    from local.providers import twilio_error

    status, template = api.call("POST", "/templates", {**BODY, "name": "mgmt-c"})
    configuration_id = api.call("POST", "/outbound-configurations", {
        "name": "mgmt-c", "channel_type": "sms", "channel": "+15005550006", "template_id": template["id"]})[1]["id"]
    first = send(api, configuration_id, "+12025550604")
    wait_state(api, first, "sent")
    refused = twilio_error(400, 21614, "not a mobile number")
    runtime.twilio.fail_next(1, refused.status, refused.body, refused.headers)
    second = send(api, configuration_id, "+12025550605")
    wait_state(api, second, "failed")
    third = send(api, configuration_id, "+12025550606")
    wait_state(api, third, "sent")
    status, page = api.call("GET", f"/messages?configuration_id={configuration_id}")
    assert status == 200, page
    listed = page["messages"]
    assert [(m["message_id"], m["state"]) for m in listed] == [(third, "sent"), (second, "failed"), (first, "sent")]
    status, failed = api.call("GET", f"/messages?configuration_id={configuration_id}&state=failed")
    assert [m["message_id"] for m in failed["messages"]] == [second]
    status, health = api.call("GET", f"/message-health?configuration_id={configuration_id}&hours=1")
    assert status == 200 and health["complete"] is True, health
    assert (health["total"], health["by_state"], health["failure_rate"]) == (3, {"failed": 1, "sent": 2}, 0.3333)
    assert health["last_error"]["message_id"] == second and health["last_error"]["error_code"] == "21614"
    assert health["oldest_pending"] is None
    assert api.call("GET", "/message-health?hours=0")[1]["fields"][0]["field"] == "hours"


def test_objects_definitions_and_rules_are_read_with_a_version_and_changed_only_from_the_current_one(
        api: Api) -> None:
    from tests.conftest import unique_object

    obj = unique_object()
    status, schema = api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {"Subject": "string",
                                                                                 "Priority": "int"}})
    assert status == 200 and schema["version"] == 1, schema
    names, cursor = [], ""
    while True:  # every object, page by page
        page = api.call("GET", "/objects?limit=100" + (f"&cursor={quote(cursor)}" if cursor else ""))[1]
        names += [o["name"] for o in page["objects"]]
        if not page["cursor"]:
            break
        cursor = page["cursor"]
    assert obj in names and names == sorted(names)
    status, definition = api.call("POST", "/outbound-messages", {
        "object": obj, "name": "Versioned", "unique_name": "Versioned", "endpoint_url": "https://erp.example.com/s",
        "fields": ["Subject"]})
    assert status == 201, definition
    status, rule = api.call("POST", "/rules", {"object": obj, "name": "r", "definition_ids": [definition["id"]],
                                               "criteria": {"conditions": [{"field": "Priority", "op": "greater_than",
                                                                            "value": 2}]}})
    assert status == 201, rule

    # Definitions: GET, change, PUT back with the version it read; a second writer with the same version loses.
    status, read = api.call("GET", f"/outbound-messages/{definition['id']}")
    assert status == 200 and read["version"] == 1
    read.pop("id")
    assert api.call("PUT", f"/outbound-messages/{definition['id']}", {**read, "name": "Renamed"})[1]["version"] == 2
    status, refused = api.call("PUT", f"/outbound-messages/{definition['id']}", {**read, "name": "Lost update"})
    assert status == 412 and refused["fields"][0]["field"] == "If-Match", refused
    assert api.call("GET", f"/outbound-messages/{definition['id']}")[1]["name"] == "Renamed"

    # Rules: read, replace (checked as a new rule), stale write refused.
    status, read_rule = api.call("GET", f"/rules/{rule['id']}")
    assert status == 200 and read_rule["version"] == 1
    changed = {k: v for k, v in read_rule.items() if k not in ("id", "version")} | {"name": "r2"}
    status, updated = api.call("PUT", f"/rules/{rule['id']}", changed, headers={"If-Match": '"1"'})
    assert status == 200 and updated["name"] == "r2" and updated["version"] == 2, updated
    status, refused = api.call("PUT", f"/rules/{rule['id']}", changed, headers={"If-Match": '"1"'})
    assert status == 412, refused
    status, refused = api.call("PUT", f"/rules/{rule['id']}", {**changed, "definition_ids": ["04knope"]})
    assert status == 404 and refused["fields"][0]["field"] == "definition_ids.0", refused

    # Objects: a field a rule or definition uses cannot be dropped; the object cannot go while they exist.
    status, refused = api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {"Subject": "string"}})
    assert status == 409 and rule["id"] in refused["message"], refused
    status, refused = api.call("DELETE", f"/objects/{obj}")
    assert status == 409 and definition["id"] in refused["message"] and rule["id"] in refused["message"], refused
    assert api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {"Subject": "string", "Priority": "int",
                                                                       "Status": "string"}},
                    headers={"If-Match": '"1"'})[1]["version"] == 2
    assert api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {}}, headers={"If-Match": '"1"'})[0] == 412
    assert api.call("DELETE", f"/rules/{rule['id']}", headers={"If-Match": '"2"'})[0] == 204
    assert api.call("DELETE", f"/outbound-messages/{definition['id']}", headers={"If-Match": '"1"'})[0] == 412
    assert api.call("DELETE", f"/outbound-messages/{definition['id']}", headers={"If-Match": '"2"'})[0] == 204
    assert api.call("DELETE", f"/objects/{obj}")[0] == 204
    assert api.call("GET", f"/objects/{obj}")[0] == 404


def test_records_are_listed_page_by_page_and_deleted(api: Api) -> None:
    from tests.conftest import unique_object

    obj = unique_object()
    assert api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {"Subject": "string"}})[0] == 200
    for record_id in ("r1", "r2", "r3"):
        assert api.call("PUT", f"/records/{obj}/{record_id}", {"fields": {"Subject": record_id}})[0] == 200
    status, first = api.call("GET", f"/records/{obj}?limit=2")
    assert status == 200 and [r["id"] for r in first["records"]] == ["r1", "r2"] and first["cursor"], first
    status, second = api.call("GET", f"/records/{obj}?limit=2&cursor={quote(first['cursor'])}")
    assert [(r["id"], r["fields"]) for r in second["records"]] == [("r3", {"Subject": "r3"})]
    assert api.call("DELETE", f"/records/{obj}/r2")[0] == 204
    assert api.call("GET", f"/records/{obj}/r2")[0] == 404
    assert api.call("DELETE", f"/records/{obj}/r2")[0] == 404
    assert [r["id"] for r in api.call("GET", f"/records/{obj}")[1]["records"]] == ["r1", "r3"]
    status, refused = api.call("GET", f"/records/{obj}?cursor={quote(first['cursor'].swapcase())}")
    assert status == 400 and refused["fields"][0]["field"] == "cursor", refused
    assert api.call("GET", "/records/NoSuchObject")[0] == 404


def test_messages_are_found_by_contact_across_configurations_and_by_record_id(runtime: Any, api: Api) -> None:
    from tests.conftest import wait_for
    from tests.e2e.test_pipeline import soap_setup

    ids = []
    for name, number in (("mgmt-d", "+12025550610"), ("mgmt-e", "+12025550611"), ("mgmt-f", "+12025550610")):
        template = api.call("POST", "/templates", {**BODY, "name": name})[1]
        configuration_id = api.call("POST", "/outbound-configurations", {
            "name": name, "channel_type": "sms", "channel": "+15005550006", "template_id": template["id"]})[1]["id"]
        ids.append(send(api, configuration_id, number))
        wait_state(api, ids[-1], "sent")
    status, page = api.call("GET", f"/messages?contact={quote('+1 (202) 555-0610')}")
    assert status == 200 and [m["message_id"] for m in page["messages"]] == [ids[2], ids[0]], page
    status, page = api.call("GET", f"/messages?contact={quote('+12025550610')}&limit=1")
    assert [m["message_id"] for m in page["messages"]] == [ids[2]] and page["cursor"]
    status, page = api.call("GET", f"/messages?contact={quote('+12025550610')}&limit=1&cursor={quote(page['cursor'])}")
    assert [m["message_id"] for m in page["messages"]] == [ids[0]]
    assert api.call("GET", f"/messages?contact={quote('+12025550610')}&state=failed")[1]["messages"] == []
    status, refused = api.call("GET", "/messages?contact=not-a-number!")
    assert status == 400 and refused["fields"][0]["field"] == "contact", refused

    obj, definition_id = soap_setup(api, runtime.soap.url + "/by-record")
    assert api.call("PUT", f"/records/{obj}/rec-find-me", {"fields": {"Subject": "x"}})[0] == 200
    found = wait_for(lambda: api.call("GET", "/messages?record_id=rec-find-me")[1]["messages"], what="the message")
    assert [m["definition_id"] for m in found] == [definition_id] and "rec-find-me" in found[0]["payload"]["record_ids"]


def test_a_replacement_cannot_change_what_its_resource_is_bound_to(api: Api) -> None:
    """A template's and a configuration's channel type, a rule's object: a PUT that changes it is a 409 naming
    the field and the current value, and the stored version stays as it was."""
    from tests.conftest import unique_object

    template = api.call("POST", "/templates", {"name": "bound", "channel_type": "sms", "default_locale": "en-US",
                                               "bodies": {"en-US": "Hi"}})[1]
    configuration = api.call("POST", "/outbound-configurations", {
        "name": "bound", "channel_type": "sms", "channel": "+15005550006", "template_id": template["id"]})[1]
    obj, other = unique_object(), unique_object()
    for name in (obj, other):
        assert api.call("PUT", f"/objects/{name}", {"name": name, "fields": {"Subject": "string"}})[0] == 200
    definition = api.call("POST", "/outbound-messages", {
        "object": obj, "name": "Bound", "unique_name": "Bound", "endpoint_url": "https://erp.example.com/s",
        "fields": ["Subject"]})[1]
    rule = api.call("POST", "/rules", {"object": obj, "name": "r", "definition_ids": [definition["id"]]})[1]
    cases = [(f"/templates/{template['id']}", "channel_type", "whatsapp", "this template is sms"),
             (f"/outbound-configurations/{configuration['id']}", "channel_type", "whatsapp",
              "this configuration is sms"),
             (f"/rules/{rule['id']}", "object", other, f"this rule is on {obj}")]
    for path, field, value, kept in cases:
        status, read = api.call("GET", path)
        assert status == 200 and read["version"] == 1, read
        status, refused = api.call("PUT", path, {k: v for k, v in read.items() if k not in {"id", "warnings"}}
                                   | {field: value})
        assert status == 409 and refused["fields"] == [
            {"field": field, "message": f"cannot change after creation ({kept})"}], refused
        assert api.call("GET", path)[1] == read
