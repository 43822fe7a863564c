"""The team's events and tables read as record changes (pure): JSON pointers, the record API's checks on an
event's values, the order key, and a fed table's stream records; each evaluation mode fires as it does for the
records table's own changes."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.core.errors import ApiError
from chalicelib.core.event_records import change_from_event, objects_for, order_key, resolve
from chalicelib.core.rules import fires
from chalicelib.models.definitions import Rule
from chalicelib.models.records import EventSource, ObjectSchema, ObjectSchemaInput, SourceTable
from chalicelib.platform.dynamo_codec import to_item
from chalicelib.triggers.stream_records import parse, table_name

ORDERS = ObjectSchema(name="Order", fields={"Status": "string", "Total": "double", "Lines": "int"},
                      events=EventSource(source="com.acme.orders", detail_type="OrderChanged", id_pointer="/order/id",
                                         fields_pointer="/order", previous_pointer="/before"))


def event(detail: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"version": "0", "id": "ev-1", "source": "com.acme.orders", "detail-type": "OrderChanged",
            "time": "2026-12-05T14:00:00Z", "detail": detail, **extra}


def test_json_pointers_follow_rfc_6901() -> None:
    document = {"a/b": {"m~n": [10, {"x": None}]}, "": 1}
    assert resolve(document, "") is document
    assert resolve(document, "/a~1b/m~0n/0") == 10
    assert resolve(document, "/a~1b/m~0n/1/x") is None
    assert resolve(document, "/") == 1
    for missing in ("/nope", "/a~1b/m~0n/2", "/a~1b/m~0n/01", "/a~1b/m~0n/-"):
        with pytest.raises(KeyError):
            resolve(document, missing)


def test_an_event_becomes_the_record_with_only_the_objects_fields() -> None:
    change = change_from_event(ORDERS, event({"order": {"id": "o-1", "Status": "Paid", "Total": 12.5,
                                                        "Customer": {"nested": True}}}))
    assert (change.object_type, change.record_id, change.fields) == ("Order", "o-1", {"Status": "Paid", "Total": 12.5})
    assert change.previous is None and change.order == "t2026-12-05T14:00:00Z" and change.event_id == "ev-1"
    with_before = change_from_event(ORDERS, event({"order": {"id": 7, "Status": "Paid"}, "before": {"Status": "New"}}))
    assert with_before.record_id == "7" and with_before.previous == {"Status": "New"}


@pytest.mark.parametrize(("detail", "field", "says"), [
    ({"order": {"Status": "x"}}, "detail/order/id", "not in the event"),
    ({"order": {"id": "o 1"}}, "detail/order/id", "letters, digits"),
    ({"order": {"id": True}}, "detail/order/id", "text or an integer"),
    ({"order": {"id": "o-1", "Lines": 2**40}}, "detail/order.Lines", "integer between"),
    ({"order": {"id": "o-1", "Lines": "3"}}, "detail/order.Lines", "integer"),
    ({"order": {"id": "o-1", "Status": "bell\x07"}}, "detail/order.Status", ""),
    ({"order": {"id": "o-1", "Total": 10**17 + 1}}, "detail/order.Total", "digits"),
    ({"order": {"id": "o-1", "Status": "ok"}, "before": ["not", "an", "object"]}, "detail/before", "JSON object"),
    ({"order": "o-1"}, "detail/order/id", "not in the event"),
])
def test_values_the_record_api_refuses_are_refused_naming_where_they_are(detail: dict[str, Any], field: str,
                                                                        says: str) -> None:
    with pytest.raises(ApiError) as refused:
        change_from_event(ORDERS, event(detail))
    assert refused.value.status == 400 and refused.value.fields[0]["field"] == field, refused.value.fields
    assert says in refused.value.fields[0]["message"]


def test_order_keys_sort_as_their_values() -> None:
    assert order_key(9, "f") < order_key(10, "f") < order_key("2026-01-01", "f") < order_key("2026-01-02", "f")
    for bad in (-1, 10**30, 1.5, "", "x" * 201, None, True):
        with pytest.raises(ApiError):
            order_key(bad, "f")
    assert ORDERS.events is not None
    ordered = ORDERS.model_copy(update={"events": ORDERS.events.model_copy(update={"order_pointer": "/seq"})})
    assert change_from_event(ordered, event({"order": {"id": "o-1"}, "seq": 42})).order == "n" + "42".zfill(30)


def test_objects_declare_their_events_and_tables_strictly() -> None:
    assert objects_for([ORDERS], "com.acme.orders", "OrderChanged") == [ORDERS]
    assert objects_for([ORDERS], "com.acme.orders", "OrderDeleted") == []
    with pytest.raises(ValidationError, match="aws."):
        EventSource(source="aws.s3", detail_type="Object Created", id_pointer="/id")
    with pytest.raises(ValidationError):
        EventSource(source="com.acme", detail_type="X", id_pointer="no-slash")
    with pytest.raises(ValidationError, match="go together"):
        ObjectSchemaInput.model_validate({"table": {"name": "orders", "id_attributes": ["pk"], "type_value": "x"}})


def stream_record(new: dict[str, Any] | None, old: dict[str, Any] | None = None, *, keys: dict[str, Any],
                  name: str = "INSERT", table: str = "outbound-local-records", sequence: str = "100") -> dict[str, Any]:
    dynamodb: dict[str, Any] = {"Keys": to_item(keys), "SequenceNumber": sequence, "ApproximateCreationDateTime": 1.7e9}
    if new is not None:
        dynamodb["NewImage"] = to_item(new)
    if old is not None:
        dynamodb["OldImage"] = to_item(old)
    return {"eventID": f"e-{sequence}", "eventName": name, "dynamodb": dynamodb,
            "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-12-05T00:00:00.000"}


def test_a_record_written_from_an_event_with_values_before_is_an_edit_of_them() -> None:
    keys = {"object_type": "Order", "id": "o-1"}
    new = {**keys, "Status": "Paid", "_version": 1, "_order": "t1", "_event": "ev-1", "_previous": {"Status": "New"}}
    change = parse(stream_record(new, keys=keys))
    assert change is not None and change.kind == "MODIFY"
    assert change.old == {"Id": "o-1", "Status": "New"} and change.new == {"Id": "o-1", "Status": "Paid"}
    plain = parse(stream_record({**keys, "Status": "Paid", "_order": "t1", "_event": "ev-1"}, keys=keys))
    assert plain is not None and plain.kind == "INSERT" and plain.new == {"Id": "o-1", "Status": "Paid"}


@pytest.mark.parametrize(("evaluation", "before", "fired"), [
    ("created", None, True), ("created", "New", False),
    ("created_and_every_edit", None, True), ("created_and_every_edit", "Paid", True),
    ("created_and_edited_to_meet_criteria", None, True), ("created_and_edited_to_meet_criteria", "New", True),
    ("created_and_edited_to_meet_criteria", "Paid", False),
])
def test_each_evaluation_mode_with_and_without_values_before(evaluation: str, before: str | None,
                                                              fired: bool) -> None:
    rule = Rule.model_validate({"id": "rul_1", "object": "Order", "name": "paid", "evaluation": evaluation,
                                "criteria": {"conditions": [{"field": "Status", "op": "equals", "value": "Paid"}]},
                                "definition_ids": ["def_1"]})
    detail: dict[str, Any] = {"order": {"id": "o-1", "Status": "Paid"}}
    if before is not None:
        detail["before"] = {"Status": before}
    change = change_from_event(ORDERS, event(detail))
    keys = {"object_type": "Order", "id": "o-1"}
    extra = {"_previous": change.previous} if change.previous is not None else {}
    parsed = parse(stream_record({**keys, **change.fields, **extra}, keys=keys))
    assert parsed is not None and fires(rule, parsed) is fired


FED = ObjectSchema(name="Shipment", fields={"Status": "string"},
                   table=SourceTable(name="shop", id_attributes=["pk", "sk"], type_attribute="kind",
                                     type_value="shipment"))


def test_a_fed_tables_items_are_records_of_the_object_that_takes_them() -> None:
    feeds = {"shop": [FED]}
    keys = {"pk": "S1", "sk": "v0"}
    raw = stream_record({**keys, "kind": "shipment", "Status": "Sent"}, {**keys, "kind": "shipment", "Status": "New"},
                        keys=keys, name="MODIFY", table="shop")
    assert table_name(raw) == "shop"
    change = parse(raw, feeds)
    assert change is not None and (change.object_type, change.record_id, change.kind) == ("Shipment", "S1:v0", "MODIFY")
    assert change.new == {"Id": "S1:v0", "kind": "shipment", "Status": "Sent"} and change.old is not None
    assert change.version == 0  # ordered by the stream's sequence numbers
    assert parse(stream_record({**keys, "kind": "invoice"}, keys=keys, table="shop"), feeds) is None
    removed = parse(stream_record(None, {**keys, "kind": "shipment"}, keys=keys, name="REMOVE", table="shop"), feeds)
    assert removed is not None and removed.kind == "REMOVE" and removed.new is None
    with pytest.raises(ValueError, match="NEW_AND_OLD_IMAGES"):
        parse(stream_record(None, keys=keys, table="shop"), feeds)
    with pytest.raises(ValueError, match="letters, digits"):
        parse(stream_record({"pk": "a b", "sk": "c", "kind": "shipment"}, keys={"pk": "a b", "sk": "c"}, table="shop"),
              feeds)
    # the records table's own records are read as before, whatever tables feed objects
    ours = parse(stream_record({"object_type": "Order", "id": "o-1"}, keys={"object_type": "Order", "id": "o-1"}),
                 feeds)
    assert ours is not None and ours.object_type == "Order"
