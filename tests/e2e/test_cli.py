"""bin/outbound against the running local API: list, show, retry, DLQ redrive."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from local.providers import twilio_error
from tests.conftest import Api
from tests.e2e.test_pipeline import sms_configuration, wait_state

CLI = Path(__file__).resolve().parents[2] / "bin" / "outbound"


def outbound(runtime: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OUTBOUND_API_KEY": runtime.api_key}
    return subprocess.run([str(CLI), "--api", runtime.api_url, *args], capture_output=True, text=True, timeout=60,
                          check=False, env=env)


def test_cli_lists_shows_retries_and_redrives(runtime: Any, api: Api) -> None:
    configuration_id = sms_configuration(api)
    refused = twilio_error(400, 21614, "not a mobile number")
    runtime.twilio.fail_next(1, refused.status, refused.body, refused.headers)
    status, send = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": "+14155552740", "CustomerName": "Q", "CaseName": "C", "contextitems": {"Status": "x"}}]})
    assert status == 202
    message_id = send["message_ids"][0]
    wait_state(api, message_id, "failed")

    listed = outbound(runtime, "messages", "list", "--state", "failed", "--configuration-id", configuration_id, "--all")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert rows[0][:3] == ["message_id", "channel", "state"] and rows[0][5] == "error_code"
    assert [(r[0], r[1], r[2], r[5]) for r in rows[1:]] == [(message_id, "sms", "failed", "21614")]
    assert f"filters: state=failed, configuration_id={configuration_id}" in listed.stderr

    shown = outbound(runtime, "messages", "show", message_id)
    assert shown.returncode == 0 and json.loads(shown.stdout)["payload"]["to"] == "+14155552740"

    retried = outbound(runtime, "messages", "retry", message_id)
    assert retried.returncode == 0 and "retried 1/1" in retried.stderr
    wait_state(api, message_id, "sent")
    again = outbound(runtime, "messages", "retry", message_id)  # a sent message cannot be retried
    assert again.returncode == 1 and "HTTP 409" in again.stderr
    every = outbound(runtime, "messages", "list", "--configuration-id", configuration_id, "--json")
    assert every.returncode == 0 and "filters: configuration_id=" in every.stderr  # no state: every state
    assert [(m["message_id"], m["state"]) for m in json.loads(every.stdout)] == [(message_id, "sent")]

    redriven = outbound(runtime, "dlq", "redrive", "sms", "--batch", "50")
    assert redriven.returncode == 0, redriven.stderr
    totals = json.loads(redriven.stdout)
    assert set(totals) == {"redriven", "dropped", "kept", "accepted_not_resent"} and "redriven" in redriven.stderr

    unreachable = subprocess.run([str(CLI), "--api", "http://127.0.0.1:9", "messages", "list"], capture_output=True,
                                 text=True, timeout=60, check=False)
    assert unreachable.returncode == 2 and "outbound:" in unreachable.stderr


def test_setup_installs_the_cli_as_a_command() -> None:
    """`make` installs the project (pyproject's [project.scripts]), so `outbound` is on the venv's PATH."""
    import sys
    from importlib.metadata import entry_points

    [script] = entry_points(group="console_scripts", name="outbound")
    assert script.value == "cli.outbound:main"
    ran = subprocess.run([str(Path(sys.executable).parent / "outbound"), "dlq", "--help"], capture_output=True,
                         text=True, timeout=30, check=False)
    assert ran.returncode == 0 and "redrive" in ran.stdout, ran.stderr


def test_cli_lists_updates_and_deletes_templates_and_configurations(runtime: Any, api: Api, tmp_path: Any) -> None:
    status, template = api.call("POST", "/templates", {"name": "cli-managed", "channel_type": "whatsapp",
                                                       "bodies": {"en-US": "Hi {{ CustomerName }}"}})
    assert status == 201
    listed = outbound(runtime, "templates", "list", "--channel-type", "whatsapp")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert rows[0] == ["id", "name", "channel_type", "default_locale"]
    assert [template["id"], "cli-managed", "whatsapp", "en-US"] in rows[1:]
    assert "filters: channel_type=whatsapp" in listed.stderr

    body = tmp_path / "template.json"
    body.write_text(json.dumps({"name": "cli-managed", "channel_type": "whatsapp",
                                "bodies": {"en-US": "Hello {{ CustomerName }}"}}))
    updated = outbound(runtime, "templates", "update", template["id"], "--file", str(body), "--version", "1")
    assert updated.returncode == 0 and "version 2" in updated.stderr, updated.stderr
    stale = outbound(runtime, "templates", "update", template["id"], "--file", str(body), "--version", "1")
    assert stale.returncode == 2 and "HTTP 412" in stale.stderr, stale.stderr
    shown = outbound(runtime, "templates", "show", template["id"])
    assert json.loads(shown.stdout)["bodies"] == {"en-US": "Hello {{ CustomerName }}"}

    status, configuration = api.call("POST", "/outbound-configurations", {
        "name": "cli-managed", "channel_type": "whatsapp", "channel": "+15005550006", "template_id": template["id"]})
    assert status == 201, configuration
    used = outbound(runtime, "templates", "delete", template["id"])
    assert used.returncode == 2 and "HTTP 409" in used.stderr and configuration["id"] in used.stderr
    configurations = outbound(runtime, "configurations", "list", "--json")
    assert configuration["id"] in [c["id"] for c in json.loads(configurations.stdout)]
    assert outbound(runtime, "configurations", "delete", configuration["id"]).returncode == 0
    deleted = outbound(runtime, "templates", "delete", template["id"], "--version", "2")
    assert deleted.returncode == 0 and f"deleted {template['id']}" in deleted.stderr
    assert api.call("GET", f"/templates/{template['id']}")[0] == 404


def test_cli_covers_objects_definitions_and_rules(runtime: Any, api: Api) -> None:
    from tests.e2e.test_pipeline import soap_setup

    obj, definition_id = soap_setup(api, runtime.soap.url + "/cli")
    objects = outbound(runtime, "objects", "show", obj)
    assert objects.returncode == 0 and json.loads(objects.stdout)["fields"]["Subject"] == "string"
    definitions = outbound(runtime, "definitions", "list", "--object", obj)
    rows = [line.split("\t") for line in definitions.stdout.splitlines()]
    assert rows[0] == ["id", "name", "object", "endpoint_url"] and [r[0] for r in rows[1:]] == [definition_id]
    assert f"filters: object={obj}" in definitions.stderr
    rules = json.loads(outbound(runtime, "rules", "list", "--object", obj, "--json").stdout)
    refused = outbound(runtime, "definitions", "delete", definition_id)
    assert refused.returncode == 2 and "HTTP 409" in refused.stderr and rules[0]["id"] in refused.stderr
    assert outbound(runtime, "rules", "delete", rules[0]["id"], "--version", "1").returncode == 0
    assert outbound(runtime, "definitions", "delete", definition_id).returncode == 0


def test_cli_covers_records_schedules_and_conversations(runtime: Any, api: Api, tmp_path: Any) -> None:
    from tests.conftest import unique_object

    obj = unique_object()
    assert api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {"Subject": "string"}})[0] == 200
    assert api.call("PUT", f"/records/{obj}/cli-1", {"fields": {"Subject": "first"}})[0] == 200
    listed = outbound(runtime, "records", "list", obj)
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert rows == [["id", "fields"], ["cli-1", '{"Subject": "first"}']], listed.stderr
    assert outbound(runtime, "records", "delete", obj, "cli-1").returncode == 0
    assert api.call("GET", f"/records/{obj}/cli-1")[0] == 404

    configuration_id = sms_configuration(api)
    status, schedule = api.call("POST", "/schedules", {"configuration_id": configuration_id, "rate": "rate(7 days)",
                                                       "contacts": [{"tocontactid": "+14155552750",
                                                                     "CustomerName": "Q", "CaseName": "C",
                                                                     "contextitems": {"Status": "x"}}]})
    assert status == 201, schedule
    schedules = outbound(runtime, "schedules", "list", "--configuration-id", configuration_id)
    assert schedule["id"] in schedules.stdout and "filters: configuration_id=" in schedules.stderr
    change = tmp_path / "pause.json"
    change.write_text('{"state": "paused"}')
    paused = outbound(runtime, "schedules", "update", schedule["id"], "--file", str(change), "--version", "1")
    assert paused.returncode == 0 and json.loads(paused.stdout)["state"] == "paused", paused.stderr
    stale = outbound(runtime, "schedules", "update", schedule["id"], "--file", str(change), "--version", "1")
    assert stale.returncode == 2 and "HTTP 412" in stale.stderr
    assert outbound(runtime, "schedules", "delete", schedule["id"]).returncode == 0

    none = outbound(runtime, "conversations", "list", "--contact", "+14155552750")
    assert none.returncode == 0 and none.stdout.splitlines()[0].split("\t")[0] == "conversation_id"
    assert "filters: contact=+14155552750" in none.stderr
    missing = outbound(runtime, "conversations", "show", "conv_missing_cli")
    assert missing.returncode == 2 and "HTTP 404" in missing.stderr


def test_cli_lists_and_resumes_endpoints(runtime: Any, api: Api, listener: Any) -> None:
    """A disabled endpoint (410 Gone) is listed with its reason and resumed from the CLI."""
    from tests.e2e.test_json_webhooks import disabled_endpoint

    url, _ = disabled_endpoint(api, listener, "/cli-gone")
    listed = [e for e in json.loads(outbound(runtime, "endpoints", "list", "--json").stdout)
              if e["endpoint_url"] == url and e["state"] == "disabled"]
    assert listed and "410" in listed[0]["reason"]
    table = outbound(runtime, "endpoints", "list")
    assert table.stdout.splitlines()[0].split("\t") == ["id", "state", "failures", "probe_at", "endpoint_url", "reason"]
    resumed = outbound(runtime, "endpoints", "resume", listed[0]["id"])
    assert resumed.returncode == 0 and json.loads(resumed.stdout)["state"] == "closed"
    assert outbound(runtime, "endpoints", "resume", "ep_nope").returncode == 2


def test_cli_keeps_the_consent_list_and_erases_a_person(runtime: Any, api: Api, tmp_path: Path) -> None:
    added = outbound(runtime, "consent", "add", "+1 303 555 0801", "--scope", "brand-cli", "--note", "by phone")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["entries"][0]["scope"] == "brand-cli"
    shown = outbound(runtime, "consent", "list", "--address", "+13035550801")
    assert json.loads(shown.stdout)["items"][0]["opted_out"] is True
    csv = tmp_path / "consent.csv"
    csv.write_text("address,scope,status\n+13035550802,global,opted_out\n")
    imported = outbound(runtime, "consent", "import", str(csv))
    assert imported.returncode == 0 and "imported 1" in imported.stderr, imported.stderr
    exported = outbound(runtime, "consent", "export")
    assert "+13035550802,global,all,opted_out,import" in exported.stdout
    listed = outbound(runtime, "consent", "list")
    assert listed.returncode == 0 and "+13035550801\tTrue\tbrand-cli:all:opted_out" in listed.stdout
    removed = outbound(runtime, "consent", "remove", "+13035550801", "--scope", "brand-cli")
    assert json.loads(removed.stdout)["opted_out"] is False
    erased = outbound(runtime, "contacts", "erase", "+13035550802")
    assert erased.returncode == 0 and json.loads(erased.stdout)["erased"]["consent"].startswith("kept")
    bad = outbound(runtime, "consent", "add", "not-a-number")
    assert bad.returncode == 2 and "address" in bad.stderr


def test_cli_finds_a_message_by_its_providers_id(runtime: Any, api: Api) -> None:
    configuration_id = sms_configuration(api)
    status, sent = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": "+14155552741", "CustomerName": "P", "CaseName": "C", "contextitems": {"Status": "x"}}]})
    assert status == 202
    record = wait_state(api, sent["message_ids"][0], "sent")
    found = outbound(runtime, "messages", "list", "--provider-id", record["provider_message_id"])
    assert found.returncode == 0, found.stderr
    rows = [line.split("\t") for line in found.stdout.splitlines()[1:]]
    assert [r[0] for r in rows] == [record["message_id"]]
    assert f"provider_message_id={record['provider_message_id']}" in found.stderr
