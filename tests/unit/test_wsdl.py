"""The WSDL we serve is usable: its schema accepts exactly what we send, and zeep builds a listener from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import zeep
from lxml import etree

from chalicelib.models.records import FieldType, value_problem
from chalicelib.soap.envelope import OUTBOUND, SOAPENV, Notification, build_envelope, read_ack
from chalicelib.soap.wsdl import build_wsdl, schema_of

TYPES = {"Id": FieldType.id, "Subject": FieldType.string, "Priority": FieldType.int, "Amount": FieldType.double,
         "IsEscalated": FieldType.boolean, "DueDate": FieldType.date, "ClosedAt": FieldType.datetime,
         "AccountId": FieldType.id}
FIELDS = {"Id": "case-42", "Subject": "Printer <on> fire", "Priority": 2, "Amount": 12.5, "IsEscalated": False,
          "DueDate": "2026-12-01", "ClosedAt": "2026-11-24T10:00:00Z", "AccountId": "001xx000003DGb2AAG"}


def envelope(fields: dict[str, Any], count: int = 1, org: str = "00Dxx0000001gPLEAY") -> bytes:
    return build_envelope(
        organization_id=org, action_id="04kxx0000000007EAA", session_id=None,
        enterprise_url="https://example.com/c", partner_url="https://example.com/u", object_type="Case",
        field_types=TYPES,
        notifications=[Notification(id=f"04lxx0000000q6T{n:03d}", fields=fields) for n in range(count)],
    )


def notifications(xml: bytes) -> Any:
    return etree.fromstring(xml).find(f"{{{SOAPENV}}}Body/{{{OUTBOUND}}}notifications")


@pytest.fixture(scope="module")
def wsdl() -> bytes:
    return build_wsdl(object_type="Case", field_types=TYPES, endpoint_url="https://erp.example.com/listener")


def test_envelope_with_every_field_type_validates_against_the_wsdl_schema(wsdl: bytes) -> None:
    schema = schema_of(wsdl)
    assert schema.validate(notifications(envelope(FIELDS, count=100))), schema.error_log
    sparse = {"Id": "case-43", "Subject": None}  # nulls are left out, which the schema allows
    assert schema.validate(notifications(envelope(sparse))), schema.error_log


@pytest.mark.parametrize(("mutate", "complaint"), [
    (lambda x: x.replace(b"<sf:Priority>2<", b"<sf:Priority>two<"), "xs:int"),
    (lambda x: x.replace(b"<sf:DueDate>2026-12-01<", b"<sf:DueDate>next week<"), "xs:date"),
    (lambda x: x.replace(b"00Dxx0000001gPLEAY", b"00D-short"), "ID"),
    (lambda x: x.replace(b"<sf:Subject>", b"<sf:Unknown>x</sf:Unknown><sf:Subject>"), "Unknown"),
])
def test_schema_refuses_what_a_listener_would_refuse(wsdl: bytes, mutate: Any, complaint: str) -> None:
    schema = schema_of(wsdl)
    assert not schema.validate(notifications(mutate(envelope(FIELDS))))
    assert complaint in str(schema.error_log)


def test_more_than_100_notifications_break_the_schema(wsdl: bytes) -> None:
    xml = envelope(FIELDS)
    root = etree.fromstring(xml)
    body = root.find(f"{{{SOAPENV}}}Body/{{{OUTBOUND}}}notifications")
    note = body.find(f"{{{OUTBOUND}}}Notification")
    for _ in range(100):
        body.append(etree.fromstring(etree.tostring(note)))
    assert not schema_of(wsdl).validate(body)


def test_zeep_listener_generated_from_the_wsdl_reads_our_message_and_its_ack_is_accepted(
        wsdl: bytes, tmp_path: Path) -> None:
    path = tmp_path / "listener.wsdl"
    path.write_bytes(wsdl)
    client = zeep.Client(str(path))
    port = client.wsdl.services["NotificationService"].ports["Notification"]
    assert port.binding_options["address"] == "https://erp.example.com/listener"
    operation = port.binding.get("notifications")
    assert operation.soapaction == ""
    request = operation.input.deserialize(etree.fromstring(envelope(FIELDS, count=2)))
    assert request.OrganizationId == "00Dxx0000001gPLEAY" and request.SessionId is None
    assert [n.Id for n in request.Notification] == ["04lxx0000000q6T000", "04lxx0000000q6T001"]
    sobject = request.Notification[0].sObject
    assert (sobject.Id, sobject.Subject, sobject.Priority, sobject.Amount, sobject.IsEscalated) == (
        "case-42", "Printer <on> fire", 2, 12.5, False)
    assert str(sobject.DueDate) == "2026-12-01" and sobject.ClosedAt.year == 2026
    answer = operation.output.serialize(Ack=True)
    assert read_ack(etree.tostring(answer.content)) == (True, None)
    assert read_ack(etree.tostring(operation.output.serialize(Ack=False).content))[0] is False


@pytest.mark.parametrize(("kind", "value", "ok"), [
    (FieldType.int, 3, True), (FieldType.int, True, False), (FieldType.int, 2**31, False), (FieldType.int, "3", False),
    (FieldType.double, 1, True), (FieldType.double, 1.5, True), (FieldType.double, "1.5", False),
    (FieldType.boolean, False, True), (FieldType.boolean, 0, False),
    (FieldType.date, "2026-11-24", True), (FieldType.date, "2026-11-24T10:00:00", False),
    (FieldType.datetime, "2026-11-24T10:00:00Z", True), (FieldType.datetime, "2026-11-24", False),
    (FieldType.datetime, "2026-11-24T10:00:00.123+02:00", True), (FieldType.datetime, "2026-11-24T10:00:00", True),
    # what XML Schema's dateTime cannot hold, though ISO 8601 (and Python) would read it
    (FieldType.datetime, "2026-11-24T10:00:00+0200", False), (FieldType.datetime, "20261124T100000", False),
    (FieldType.datetime, "2026-W48-2T10:00:00", False), (FieldType.datetime, "2026-11-24 10:00:00Z", False),
    (FieldType.datetime, "2026-11-24T10:00:00+15:00", False), (FieldType.datetime, "2026-11-24T10:00:00+02:75", False),
    (FieldType.datetime, "2026-02-30T10:00:00Z", False), (FieldType.datetime, "2026-11-24T10:00Z", False),
    (FieldType.date, "20261124", False), (FieldType.date, "2026-W48-2", False), (FieldType.date, "2026-328", False),
    (FieldType.date, "2026-02-29", False), (FieldType.date, "2028-02-29", True),
    (FieldType.double, float("nan"), False), (FieldType.double, float("inf"), False),
    (FieldType.string, "x", True), (FieldType.string, 1, False), (FieldType.string, None, True),
])
def test_value_problem(kind: FieldType, value: Any, ok: bool) -> None:
    assert (value_problem(kind, value) is None) is ok


@pytest.mark.parametrize("salesforce_ids", [True, False])
def test_wide_definitions_in_any_order_reach_a_zeep_listener(salesforce_ids: bool, tmp_path: Path) -> None:
    """300 fields of every type, selected in a random order: the WSDL's sequence and the envelope agree."""
    import random

    from chalicelib.core import ids
    from chalicelib.models.definitions import OutboundMessageDefinition
    from chalicelib.models.records import ObjectSchema
    from chalicelib.soap.notifications import Pending, build_from

    rng = random.Random(7)
    kinds = list(FieldType)
    declared = {f"{rng.choice('abcXYZ')}{n}_{rng.choice(['', '_c', 'Z'])}": kinds[n % len(kinds)] for n in range(300)}
    picked = list(declared)
    rng.shuffle(picked)
    schema = ObjectSchema(name="Wide__c", fields=declared, salesforce_ids=salesforce_ids)
    definition = OutboundMessageDefinition(id=ids.random_sf_id("04k"), object="Wide__c", name="w", unique_name="W",
                                           endpoint_url="https://erp.example.com/w", fields=picked)
    values = {FieldType.string: "s", FieldType.id: ids.sf_id("001", "x"), FieldType.boolean: True,
              FieldType.int: 7, FieldType.double: 2.5, FieldType.date: "2026-01-31",
              FieldType.datetime: "2026-01-31T23:59:59-05:00"}
    record_id = ids.sf_id("a0W", "1") if salesforce_ids else "wide-1"
    image = {"Id": record_id, **{name: values[kind] for name, kind in declared.items()}}
    (message,) = build_from(definition, schema, [Pending(ids.sf_id("04l", "w"), record_id, image, "t")])
    envelope = message.payload.envelope.encode()  # type: ignore[union-attr]
    document = build_wsdl(object_type="Wide__c", field_types=definition.field_types(schema),
                          endpoint_url=definition.endpoint_url, salesforce_ids=salesforce_ids)
    assert schema_of(document).validate(notifications(envelope))
    path = tmp_path / "wide.wsdl"
    path.write_bytes(document)
    operation = zeep.Client(str(path)).wsdl.services["NotificationService"].ports["Notification"].binding.get(
        "notifications")
    sobject = operation.input.deserialize(etree.fromstring(envelope)).Notification[0].sObject
    assert sobject.Id == record_id
    for name, kind in declared.items():
        value = getattr(sobject, name)
        if kind == FieldType.datetime:
            assert value.isoformat() == "2026-02-01T04:59:59+00:00"
        elif kind == FieldType.date:
            assert str(value) == "2026-01-31"
        else:
            assert value == values[kind], name
    xsd = "{http://www.w3.org/2001/XMLSchema}"
    typed = {e.get("name"): e.get("type") for e in etree.fromstring(document).iter(f"{xsd}element")
             if e.getparent().getparent().get("name") in {"sObject", None}}
    assert typed["Id"] == ("ent:ID" if salesforce_ids else "xsd:string")
    reference = next(name for name, kind in declared.items() if kind == FieldType.id)
    assert typed[reference] == typed["Id"]


