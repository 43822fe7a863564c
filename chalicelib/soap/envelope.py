"""The Salesforce outbound-message SOAP envelope: building it, reading it, and reading the listener's Ack."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from lxml import etree

from chalicelib.models.records import FieldType, canonical_datetime

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
SOBJECT = "urn:sobject.enterprise.soap.sforce.com"
MAX_NOTIFICATIONS = 100
# What notifications are grouped up to: a partner's listener gets request bodies of a few hundred KB at most.
MAX_ENVELOPE_BYTES = 300_000
# What one notification alone may weigh (it then goes in a message of its own): any record the records table can
# hold (400 KB), even with every character escaped (`&` is five bytes as `&amp;`). The envelope is not kept in
# the message's item beyond PAYLOAD_INLINE_BYTES compressed: larger ones go to S3 (stores/payloads.py).
MAX_LONE_ENVELOPE_BYTES = 2_500_000
ENVELOPE_OVERHEAD_BYTES = 2_000  # the envelope without notifications: namespaces, ids, URLs, a session token

_O = f"{{{OUTBOUND}}}"
_SF = f"{{{SOBJECT}}}"
_NIL = f"{{{XSI}}}nil"
_TYPE = f"{{{XSI}}}type"


@dataclass(frozen=True)
class Notification:
    id: str
    fields: Mapping[str, Any]


def _boolean(value: Any) -> str:
    return "true" if value else "false"


def _int(value: Any) -> str:
    return str(int(value))


def _double(value: Any) -> str:
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        return "NaN" if math.isnan(number) else ("INF" if number > 0 else "-INF")
    return repr(number)


def _datetime(value: Any) -> str:
    """UTC with milliseconds, as Salesforce writes dateTimes (`2017-12-11T21:49:24.000Z`)."""
    if isinstance(value, datetime):
        value = value.isoformat()
    text = str(value)
    return canonical_datetime(text) or text


def _date(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


# Looked up once per field per envelope, not matched per value: the envelope builder's hot loop.
_FORMATTERS: dict[str, Callable[[Any], str]] = {
    FieldType.boolean: _boolean,
    FieldType.int: _int,
    FieldType.double: _double,
    FieldType.datetime: _datetime,
    FieldType.date: _date,
}


def notification_bytes(note: Notification, field_types: Mapping[str, FieldType]) -> int:
    """An upper bound on what one notification adds to an envelope (escaping counted at its worst), cheap
    enough to size every message before it is built."""
    size = 160 + len(note.id)
    for name, kind in field_types.items():
        value = note.fields.get(name)
        if value is None:
            continue
        text = _FORMATTERS.get(kind, str)(value)
        size += 2 * len(name) + 12 + len(text.encode("utf-8"))
        size += 4 * (text.count("<") + text.count(">") + text.count("&") + text.count("\r"))
    return size


def format_value(value: Any, kind: FieldType) -> str:
    """XML Schema lexical form of a stored value."""
    return _FORMATTERS.get(kind, str)(value)


def build_envelope(
    *,
    organization_id: str,
    action_id: str,
    session_id: str | None,
    enterprise_url: str,
    partner_url: str,
    object_type: str,
    field_types: Mapping[str, FieldType],
    notifications: Sequence[Notification],
) -> bytes:
    """One `notifications` message; field order follows `field_types`, null fields are left out."""
    if not 1 <= len(notifications) <= MAX_NOTIFICATIONS:
        raise ValueError(f"a message carries 1 to {MAX_NOTIFICATIONS} notifications, not {len(notifications)}")
    envelope = etree.Element(f"{{{SOAPENV}}}Envelope", nsmap={"soapenv": SOAPENV, "xsd": XSD, "xsi": XSI})
    body = etree.SubElement(envelope, f"{{{SOAPENV}}}Body")
    root = etree.SubElement(body, _O + "notifications", nsmap={None: OUTBOUND})
    etree.SubElement(root, _O + "OrganizationId").text = organization_id
    etree.SubElement(root, _O + "ActionId").text = action_id
    session = etree.SubElement(root, _O + "SessionId")
    if session_id is None:
        session.set(_NIL, "true")
    else:
        session.text = session_id
    etree.SubElement(root, _O + "EnterpriseUrl").text = enterprise_url
    etree.SubElement(root, _O + "PartnerUrl").text = partner_url
    columns = [(name, _SF + name, _FORMATTERS.get(kind, str)) for name, kind in field_types.items()]
    sobject_type = f"sf:{object_type}"
    sub = etree.SubElement
    for note in notifications:
        element = sub(root, _O + "Notification")
        sub(element, _O + "Id").text = note.id
        sobject = sub(element, _O + "sObject", nsmap={"sf": SOBJECT})
        sobject.set(_TYPE, sobject_type)
        fields = note.fields
        for name, tag, formatter in columns:
            value = fields.get(name)
            if value is not None:
                sub(sobject, tag).text = formatter(value)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


@dataclass(frozen=True)
class ParsedNotifications:
    organization_id: str
    action_id: str
    session_id: str | None
    object_type: str
    notifications: list[Notification]


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _text(parent: Any, tag: str) -> str:
    found = parent.find(tag)
    if found is None:
        raise ValueError(f"missing {tag.split('}')[-1]}")
    return found.text or ""


def parse_notifications(xml: bytes) -> ParsedNotifications:
    """What a listener does with our message (used by the reference listener and the tests)."""
    root = etree.fromstring(xml, _PARSER)
    found = root.find(f"{{{SOAPENV}}}Body/{_O}notifications")
    if found is None:
        raise ValueError("no notifications element in the SOAP body")
    session = found.find(_O + "SessionId")
    notes: list[Notification] = []
    object_type = ""
    for element in found.findall(_O + "Notification"):
        sobject = element.find(_O + "sObject")
        if sobject is None:
            raise ValueError("notification without sObject")
        object_type = (sobject.get(_TYPE) or "").split(":")[-1]
        fields = {etree.QName(child).localname: child.text for child in sobject}
        notes.append(Notification(id=_text(element, _O + "Id"), fields=fields))
    return ParsedNotifications(
        organization_id=_text(found, _O + "OrganizationId"),
        action_id=_text(found, _O + "ActionId"),
        session_id=None if session is None or session.get(_NIL) == "true" else session.text,
        object_type=object_type,
        notifications=notes,
    )


def build_ack(ack: bool) -> bytes:
    envelope = etree.Element(f"{{{SOAPENV}}}Envelope", nsmap={"soapenv": SOAPENV})
    body = etree.SubElement(envelope, f"{{{SOAPENV}}}Body")
    response = etree.SubElement(body, _O + "notificationsResponse", nsmap={None: OUTBOUND})
    etree.SubElement(response, _O + "Ack").text = "true" if ack else "false"
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def read_ack(xml: bytes) -> tuple[bool, str | None]:
    """(acked, reason when not). A fault, a missing Ack, or anything but `true` is not an ack."""
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        return False, f"response is not XML: {exc}"
    fault = root.find(f"{{{SOAPENV}}}Body/{{{SOAPENV}}}Fault")
    if fault is not None:
        return False, f"SOAP fault: {(fault.findtext('faultstring') or '').strip()[:200]}"
    ack = root.find(f"{{{SOAPENV}}}Body/{_O}notificationsResponse/{_O}Ack")
    if ack is None:
        return False, "no Ack in the response"
    value = (ack.text or "").strip()
    # xsd:boolean: `true` and `1` are true; XML Schema collapses the whitespace around a boolean.
    return (True, None) if value in {"true", "1"} else (False, f"Ack was {value[:100]!r}")
