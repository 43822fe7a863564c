"""The WSDL a listener implements for one outbound message definition, typed with its selected fields.

Its shape is the WSDL Salesforce serves for an outbound message (tests/reference/salesforce holds public ones):
three schemas - the 18-character `ID` type; the sObject types, whose base declares `fieldsToNull` and `Id`
and whose object type extends it with the selected fields in `Id`-then-alphabetical order, each
`nillable="true" minOccurs="0"`; the `notifications` operation - a document/literal binding with
`soapAction=""`, and the definition's endpoint as the service address. Ids (`Id` and id-typed reference fields)
are typed `ent:ID` when the object's ids are Salesforce-form, `xsd:string` otherwise (any 1-64 characters).
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from chalicelib.models.records import FieldType
from chalicelib.soap.envelope import MAX_NOTIFICATIONS, OUTBOUND, SOBJECT, XSD

WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
ENTERPRISE = "urn:enterprise.soap.sforce.com"
XSD_TYPES: dict[FieldType, str] = {
    FieldType.string: "xsd:string",
    FieldType.id: "xsd:string",  # ent:ID when the object's ids are Salesforce-form (see xsd_type)
    FieldType.boolean: "xsd:boolean",
    FieldType.int: "xsd:int",
    FieldType.double: "xsd:double",
    FieldType.date: "xsd:date",
    FieldType.datetime: "xsd:dateTime",
}
HEADER = """
Outbound notification WSDL, the form of Salesforce's Outbound Notification Web Services API Version 1.0,
served by Outbound for one outbound message definition. Implement NotificationBinding to receive its
notifications; answer each message with notificationsResponse/Ack true.
"""

_W = f"{{{WSDL}}}"
_S = f"{{{XSD}}}"
_SOAP = f"{{{WSDL_SOAP}}}"


def xsd_type(kind: FieldType, salesforce_ids: bool) -> str:
    return "ent:ID" if kind == FieldType.id and salesforce_ids else XSD_TYPES[kind]


def _el(parent: etree._Element, ns: str, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, ns + tag, {k.rstrip("_"): v for k, v in attrs.items()})


def _schema(types: etree._Element, namespace: str, imports: tuple[str, ...] = ()) -> etree._Element:
    schema = etree.SubElement(
        types, _S + "schema", {"elementFormDefault": "qualified", "targetNamespace": namespace}, nsmap={None: XSD}
    )
    for imported in imports:
        _el(schema, _S, "import", namespace=imported)
    return schema


def _sobject_types(types: etree._Element, object_type: str, field_types: Mapping[str, FieldType],
                   salesforce_ids: bool) -> None:
    ens = _schema(types, SOBJECT, (ENTERPRISE,))
    base = _el(_el(ens, _S, "complexType", name="sObject"), _S, "sequence")
    _el(base, _S, "element", name="fieldsToNull", type="xsd:string", nillable="true", minOccurs="0",
        maxOccurs="unbounded")
    _el(base, _S, "element", name="Id", type=xsd_type(FieldType.id, salesforce_ids), nillable="true")
    if object_type != "AggregateResult":
        aggregate = _el(_el(_el(ens, _S, "complexType", name="AggregateResult"), _S, "complexContent"), _S,
                        "extension", base="ens:sObject")
        _el(_el(aggregate, _S, "sequence"), _S, "any", namespace="##targetNamespace", minOccurs="0",
            maxOccurs="unbounded", processContents="lax")
    extension = _el(_el(_el(ens, _S, "complexType", name=object_type), _S, "complexContent"), _S, "extension",
                    base="ens:sObject")
    sequence = _el(extension, _S, "sequence")
    for name, kind in field_types.items():
        if name != "Id":
            _el(sequence, _S, "element", name=name, nillable="true", minOccurs="0",
                type=xsd_type(kind, salesforce_ids))


def build_wsdl(*, object_type: str, field_types: Mapping[str, FieldType], endpoint_url: str,
               salesforce_ids: bool = False) -> bytes:
    """`field_types` in send order (OutboundMessageDefinition.field_types): the sequence follows it."""
    root = etree.Element(
        _W + "definitions",
        {"targetNamespace": OUTBOUND},
        nsmap={None: WSDL, "soap": WSDL_SOAP, "tns": OUTBOUND, "xsd": XSD, "ent": ENTERPRISE, "ens": SOBJECT},
    )
    root.addprevious(etree.Comment(HEADER))
    types = _el(root, _W, "types")

    ent = _schema(types, ENTERPRISE)
    simple = _el(ent, _S, "simpleType", name="ID")
    restriction = _el(simple, _S, "restriction", base="xsd:string")
    _el(restriction, _S, "length", value="18")
    _el(restriction, _S, "pattern", value="[a-zA-Z0-9]{18}")

    _sobject_types(types, object_type, field_types, salesforce_ids)

    tns = _schema(types, OUTBOUND, (ENTERPRISE, SOBJECT))
    request = _el(_el(_el(tns, _S, "element", name="notifications"), _S, "complexType"), _S, "sequence")
    _el(request, _S, "element", name="OrganizationId", type="ent:ID")
    _el(request, _S, "element", name="ActionId", type="ent:ID")
    _el(request, _S, "element", name="SessionId", type="xsd:string", nillable="true")
    _el(request, _S, "element", name="EnterpriseUrl", type="xsd:string")
    _el(request, _S, "element", name="PartnerUrl", type="xsd:string")
    notification_type = f"{object_type}Notification"
    _el(request, _S, "element", name="Notification", maxOccurs=str(MAX_NOTIFICATIONS), type=f"tns:{notification_type}")
    note = _el(_el(tns, _S, "complexType", name=notification_type), _S, "sequence")
    _el(note, _S, "element", name="Id", type="ent:ID")
    _el(note, _S, "element", name="sObject", type=f"ens:{object_type}")
    response = _el(_el(_el(tns, _S, "element", name="notificationsResponse"), _S, "complexType"), _S, "sequence")
    _el(response, _S, "element", name="Ack", type="xsd:boolean")

    _el(_el(root, _W, "message", name="notificationsRequest"), _W, "part", element="tns:notifications", name="request")
    _el(
        _el(root, _W, "message", name="notificationsResponse"),
        _W,
        "part",
        element="tns:notificationsResponse",
        name="response",
    )
    operation = _el(_el(root, _W, "portType", name="NotificationPort"), _W, "operation", name="notifications")
    _el(operation, _W, "documentation").text = "Process a number of notifications."
    _el(operation, _W, "input", message="tns:notificationsRequest")
    _el(operation, _W, "output", message="tns:notificationsResponse")

    binding = _el(root, _W, "binding", name="NotificationBinding", type="tns:NotificationPort")
    _el(binding, _SOAP, "binding", style="document", transport="http://schemas.xmlsoap.org/soap/http")
    bound = _el(binding, _W, "operation", name="notifications")
    _el(bound, _SOAP, "operation", soapAction="")
    _el(_el(bound, _W, "input"), _SOAP, "body", use="literal")
    _el(_el(bound, _W, "output"), _SOAP, "body", use="literal")

    service = _el(root, _W, "service", name="NotificationService")
    _el(service, _W, "documentation").text = "Notification Service Implementation"
    port = _el(service, _W, "port", binding="tns:NotificationBinding", name="Notification")
    _el(port, _SOAP, "address", location=endpoint_url)
    return bytes(etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8", pretty_print=True))


class _Schemas(etree.Resolver):  # type: ignore[misc, unused-ignore]  # lxml ships no type for Resolver
    def __init__(self, documents: dict[str, bytes]) -> None:
        super().__init__()
        self.documents = documents

    def resolve(self, url: str, pubid: str | None, context: object) -> object:
        if url in self.documents:
            return self.resolve_string(self.documents[url], context)
        return None


def schema_of(wsdl: bytes) -> etree.XMLSchema:
    """An XML Schema validator for the `notifications` body, built from the WSDL's own types."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(wsdl, parser)
    documents: dict[str, bytes] = {}
    main = etree.Element(_S + "schema", nsmap={"xsd": XSD})
    for index, schema in enumerate(root.findall(f"{_W}types/{_S}schema")):
        url = f"wsdl-types-{index}.xsd"
        documents[url] = etree.tostring(schema)
        _el(main, _S, "import", namespace=schema.get("targetNamespace", ""), schemaLocation=url)
    schema_parser = etree.XMLParser(resolve_entities=False, no_network=True)
    schema_parser.resolvers.add(_Schemas(documents))
    return etree.XMLSchema(etree.fromstring(etree.tostring(main), schema_parser))