def test_an_object_whose_ids_are_not_salesforce_form_cannot_claim_them() -> None:
    """Ids of a plain object stay strings (any 1-64 characters); a Salesforce-form object's record with a bad
    Id (written around the API) becomes a failed, retryable message of its own, not an invalid envelope."""
    from chalicelib.core import ids
    from chalicelib.models.definitions import OutboundMessageDefinition
    from chalicelib.models.records import ObjectSchema
    from chalicelib.soap.notifications import Pending, build_from

    definition = OutboundMessageDefinition(id=ids.random_sf_id("04k"), object="Case", name="c", unique_name="C",
                                           endpoint_url="https://erp.example.com/c", fields=["Ref"])
    pending = [Pending(ids.sf_id("04l", n), n, {"Id": n, "Ref": "001xx000003DGb2"}, "t")
               for n in ("case-1", ids.sf_id("500", "2"))]
    plain = build_from(definition, ObjectSchema(name="Case", fields={"Ref": FieldType.id}), pending)
    assert [m.state for m in plain] == ["queued"] and "001xx000003DGb2" in plain[0].payload.envelope  # type: ignore[union-attr]
    strict = build_from(definition, ObjectSchema(name="Case", fields={"Ref": FieldType.id}, salesforce_ids=True),
                        pending)
    assert sorted(m.state for m in strict) == ["failed", "queued"]
    failed = next(m for m in strict if m.state == "failed")
    assert failed.error_code == "unbuildable" and "case-1" in (failed.last_error or "")
    sent = next(m for m in strict if m.state == "queued")
    # the 15-character reference is not an ID: the field is left out rather than failing the listener's schema
    assert "001xx000003DGb2" not in sent.payload.envelope  # type: ignore[union-attr]
