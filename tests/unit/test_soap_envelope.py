from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree

from chalicelib.models.records import FieldType
from chalicelib.soap.envelope import (
    Notification,
    build_ack,
    build_envelope,
    format_value,
    parse_notifications,
    read_ack,
)

REFERENCE = b"""<?xml version='1.0' encoding='UTF-8'?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00Dxx0000001gPLEAY</OrganizationId>
   <ActionId>04kxx0000000007EAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://example.com/services/Soap/c/60.0/00Dxx0000001gPL</EnterpriseUrl>
   <PartnerUrl>https://example.com/services/Soap/u/60.0/00Dxx0000001gPL</PartnerUrl>
   <Notification>
    <Id>04lxx0000000q6TAAQ</Id>
    <sObject xmlns:sf="urn:sobject.enterprise.soap.sforce.com" xsi:type="sf:Case">
     <sf:Id>500xx000000bpnRAAQ</sf:Id>
     <sf:IsEscalated>true</sf:IsEscalated>
     <sf:Priority>3</sf:Priority>
     <sf:Subject>Printer &amp; fire</sf:Subject>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"""


def canonical(xml: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.tostring(etree.fromstring(xml, parser), method="c14n")


def build(notes: list[Notification]) -> bytes:
    return build_envelope(
        organization_id="00Dxx0000001gPLEAY", action_id="04kxx0000000007EAA", session_id=None,
        enterprise_url="https://example.com/services/Soap/c/60.0/00Dxx0000001gPL",
        partner_url="https://example.com/services/Soap/u/60.0/00Dxx0000001gPL", object_type="Case",
        field_types={"Id": FieldType.id, "IsEscalated": FieldType.boolean, "Priority": FieldType.int,
                     "Subject": FieldType.string, "Description": FieldType.string},
        notifications=notes,
    )


def test_envelope_matches_the_reference_envelope() -> None:
    note = Notification(id="04lxx0000000q6TAAQ", fields={
        "Id": "500xx000000bpnRAAQ", "IsEscalated": True, "Priority": 3, "Subject": "Printer & fire", "Description": None,
    })
    assert canonical(build([note])) == canonical(REFERENCE)


def test_parse_reads_back_what_build_wrote() -> None:
    notes = [Notification(id=f"04lxx00000000{i:05d}", fields={"Id": f"500xx0000000{i:06d}", "Priority": i})
             for i in range(3)]
    parsed = parse_notifications(build(notes))
    assert parsed.organization_id == "00Dxx0000001gPLEAY"
    assert parsed.session_id is None
    assert parsed.object_type == "Case"
    assert [n.id for n in parsed.notifications] == [n.id for n in notes]
    assert parsed.notifications[2].fields == {"Id": "500xx0000000000002", "Priority": "2"}


@pytest.mark.parametrize("count", [0, 101])
def test_envelope_carries_1_to_100_notifications(count: int) -> None:
    notes = [Notification(id=f"n{i}", fields={"Id": str(i)}) for i in range(count)]
    with pytest.raises(ValueError, match="1 to 100"):
        build(notes)


def test_hundred_notifications_fit() -> None:
    notes = [Notification(id=f"n{i}", fields={"Id": str(i)}) for i in range(100)]
    assert len(parse_notifications(build(notes)).notifications) == 100


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (False, FieldType.boolean, "false"),
        (7.0, FieldType.int, "7"),
        (2.5, FieldType.double, "2.5"),
        (419, FieldType.double, "419.0"),  # as Salesforce writes a double: <sf:Price__c>419.0</sf:Price__c>
        # dateTimes as Salesforce writes them: UTC with milliseconds, whatever zone the record was given in
        (datetime(2026, 11, 24, 9, 30, tzinfo=UTC), FieldType.datetime, "2026-11-24T09:30:00.000Z"),
        ("2026-11-24T09:30:00Z", FieldType.datetime, "2026-11-24T09:30:00.000Z"),
        ("2026-11-24T10:30:00.1234+01:00", FieldType.datetime, "2026-11-24T09:30:00.123Z"),
        ("2026-11-24", FieldType.date, "2026-11-24"),
    ],
)
def test_typed_values(value: object, kind: FieldType, text: str) -> None:
    assert format_value(value, kind) == text


ACK = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
       b'<o:notificationsResponse xmlns:o="http://soap.sforce.com/2005/09/outbound"><o:Ack>%s</o:Ack>'
       b"</o:notificationsResponse></s:Body></s:Envelope>")


@pytest.mark.parametrize(("text", "acked"), [
    (b"true", True), (b"1", True), (b" \n 1\t", True), (b"\ntrue ", True),  # xsd:boolean, whitespace collapsed
    (b"false", False), (b"0", False), (b"TRUE", False), (b"yes", False), (b"", False),
])
def test_ack_is_an_xsd_boolean_under_any_prefix(text: bytes, acked: bool) -> None:
    assert read_ack(ACK % text)[0] is acked


def test_ack_reading() -> None:
    assert read_ack(build_ack(True)) == (True, None)
    acked, reason = read_ack(build_ack(False))
    assert not acked and "false" in (reason or "")
    assert read_ack(b"not xml")[0] is False
    fault = (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
             b"<soapenv:Fault><faultcode>soapenv:Server</faultcode><faultstring>db down</faultstring></soapenv:Fault>"
             b"</soapenv:Body></soapenv:Envelope>")
    assert read_ack(fault) == (False, "SOAP fault: db down")


