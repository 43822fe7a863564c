"""Render cost against the raw libraries: our SOAP envelope (100 notifications) against the same tree built
and serialised with bare lxml, and our sandboxed, cached template render against plain jinja2 compiled once."""

from __future__ import annotations

import timeit
from typing import Any

from lxml import etree

from chalicelib.models.records import FieldType

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
OUT = "http://soap.sforce.com/2005/09/outbound"
SF = "urn:sobject.enterprise.soap.sforce.com"
FIELDS = {"Id": FieldType.string, "Subject": FieldType.string, "Status": FieldType.string, "Priority": FieldType.int}


def _notifications() -> list[Any]:
    from chalicelib.soap.envelope import Notification

    return [
        Notification(
            id=f"04l{i:015d}",
            fields={"Id": f"500bench{i:010d}", "Subject": f"Subject {i} & <more>", "Status": "New", "Priority": i},
        )
        for i in range(100)
    ]


def ours(notes: list[Any]) -> bytes:
    from chalicelib.soap.envelope import build_envelope

    return build_envelope(
        organization_id="00Dbench0000000001",
        action_id="04kbench0000000001",
        session_id=None,
        enterprise_url="https://example.com/services/Soap/c/60.0/00D",
        partner_url="https://example.com/services/Soap/u/60.0/00D",
        object_type="Case",
        field_types=FIELDS,
        notifications=notes,
    )


def raw_lxml(notes: list[Any]) -> bytes:
    """The same document with nothing but lxml: no typing, no checks."""
    envelope = etree.Element(f"{{{SOAPENV}}}Envelope", nsmap={"soapenv": SOAPENV, "xsi": XSI})
    body = etree.SubElement(envelope, f"{{{SOAPENV}}}Body")
    root = etree.SubElement(body, f"{{{OUT}}}notifications", nsmap={None: OUT})
    for tag, text in (
        ("OrganizationId", "00Dbench0000000001"),
        ("ActionId", "04kbench0000000001"),
    ):
        etree.SubElement(root, f"{{{OUT}}}{tag}").text = text
    etree.SubElement(root, f"{{{OUT}}}SessionId").set(f"{{{XSI}}}nil", "true")
    etree.SubElement(root, f"{{{OUT}}}EnterpriseUrl").text = "https://example.com/services/Soap/c/60.0/00D"
    etree.SubElement(root, f"{{{OUT}}}PartnerUrl").text = "https://example.com/services/Soap/u/60.0/00D"
    for note in notes:
        notification = etree.SubElement(root, f"{{{OUT}}}Notification")
        etree.SubElement(notification, f"{{{OUT}}}Id").text = note.id
        sobject = etree.SubElement(notification, f"{{{OUT}}}sObject", nsmap={"sf": SF})
        sobject.set(f"{{{XSI}}}type", "sf:Case")
        for name, value in note.fields.items():
            etree.SubElement(sobject, f"{{{SF}}}{name}").text = str(value)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def _best(statement: Any, number: int) -> float:
    return min(timeit.repeat(statement, number=number, repeat=5)) / number


def measure() -> dict[str, float]:
    import jinja2

    from chalicelib.core.rendering import render
    from chalicelib.models.customer import MessageTemplate

    notes = _notifications()
    assert b"Subject 99" in ours(notes) and b"Subject 99" in raw_lxml(notes)
    soap_ours = _best(lambda: ours(notes), 50)
    soap_raw = _best(lambda: raw_lxml(notes), 50)
    body = "Bonjour {{ CustomerName }}, le dossier {{ CaseName }} est {{ status }}."
    template = MessageTemplate(
        id="t",
        name="Bench",
        channel_type="sms",
        default_locale="en-US",
        bodies={"en-US": "Hi {{ CustomerName }}, case {{ CaseName }} is {{ status }}.", "fr-FR": body},
    )
    values = {"CustomerName": "Ana", "CaseName": "C-1", "status": "ouvert"}
    compiled = jinja2.Environment(autoescape=False).from_string(body)  # noqa: S701 - SMS text, like ours
    assert render(template, "fr-FR", values) == compiled.render(**values)
    sms_ours = _best(lambda: render(template, "fr-FR", values), 5000)
    sms_raw = _best(lambda: compiled.render(**values), 5000)
    return {"soap_ours": soap_ours, "soap_raw": soap_raw, "sms_ours": sms_ours, "sms_raw": sms_raw}
