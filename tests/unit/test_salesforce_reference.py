"""Our SOAP half against Salesforce's own documents (tests/reference/salesforce, sources in its README).

A partner's listener was generated from, or validates against, a WSDL that Salesforce produced; it must take our
messages unchanged. So: for the same definition, our WSDL is Salesforce's (element by element); a zeep listener
generated from Salesforce's WSDL reads our messages; our messages validate against Salesforce's schema; and for the
record of a captured Salesforce message we write that message, byte for byte after canonicalisation.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import zeep
from lxml import etree

from chalicelib.core import ids
from chalicelib.models.definitions import OutboundMessageDefinition
from chalicelib.models.records import FieldType, ObjectSchema
from chalicelib.platform.settings import get_settings
from chalicelib.soap.envelope import OUTBOUND, SOAPENV, SOBJECT, XSD, Notification, build_envelope
from chalicelib.soap.notifications import Pending, build_from
from chalicelib.soap.wsdl import WSDL, build_wsdl, schema_of

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "salesforce"
WSDLS = sorted(REFERENCE.glob("*.wsdl"))
CAPTURE = REFERENCE / "DiscountRule__c.message.xml"
TYPES_BY_XSD = {"xsd:string": FieldType.string, "xsd:dateTime": FieldType.datetime, "xsd:double": FieldType.double,
                "xsd:boolean": FieldType.boolean, "xsd:date": FieldType.date, "xsd:int": FieldType.int,
                "ent:ID": FieldType.id}
QNAME_ATTRIBUTES = {"type", "base", "element", "message", "binding"}
_PARSER = etree.XMLParser(remove_blank_text=True, remove_comments=True)


def reference_definition(path: Path) -> tuple[str, dict[str, FieldType]]:
    """The object and its selected fields (with types) that Salesforce generated this WSDL for."""
    root = etree.parse(str(path), _PARSER).getroot()
    schema = root.find(f"{{{WSDL}}}types/{{{XSD}}}schema[@targetNamespace='{SOBJECT}']")
    assert schema is not None
    objects = [t for t in schema.findall(f"{{{XSD}}}complexType") if t.get("name") not in {"sObject", "AggregateResult"}]
    assert len(objects) == 1
    fields = {e.get("name"): TYPES_BY_XSD[e.get("type")] for e in objects[0].iter(f"{{{XSD}}}element")}
    return str(objects[0].get("name")), fields


def our_definition(object_type: str, fields: dict[str, FieldType], seed: int) -> tuple[
        OutboundMessageDefinition, ObjectSchema]:
    """The same definition as an operator would create it here, its fields picked in a shuffled order."""
    picked = list(fields)
    random.Random(seed).shuffle(picked)
    definition = OutboundMessageDefinition(
        id=ids.random_sf_id("04k"), object=object_type, name="Reference", unique_name="Reference",
        endpoint_url="https://listener.example.com/x", fields=picked)
    schema = ObjectSchema(name=object_type, fields=dict(fields), salesforce_ids=True)
    return definition, schema


def shape(element: Any, path: str = "") -> list[str]:
    """Every element as a line: its path, tag and attributes, QName values resolved, the service address left out
    (prefixes, whitespace and comments do not matter to a parser)."""
    tag = etree.QName(element)
    here = f"{path}/{{{tag.namespace}}}{tag.localname}"
    attributes = []
    for name, value in sorted(element.attrib.items()):
        if name == "location":
            continue
        if name in QNAME_ATTRIBUTES and ":" in value:
            prefix, local = value.split(":", 1)
            value = f"{{{element.nsmap.get(prefix)}}}{local}"
        attributes.append(f"{name}={value}")
    lines = [f"{here} [{' '.join(attributes)}] {(element.text or '').strip()!r}"]
    for index, child in enumerate(element):
        lines += shape(child, f"{here}[{index}]")
    return lines


@pytest.mark.parametrize("path", WSDLS, ids=lambda p: p.stem)
@pytest.mark.parametrize("seed", [1, 2])
def test_our_wsdl_is_salesforces_for_the_same_definition(path: Path, seed: int) -> None:
    object_type, fields = reference_definition(path)
    definition, schema = our_definition(object_type, fields, seed)
    ours = build_wsdl(object_type=object_type, field_types=definition.field_types(schema),
                      endpoint_url=definition.endpoint_url, salesforce_ids=True)
    assert shape(etree.fromstring(ours, _PARSER)) == shape(etree.parse(str(path), _PARSER).getroot())


def sample(kind: FieldType, name: str, n: int) -> Any:
    """A value of each type, chosen to catch formatting: escaping, a zone to convert, doubles that are whole."""
    return {
        FieldType.string: f"Tom & <Jerry> ü {name} {n}",
        FieldType.id: ids.sf_id("001", name, str(n)),
        FieldType.boolean: n % 2 == 0,
        FieldType.int: -n,
        FieldType.double: 419 if n % 2 else 0.5,
        FieldType.date: "2026-03-29",
        FieldType.datetime: "2026-03-29T02:30:00.5+02:00",
    }[kind]


def messages_for(definition: OutboundMessageDefinition, schema: ObjectSchema, count: int) -> list[bytes]:
    pending = []
    for n in range(count):
        record_id = ids.sf_id("a02", definition.id, str(n))
        image = {name: sample(kind, name, n) for name, kind in schema.fields.items()}
        if n == 1:  # a record with nothing but its id: every field is left out
            image = {}
        pending.append(Pending(ids.sf_id("04l", definition.id, str(n)), record_id, {"Id": record_id, **image}, "t"))
    built = build_from(definition, schema, pending)
    assert all(m.state == "queued" for m in built), [m.last_error for m in built]
    return [m.payload.envelope.encode() for m in built]  # type: ignore[union-attr]


@pytest.mark.parametrize("path", WSDLS, ids=lambda p: p.stem)
def test_a_listener_generated_from_salesforces_wsdl_reads_our_messages(path: Path) -> None:
    object_type, fields = reference_definition(path)
    definition, schema = our_definition(object_type, fields, seed=3)
    client = zeep.Client(str(path))  # strict: an element out of sequence or undeclared is an error
    operation = client.wsdl.services["NotificationService"].ports["Notification"].binding.get("notifications")
    validator = schema_of(path.read_bytes())
    (envelope,) = messages_for(definition, schema, count=3)
    root = etree.fromstring(envelope)
    request = operation.input.deserialize(root)
    assert validator.validate(root.find(f"{{{SOAPENV}}}Body/{{{OUTBOUND}}}notifications")), validator.error_log
    assert request.OrganizationId == get_settings().org_id and request.ActionId == definition.id
    assert [ids.salesforce_id_problem(v) for v in (request.OrganizationId, request.ActionId,
                                                   *[n.Id for n in request.Notification])] == [None] * 5
    first, empty, third = (n.sObject for n in request.Notification)
    assert empty.Id == ids.sf_id("a02", definition.id, "1") and all(
        getattr(empty, name) is None for name in fields)
    for sobject, n in ((first, 0), (third, 2)):
        for name, kind in fields.items():
            value, expected = getattr(sobject, name), sample(kind, name, n)
            if kind == FieldType.datetime:
                expected = datetime(2026, 3, 29, 0, 30, 0, 500_000, tzinfo=UTC)
            elif kind == FieldType.date:
                expected = date(2026, 3, 29)
            assert value == expected, (name, value, expected)


def test_our_envelope_for_a_captured_record_is_the_captured_message() -> None:
    capture = etree.parse(str(CAPTURE), _PARSER).getroot()
    body = capture.find(f"{{{SOAPENV}}}Body/{{{OUTBOUND}}}notifications")
    assert body is not None
    object_type, fields = reference_definition(REFERENCE / "DiscountRule__c.wsdl")
    definition, schema = our_definition(object_type, fields, seed=4)
    sobject = body.find(f"{{{OUTBOUND}}}Notification/{{{OUTBOUND}}}sObject")
    assert sobject is not None
    # The record as our API stores it: JSON types, the dateTime as any zone may give it.
    convert = {FieldType.double: float, FieldType.boolean: lambda t: t == "true",
               FieldType.datetime: lambda t: t.replace(".000Z", "+00:00")}
    record = {etree.QName(e).localname: e.text for e in sobject}
    record = {k: convert.get(fields.get(k, FieldType.id), str)(v) for k, v in record.items()}

    ours = build_envelope(
        organization_id=str(body.findtext(f"{{{OUTBOUND}}}OrganizationId")),
        action_id=str(body.findtext(f"{{{OUTBOUND}}}ActionId")),
        session_id=None,
        enterprise_url=str(body.findtext(f"{{{OUTBOUND}}}EnterpriseUrl")),
        partner_url=str(body.findtext(f"{{{OUTBOUND}}}PartnerUrl")),
        object_type=object_type,
        field_types=definition.field_types(schema),
        notifications=[Notification(id=str(body.findtext(f"{{{OUTBOUND}}}Notification/{{{OUTBOUND}}}Id")),
                                    fields=record)],
    )
    canonical = etree.tostring(etree.fromstring(ours, _PARSER), method="c14n")
    assert canonical == etree.tostring(capture, method="c14n")


def test_the_captured_message_carries_ids_of_the_form_we_mint() -> None:
    capture = etree.parse(str(CAPTURE), _PARSER).getroot()
    minted = {"OrganizationId": "00D", "ActionId": "04k", "Id": "04l"}
    for element in capture.iter(*(f"{{{OUTBOUND}}}{name}" for name in minted)):
        name, text = etree.QName(element).localname, str(element.text)
        assert text.startswith(minted[name]) and ids.salesforce_id_problem(text) is None
        assert len(ids.sf_id(minted[name], "x")) == len(text)
