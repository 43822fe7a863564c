"""Latest-wins ordering through the local runtime, SOAP and JSON: a partner never receives an older version of a
record after a newer one, superseded versions end `superseded`, and records do not wait for each other."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from chalicelib.soap.envelope import parse_notifications
from local.providers import FakeWebhookListener, Recorded, Scripted
from tests.conftest import Api, unique_object, wait_for
from tests.e2e.test_pipeline import wait_state

pytestmark = pytest.mark.e2e


def setup(api: Api, endpoint: str, format_: str) -> tuple[str, str]:
    obj = unique_object()
    assert api.call("PUT", f"/objects/{obj}", {"fields": {"Subject": "string"}})[0] == 200
    status, definition = api.call("POST", "/outbound-messages", {
        "object": obj, "name": "Sync", "unique_name": "Sync", "endpoint_url": endpoint, "format": format_,
        "ordering": "latest_wins", "fields": ["Subject"]})
    assert status == 201, definition
    assert api.call("POST", "/rules", {"object": obj, "name": "all", "evaluation": "created_and_every_edit",
                                       "definition_ids": [definition["id"]]})[0] == 201
    return obj, str(definition["id"])


def subjects(request: Recorded) -> list[tuple[str, str]]:
    """(record id, Subject) of each notification a request carried, SOAP or JSON."""
    if request.headers.get("content-type", "").startswith("application/json"):
        notes = json.loads(request.body)["data"]["notifications"]
        return [(n["record_id"], n["record"]["Subject"]) for n in notes]
    parsed = parse_notifications(request.body)
    return [(str(n.fields["Id"]), str(n.fields["Subject"])) for n in parsed.notifications]


def messages_of(api: Api, definition_id: str, record_id: str) -> list[dict[str, Any]]:
    status, listed = api.call("GET", f"/messages?definition_id={definition_id}&record_id={record_id}&limit=100")
    assert status == 200, listed
    return list(listed["messages"])


def settled(api: Api, definition_id: str, record_id: str, count: int) -> list[dict[str, Any]]:
    return list(wait_for(lambda: (found := messages_of(api, definition_id, record_id)) and len(found) == count
                         and all(m["state"] in {"delivered", "superseded"} for m in found) and found, 40,
                         f"{count} messages of {record_id} settled"))


@pytest.mark.parametrize("format_", ["json", "soap"])
def test_three_quick_changes_to_a_failing_endpoint_deliver_the_third_once(runtime: Any, api: Api,
                                                                        listener: FakeWebhookListener,
                                                                        format_: str) -> None:
    server: Any = listener if format_ == "json" else runtime.soap
    path = f"/three-{format_}"
    obj, definition_id = setup(api, server.url + path, format_)
    server.script.extend([Scripted(503, b"busy")] * 3)
    for n in (1, 2, 3):
        assert api.call("PUT", f"/records/{obj}/r-1", {"fields": {"Subject": f"v{n}"}})[0] == 200
    found = settled(api, definition_id, "r-1", 3)
    by_state = sorted((m["order"]["version"], m["state"]) for m in found)
    assert by_state == [(1, "superseded"), (2, "superseded"), (3, "delivered")], by_state
    ours = [r for r in server.requests if r.path == path]
    acknowledged = [subjects(r) for r in ours if r.answered is not None and r.answered < 300]
    assert acknowledged == [[("r-1", "v3")]], acknowledged  # exactly one delivery: the third version
    superseded = next(m for m in found if m["order"]["version"] == 1)
    assert superseded["history"][-1]["detail"].startswith("superseded by")


def test_a_late_retry_of_an_older_version_sends_nothing(runtime: Any, api: Api,
                                                        listener: FakeWebhookListener) -> None:
    obj, definition_id = setup(api, listener.url + "/late", "json")
    assert api.call("PUT", f"/records/{obj}/r-2", {"fields": {"Subject": "v1"}})[0] == 200
    settled(api, definition_id, "r-2", 1)
    listener.script.append(Scripted(410, b"gone for now"))
    assert api.call("PUT", f"/records/{obj}/r-2", {"fields": {"Subject": "v2"}})[0] == 200
    second = wait_for(lambda: next((m for m in messages_of(api, definition_id, "r-2")
                                    if m["order"]["version"] == 2 and m["state"] == "failed"), None), 20, "v2 failed")
    endpoint = wait_for(lambda: next((e for e in api.call("GET", "/endpoints?limit=100")[1]["endpoints"]
                                      if e["endpoint_url"] == listener.url + "/late"), None), 20, "the endpoint")
    assert api.call("POST", f"/endpoints/{endpoint['id']}/resume")[0] == 200
    assert api.call("PUT", f"/records/{obj}/r-2", {"fields": {"Subject": "v3"}})[0] == 200
    wait_for(lambda: any(m["order"]["version"] == 3 and m["state"] == "delivered"
                         for m in messages_of(api, definition_id, "r-2")), 20, "v3 delivered")
    before = len([r for r in listener.deliveries() if r.path == "/late"])
    status, retried = api.call("POST", f"/messages/{second['message_id']}/retry", {})
    assert status == 202, retried
    wait_state(api, second["message_id"], "superseded")
    assert len([r for r in listener.deliveries() if r.path == "/late"]) == before  # nothing was sent


class Picky(FakeWebhookListener):
    """Slow for everyone; always 503 for one record."""

    def answer(self, request: Recorded) -> Scripted:
        if b'"record_id":"stuck"' in request.body:
            return Scripted(503, b"not this one")
        return Scripted(204, b"")


def test_many_records_many_versions_arrive_in_order_per_record_and_side_by_side(runtime: Any, api: Api) -> None:
    server = Picky().start()
    server.delay_seconds = 0.05
    try:
        obj, definition_id = setup(api, server.url + "/many", "json")
        assert api.call("PUT", f"/records/{obj}/stuck", {"fields": {"Subject": "v1"}})[0] == 200
        records = [f"rec-{n}" for n in range(20)]
        errors: list[Any] = []

        def write(record_id: str) -> None:
            for version in range(1, 6):
                status, answer = api.call("PUT", f"/records/{obj}/{record_id}", {"fields": {"Subject": f"v{version}"}})
                if status != 200:
                    errors.append(answer)

        writers = [threading.Thread(target=write, args=(r,)) for r in records]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        assert not errors, errors[:3]
        for record_id in records:  # all delivered while `stuck` keeps failing
            found = settled(api, definition_id, record_id, 5)
            assert max(m["order"]["version"] for m in found if m["state"] == "delivered") == 5
        seen: dict[str, list[int]] = {}
        for request in server.deliveries():
            if request.path == "/many" and request.answered == 204:
                for note in json.loads(request.body)["data"]["notifications"]:
                    seen.setdefault(note["record_id"], []).append(note["version"])
        for record_id in records:
            assert seen[record_id] == sorted(seen[record_id]) and seen[record_id][-1] == 5, (record_id, seen[record_id])
        assert server.most_in_flight > 1  # records went side by side
        stuck = messages_of(api, definition_id, "stuck")
        # still retrying, alone: between attempts (queued) or in one (sending), never given up
        assert stuck[0]["state"] in ("queued", "sending") and stuck[0]["attempts"] >= 1, stuck[0]
    finally:
        server.stop()


def test_records_carry_a_version_and_take_if_match(api: Api) -> None:
    obj = unique_object()
    assert api.call("PUT", f"/objects/{obj}", {"fields": {"Subject": "string"}})[0] == 200
    status, first = api.call("PUT", f"/records/{obj}/v-1", {"fields": {"Subject": "a"}})
    assert status == 200 and first["version"] == 1, first
    status, second = api.call("PUT", f"/records/{obj}/v-1", {"fields": {"Subject": "b"}}, headers={"If-Match": '"1"'})
    assert status == 200 and second["version"] == 2, second
    status, stale = api.call("PUT", f"/records/{obj}/v-1", {"fields": {"Subject": "c"}}, headers={"If-Match": '"1"'})
    assert status == 412 and stale["fields"][0]["field"] == "If-Match", stale
    status, read = api.call("GET", f"/records/{obj}/v-1")
    assert status == 200 and read["version"] == 2 and read["fields"] == {"Subject": "b"}, read
    listed = api.call("GET", f"/records/{obj}")[1]
    assert [(r["id"], r["version"]) for r in listed["records"]] == [("v-1", 2)] and "_version" not in str(listed)
    # writers racing without If-Match each get their own version
    import threading

    versions: list[int] = []
    threads = [threading.Thread(target=lambda n=n: versions.append(
        api.call("PUT", f"/records/{obj}/v-1", {"fields": {"Subject": f"w{n}"}})[1]["version"])) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(versions) == [3, 4, 5, 6, 7, 8]