def test_parser_refuses_external_entities() -> None:
    evil = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
            b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>&e;</Ack>'
            b"</notificationsResponse></soapenv:Body></soapenv:Envelope>")
    acked, _ = read_ack(evil)
    assert acked is False


def test_characters_xml_forbids_are_named() -> None:
    import re

    from chalicelib.core.texts import XML_FORBIDDEN, xml_problem
    from chalicelib.models.records import XML_TEXT

    assert f"^[^{XML_FORBIDDEN}]*$" == XML_TEXT  # the document states what the code checks
    assert re.fullmatch(XML_TEXT, "ok é 😀") and not re.fullmatch(XML_TEXT, "bell \x07")

    assert xml_problem("tab\tnewline\ncr\r and é 😀") is None
    assert "U+0007" in (xml_problem("bell \x07") or "")
    assert "U+D800" in (xml_problem("lone \ud800") or "")
    assert "U+FFFE" in (xml_problem("\ufffe") or "")


@pytest.mark.parametrize("text", ["plain", "<" * 500, "&<>\r" * 100, "é😀" * 200])
def test_the_size_bound_is_never_below_the_real_size(text: str) -> None:
    from chalicelib.soap.envelope import notification_bytes

    types = {"Id": FieldType.id, "Subject": FieldType.string, "Priority": FieldType.int}
    note = Notification(id="04lxx0000000q6TAAQ", fields={"Id": "500xx000000bpnRAAQ", "Subject": text, "Priority": 3})
    alone = build_envelope(organization_id="00Dxx0000001gPLEAY", action_id="04kxx0000000007EAA", session_id=None,
                           enterprise_url="https://e", partner_url="https://p", object_type="Case", field_types=types,
                           notifications=[note])
    empty_fields = Notification(id=note.id, fields={})
    bare = build_envelope(organization_id="00Dxx0000001gPLEAY", action_id="04kxx0000000007EAA", session_id=None,
                          enterprise_url="https://e", partner_url="https://p", object_type="Case", field_types=types,
                          notifications=[empty_fields])
    assert notification_bytes(note, types) >= len(alone) - len(bare)


def test_messages_split_at_100_notifications_or_the_size_limit() -> None:
    from chalicelib.soap.envelope import MAX_ENVELOPE_BYTES
    from chalicelib.soap.notifications import chunks

    small = [(Notification(id=f"n{i}", fields={}), 200) for i in range(250)]
    assert [len(c) for c in chunks(small)] == [100, 100, 50]
    large = [(Notification(id=f"n{i}", fields={}), 20_000) for i in range(25)]
    groups = chunks(large)
    assert sum(len(g) for g in groups) == 25 and len(groups) == 2
    assert all(2_000 + 20_000 * len(g) <= MAX_ENVELOPE_BYTES for g in groups)


def test_a_notification_over_the_group_size_travels_alone_and_only_one_past_any_record_is_unsendable() -> None:
    from chalicelib.soap.envelope import MAX_LONE_ENVELOPE_BYTES, notification_bytes
    from chalicelib.soap.notifications import chunks, unsendable

    sized = [(Notification(id="a", fields={}), 1_000), (Notification(id="big", fields={}), 480_000),
             (Notification(id="b", fields={}), 1_000)]
    assert [[n.id for n in group] for group in chunks(sized)] == [["a"], ["big"], ["b"]]
    types = {"Subject": FieldType.string}
    # A record the records table can hold (400 KB), every character escaped five-fold (& is &amp;), still fits a message.
    quotes = Notification(id="q", fields={"Id": "q", "Subject": '&' * 399_000})
    assert unsendable(quotes, types) == (None, notification_bytes(quotes, types))
    beyond = Notification(id="z", fields={"Id": "z", "Subject": '&' * (MAX_LONE_ENVELOPE_BYTES // 5 + 1)})
    reason, _ = unsendable(beyond, types)
    assert reason is not None and "more than a message may hold" in reason


@pytest.mark.parametrize("stored", ["0001-01-01T00:00:00Z", "0999-12-31T23:59:59.5+01:00", "1000-01-01T00:00:00Z",
                                    "2026-12-05T09:00:00.123Z"])
def test_every_datetime_goes_out_as_a_valid_xs_datetime(stored: str) -> None:
    """Validated by libxml2's XML Schema (not our regex): a year before 1000 (.NET's DateTime.MinValue) keeps its
    four digits, or a strict listener refuses the whole message of up to 100 notifications."""
    from lxml import etree

    from chalicelib.models.records import FieldType
    from chalicelib.soap.envelope import format_value

    schema = etree.XMLSchema(etree.fromstring(
        b'<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"><xsd:element name="d" type="xsd:dateTime"/>'
        b'</xsd:schema>'))
    text = format_value(stored, FieldType.datetime)
    assert schema.validate(etree.fromstring(f"<d>{text}</d>".encode())), text
    assert text.endswith("Z") and len(text.split("-")[0]) == 4
