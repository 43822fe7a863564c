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
    (FieldType.string, "x", True), (FieldType.string, 1, False), (FieldType.string, None, True),
])
def test_value_problem(kind: FieldType, value: Any, ok: bool) -> None:
    assert (value_problem(kind, value) is None) is ok
