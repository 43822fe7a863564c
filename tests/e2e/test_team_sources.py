"""The team's own events and tables as record changes, through the local runtime: events put on moto's
EventBridge reach the stack's rule, its queue and on_record_event; a table of the team's own, with a stream,
drives the rules through the records-stream function. Both end in the same notifications as a record API write."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest

from chalicelib.soap.envelope import parse_notifications
from tests.conftest import Api, unique_object, wait_for
from tests.e2e.test_ordering import messages_of

pytestmark = pytest.mark.e2e


def soap_notified(runtime: Any, path: str) -> list[dict[str, Any]]:
    """The notifications the SOAP listener acknowledged on `path`, in arrival order."""
    notes: list[dict[str, Any]] = []
    for request in runtime.soap.requests:
        if request.path == path and request.answered is not None and request.answered < 300:
            notes += [dict(n.fields) for n in parse_notifications(request.body).notifications]
    return notes


def definition(api: Api, obj: str, url: str, evaluation: str = "created_and_every_edit",
               criteria: dict[str, Any] | None = None) -> str:
    status, created = api.call("POST", "/outbound-messages", {
        "object": obj, "name": "Team", "unique_name": "Team", "endpoint_url": url, "fields": ["Status", "Lines"]})
    assert status == 201, created
    rule: dict[str, Any] = {"object": obj, "name": "team", "evaluation": evaluation,
                            "definition_ids": [created["id"]]}
    if criteria:
        rule["criteria"] = criteria
    assert api.call("POST", "/rules", rule)[0] == 201
    return str(created["id"])


def put_events(runtime: Any, *entries: dict[str, Any]) -> None:
    answer = runtime.client("events").put_events(Entries=[
        {"Source": e["source"], "DetailType": e["detail_type"], "Detail": json.dumps(e["detail"]),
         **({"Time": e["time"]} if "time" in e else {})} for e in entries])
    assert answer["FailedEntryCount"] == 0, answer


def test_an_event_on_the_bus_is_a_record_change_that_reaches_the_listener(runtime: Any, api: Api) -> None:
    obj, source = unique_object(), f"com.acme.orders.{secrets.token_hex(4)}"
    status, schema = api.call("PUT", f"/objects/{obj}", {
        "fields": {"Status": "string", "Lines": "int"},
        "events": {"source": source, "detail_type": "OrderChanged", "id_pointer": "/order/id",
                   "fields_pointer": "/order", "previous_pointer": "/before"}})
    assert status == 200 and schema["events"]["source"] == source, schema
    path = f"/events-{obj}"
    definition_id = definition(api, obj, runtime.soap.url + path, "created_and_edited_to_meet_criteria",
                               {"conditions": [{"field": "Status", "op": "equals", "value": "Paid"}]})
    put_events(runtime, {"source": source, "detail_type": "OrderChanged",
                         "detail": {"order": {"id": "o-1", "Status": "Paid", "Lines": 2, "Note": "not a field"}}})
    notes = wait_for(lambda: soap_notified(runtime, path), 30, "the event's notification")
    assert [(n["Id"], n["Status"], n["Lines"]) for n in notes] == [("o-1", "Paid", "2")], notes
    status, record = api.call("GET", f"/records/{obj}/o-1")
    assert status == 200 and record["fields"] == {"Status": "Paid", "Lines": 2}, record  # no `_` attributes shown
    # an edit that says it was already Paid does not meet the criteria anew; one from New does
    put_events(runtime, {"source": source, "detail_type": "OrderChanged",
                         "detail": {"order": {"id": "o-2", "Status": "Paid"}, "before": {"Status": "Paid"}}},
               {"source": source, "detail_type": "OrderChanged",
                "detail": {"order": {"id": "o-3", "Status": "Paid"}, "before": {"Status": "New"}}})
    wait_for(lambda: any(n["Id"] == "o-3" for n in soap_notified(runtime, path)), 30, "o-3 notified")
    wait_for(lambda: api.call("GET", f"/records/{obj}/o-2")[0] == 200, 10, "o-2 written")
    time.sleep(1.5)  # o-2's change went through the stream by now (it was written before o-3 was delivered)
    assert not messages_of(api, definition_id, "o-2")


def test_events_apply_in_their_own_order_once_each(runtime: Any, api: Api) -> None:
    obj, source = unique_object(), f"com.acme.ordered.{secrets.token_hex(4)}"
    assert api.call("PUT", f"/objects/{obj}", {"fields": {"Status": "string", "Lines": "int"}, "events": {
        "source": source, "detail_type": "Changed", "id_pointer": "/id", "order_pointer": "/seq"}})[0] == 200
    path = f"/ordered-{obj}"
    definition(api, obj, runtime.soap.url + path)
    put_events(runtime, {"source": source, "detail_type": "Changed", "detail": {"id": "r-1", "seq": 2, "Status": "two"}})
    wait_for(lambda: soap_notified(runtime, path), 30, "the newer event")
    # the older event arrives late, the newer one again (published anew: another event id, the same version):
    # neither changes the record nor sends anything
    put_events(runtime, {"source": source, "detail_type": "Changed", "detail": {"id": "r-1", "seq": 1, "Status": "one"}},
               {"source": source, "detail_type": "Changed", "detail": {"id": "r-1", "seq": 2, "Status": "two"}},
               {"source": source, "detail_type": "Changed", "detail": {"id": "r-1", "seq": 3, "Status": "three"}})
    wait_for(lambda: len(soap_notified(runtime, path)) >= 2, 30, "the third event")
    time.sleep(1.5)
    assert [n["Status"] for n in soap_notified(runtime, path)] == ["two", "three"]
    assert api.call("GET", f"/records/{obj}/r-1")[1]["fields"]["Status"] == "three"


def test_one_records_events_are_totally_ordered_and_a_change_applies_once(runtime: Any) -> None:
    """The store's rule, deterministically: a producer's order (a version) names one change, so the same version
    published again under another event id writes nothing; an order by event time (whole seconds) lets two
    changes share a second, the event id breaking the tie, and a redelivery of the same event writes nothing."""
    from chalicelib.platform.settings import get_settings
    from chalicelib.stores.records import put_event as put

    def version(n: int) -> str:
        return "n" + str(n).zfill(30)

    item = {"object_type": unique_object(), "id": "r-1", "Status": "two"}
    assert put(item, version(2), "ev-b", None)
    assert not put({**item, "Status": "again"}, version(2), "ev-z", None)  # republished: a later id, same change
    assert not put({**item, "Status": "one"}, version(1), "ev-zz", None)  # older
    assert put({**item, "Status": "three"}, version(3), "ev-a", None)
    timed = {"object_type": unique_object(), "id": "r-2", "Status": "first"}
    second = "t2026-12-05T14:00:00Z"
    assert put(timed, second, "ev-b", None)
    assert not put(timed, second, "ev-b", None)  # the same event delivered again
    assert put({**timed, "Status": "same second"}, second, "ev-c", None)
    assert not put({**timed, "Status": "earlier id"}, second, "ev-a", None)
    found = runtime.client("dynamodb").get_item(TableName=get_settings().records_table, Key={
        "object_type": {"S": item["object_type"]}, "id": {"S": "r-1"}})["Item"]
    assert found["Status"] == {"S": "three"} and found["_version"] == {"N": "2"}


def test_an_event_that_fails_the_checks_is_listed_and_replays_once_fixed(runtime: Any, api: Api) -> None:
    obj, source = unique_object(), f"com.acme.bad.{secrets.token_hex(4)}"
    declared = {"source": source, "detail_type": "Changed", "id_pointer": "/id"}
    assert api.call("PUT", f"/objects/{obj}", {"fields": {"Status": "string", "Lines": "int"},
                                               "events": declared})[0] == 200
    path = f"/fixed-{obj}"
    definition(api, obj, runtime.soap.url + path)
    put_events(runtime, {"source": source, "detail_type": "Changed", "detail": {"id": "bad-1", "Lines": "many"}},
               {"source": source, "detail_type": "Changed", "detail": {"id": "good-1", "Lines": 3}})
    wait_for(lambda: [n for n in soap_notified(runtime, path) if n["Id"] == "good-1"], 30, "the good neighbour")

    def listed() -> dict[str, Any] | None:
        failures = api.call("GET", "/stream-failures")[1]["stream_failures"]
        return next((f for f in failures if f["object_type"] == obj), None)

    failure = wait_for(listed, 20, "the refused event listed")
    assert failure["kind"] == "event" and failure["replayable"] and "detail.Lines" in failure["reason"], failure
    status, still = api.call("POST", f"/stream-failures/{failure['id']}/replay")
    assert status == 409, still  # nothing changed yet
    # the producer's field is text after all: the object says so, and the kept event goes through
    status, _ = api.call("PUT", f"/objects/{obj}", {"fields": {"Status": "string", "Lines": "string"},
                                                    "events": declared})
    assert status == 200
    status, replayed = api.call("POST", f"/stream-failures/{failure['id']}/replay")
    assert status == 200, replayed
    wait_for(lambda: [n for n in soap_notified(runtime, path) if n["Id"] == "bad-1"], 30, "the replayed event")
    assert listed() is None


def test_a_teams_table_stream_drives_the_rules_and_a_poison_item_fails_alone(runtime: Any, api: Api) -> None:
    table = f"shop-{secrets.token_hex(4)}"
    dynamodb = runtime.client("dynamodb")
    created = dynamodb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    obj = unique_object()
    status, body = api.call("PUT", f"/objects/{obj}", {"fields": {"Status": "string", "Lines": "int"}, "table": {
        "name": table, "id_attributes": ["pk"], "type_attribute": "kind", "type_value": "order"}})
    assert status == 200, body
    path = f"/table-{obj}"
    definition_id = definition(api, obj, runtime.soap.url + path)
    runtime.watch_table_stream(created["TableDescription"]["LatestStreamArn"])

    def put(pk: str, **values: Any) -> None:
        item = {"pk": {"S": pk}, "kind": {"S": values.pop("kind", "order")}}
        for name, value in values.items():
            item[name] = {"N": str(value)} if isinstance(value, int) else {"S": str(value)}
        dynamodb.put_item(TableName=table, Item=item)

    put("A-1", Status="New", Lines=1)
    put("bad id", Status="New")  # no record id can hold a space: kept as a stream failure, alone
    put("A-2", Status="New", Lines=2**40)  # no xsd:int: sent without that field, as for a record API write
    put("I-1", kind="invoice", Status="New")  # an item no object takes
    put("A-1", Status="Shipped", Lines=1)
    put("A-3", Status="New", Lines=3)
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "A-3"}})  # removals fire no rule
    wait_for(lambda: {n["Id"] for n in soap_notified(runtime, path)} >= {"A-1", "A-3"}, 30, "the good items")
    time.sleep(1.5)
    notes = soap_notified(runtime, path)
    assert [(n["Id"], n["Status"], n.get("Lines")) for n in notes] == [
        ("A-1", "New", "1"), ("A-2", "New", None), ("A-1", "Shipped", "1"), ("A-3", "New", "3")], notes
    failures = api.call("GET", "/stream-failures")[1]["stream_failures"]
    poison = [f for f in failures if table in f["stream_arn"]]
    assert len(poison) == 1 and "letters, digits" in poison[0]["reason"] and poison[0]["replayable"], poison
    assert [m["state"] for m in messages_of(api, definition_id, "A-1")] == ["delivered", "delivered"]


def test_the_walkthroughs_put_event_reaches_the_rule_as_aws_events_put_events_would(runtime: Any, api: Api) -> None:
    import subprocess
    import sys

    obj, source = unique_object(), f"com.acme.cli.{secrets.token_hex(4)}"
    assert api.call("PUT", f"/objects/{obj}", {"fields": {"Status": "string"}, "events": {
        "source": source, "detail_type": "CaseChanged", "id_pointer": "/Id"}})[0] == 200
    done = subprocess.run(
        [sys.executable, "-m", "local.put_event", "--source", source, "--detail-type", "CaseChanged", "--detail",
         '{"Id": "500xx000000bpnTAAQ", "Status": "New"}', "--moto-port", str(runtime.options.moto_port)],
        capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0 and json.loads(done.stdout)["FailedEntryCount"] == 0, done.stdout + done.stderr
    record = wait_for(lambda: (found := api.call("GET", f"/records/{obj}/500xx000000bpnTAAQ"))[0] == 200 and found[1],
                      20, "the record the event wrote")
    assert record["fields"] == {"Status": "New"}
