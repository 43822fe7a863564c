"""Outbound message definitions and rules through the HTTP API: the full lifecycle and its refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import zeep

from tests.conftest import Api, unique_object


def setup_object(api: Api) -> str:
    obj = unique_object()
    status, _ = api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {
        "Subject": "string", "Priority": "int", "ClosedAt": "dateTime"}})
    assert status == 200
    return obj


def definition(obj: str, **changes: Any) -> dict[str, Any]:
    return {"object": obj, "name": "To ERP", "unique_name": "To_ERP", "endpoint_url": "http://127.0.0.1:9/erp",
            "fields": ["Subject", "Priority"], **changes}


def test_definition_lifecycle(api: Api) -> None:
    obj = setup_object(api)
    status, created = api.call("POST", "/outbound-messages", definition(obj))
    assert status == 201 and created["fields"] == ["Id", "Subject", "Priority"]
    definition_id = created["id"]
    assert len(definition_id) == 18

    status, updated = api.call("PUT", f"/outbound-messages/{definition_id}",
                               definition(obj, unique_name="To_ERP_v2", fields=["ClosedAt"], description="v2"))
    assert status == 200 and updated["unique_name"] == "To_ERP_v2" and updated["fields"] == ["Id", "ClosedAt"]
    assert api.call("GET", f"/outbound-messages/{definition_id}")[1]["description"] == "v2"
    # The old unique name was released by the rename, the new one is held.
    status, other = api.call("POST", "/outbound-messages", definition(obj))
    assert status == 201
    status, clash = api.call("PUT", f"/outbound-messages/{other['id']}", definition(obj, unique_name="To_ERP_v2"))
    assert status == 409 and clash["fields"][0]["field"] == "unique_name"

    listed = api.call("GET", f"/outbound-messages?object={obj}")[1]["outbound_messages"]
    assert sorted(d["id"] for d in listed) == sorted([definition_id, other["id"]])
    assert all(d["object"] == obj for d in api.call("GET", "/outbound-messages")[1]["outbound_messages"]
               if d["id"] in {definition_id, other["id"]})

    status, rule = api.call("POST", "/rules", {"object": obj, "name": "on create", "definition_ids": [definition_id]})
    assert status == 201
    status, refused = api.call("DELETE", f"/outbound-messages/{definition_id}")
    assert status == 409 and rule["id"] in refused["message"]
    assert [r["id"] for r in api.call("GET", f"/rules?object={obj}")[1]["rules"]] == [rule["id"]]
    assert api.call("DELETE", f"/rules/{rule['id']}")[0] == 204
    assert api.call("DELETE", f"/outbound-messages/{definition_id}")[0] == 204
    assert api.call("GET", f"/outbound-messages/{definition_id}")[0] == 404
    assert api.call("DELETE", f"/outbound-messages/{definition_id}")[0] == 404
    # Deleting released its unique name too.
    assert api.call("POST", "/outbound-messages", definition(obj, unique_name="To_ERP_v2"))[0] == 201


def test_update_refusals_name_the_field(api: Api) -> None:
    obj = setup_object(api)
    definition_id = api.call("POST", "/outbound-messages", definition(obj))[1]["id"]
    other = setup_object(api)
    # 400: the request alone is wrong; 409: it does not fit what exists (the object, its declared fields).
    cases = [
        (definition(other), "object", 409),
        (definition(obj, fields=["Nope"]), "fields.1", 409),
        (definition(obj, unique_name="Ends_with_"), "unique_name", 400),
        (definition(obj, unique_name="9lives"), "unique_name", 400),
        (definition(obj, endpoint_url="ftp://x.example/"), "endpoint_url", 400),
        ({**definition(obj), "surprise": 1}, "surprise", 400),
    ]
    for body, field, expected in cases:
        status, answer = api.call("PUT", f"/outbound-messages/{definition_id}", body)
        assert status == expected and answer["fields"][0]["field"] == field, (body, answer)
    assert api.call("PUT", "/outbound-messages/04k000000000000AAA", definition(obj))[0] == 404
    assert api.call("GET", "/outbound-messages?object=not-an-object")[0] == 400


def test_record_values_must_fit_their_field_types(api: Api) -> None:
    obj = setup_object(api)
    for fields, field in [({"Priority": "high"}, "fields.Priority"), ({"ClosedAt": "yesterday"}, "fields.ClosedAt"),
                          ({"Subject": 7}, "fields.Subject"), ({"Priority": 2**40}, "fields.Priority")]:
        status, answer = api.call("PUT", f"/records/{obj}/r1", {"fields": fields})
        # a value its field's type cannot hold is refused at the door, naming the field and the rule
        assert status == 400 and answer["fields"][0]["field"] == field, answer
    assert api.call("PUT", f"/records/{obj}/r1", {"fields": {"Priority": 2, "ClosedAt": "2026-11-24T10:00:00Z"}})[0] == 200


def test_wsdl_route_serves_a_wsdl_zeep_can_use(api: Api, tmp_path: Path) -> None:
    obj = setup_object(api)
    definition_id = api.call("POST", "/outbound-messages", definition(obj, fields=["Priority", "ClosedAt"]))[1]["id"]
    status, document = api.call("GET", f"/outbound-messages/{definition_id}/wsdl")
    assert status == 200 and isinstance(document, bytes)
    path = tmp_path / "definition.wsdl"
    path.write_bytes(document)
    client = zeep.Client(str(path))
    port = client.wsdl.services["NotificationService"].ports["Notification"]
    assert port.binding_options["address"] == "http://127.0.0.1:9/erp"
    sobject = client.get_type(f"{{urn:sobject.enterprise.soap.sforce.com}}{obj}")
    names = [name for name, _ in sobject.elements]
    assert names == ["fieldsToNull", "Id", "ClosedAt", "Priority"]  # Salesforce's order: Id, then alphabetical
    assert api.call("GET", "/outbound-messages/04k000000000000AAA/wsdl")[0] == 404


def test_record_values_salesforce_could_not_send_are_refused_naming_field_and_rule(api: Api) -> None:
    obj = unique_object()
    assert api.call("PUT", f"/objects/{obj}", {"fields": {"At": "dateTime", "On": "date", "Note": "string"}})[0] == 200
    cases = [
        ({"At": "2026-11-24T10:00:00+0200"}, "fields.At", "extended format"),  # ISO 8601 basic offset
        ({"At": "20261124T100000"}, "fields.At", "extended format"),
        ({"At": "2026-W48-2T10:00:00"}, "fields.At", "extended format"),
        ({"At": "2026-11-24T10:00:00+15:00"}, "fields.At", "extended format"),
        ({"On": "2026-W48-2"}, "fields.On", "YYYY-MM-DD"),
        ({"On": "20261124"}, "fields.On", "YYYY-MM-DD"),
        ({"Note": "bell \u0007"}, "fields.Note", "XML"),
    ]
    for fields, field, rule in cases:
        status, answer = api.call("PUT", f"/records/{obj}/r1", {"fields": fields})
        assert status == 400 and answer["fields"][0]["field"] == field and rule in answer["message"], (fields, answer)
    lone = b'{"fields": {"Note": "half \\ud800 a pair"}}'
    status, answer = api.call("PUT", f"/records/{obj}/r1", raw=lone)
    assert status == 400 and "Note" in str(answer), answer
    # A zone Salesforce would convert is converted once, at the door: stored and sent as UTC with milliseconds.
    status, stored = api.call("PUT", f"/records/{obj}/r1", {"fields": {"At": "2026-11-24T10:00:00.25+02:00",
                                                                       "On": "2026-11-24"}})
    assert status == 200 and stored["fields"] == {"At": "2026-11-24T08:00:00.250Z", "On": "2026-11-24"}
    assert api.call("GET", f"/records/{obj}/r1")[1]["fields"]["At"] == "2026-11-24T08:00:00.250Z"


def test_an_object_with_salesforce_ids_refuses_other_ids_and_types_them_id(api: Api, tmp_path: Path) -> None:
    obj = unique_object()
    assert api.call("PUT", f"/objects/{obj}", {"fields": {"AccountId": "id", "Name": "string"},
                                               "salesforce_ids": True})[1]["salesforce_ids"] is True
    status, answer = api.call("PUT", f"/records/{obj}/a025700000OPgOj", {"fields": {"Name": "x"}})
    assert status == 400 and answer["fields"][0]["field"] == "id" and "a025700000OPgOjAAL" in answer["message"]
    status, answer = api.call("PUT", f"/records/{obj}/a025700000OPgOjAAA", {"fields": {"Name": "x"}})
    assert status == 400 and answer["fields"][0]["field"] == "id" and "suffix" in answer["message"]
    status, answer = api.call("PUT", f"/records/{obj}/a025700000OPgOjAAL", {"fields": {"AccountId": "acme-1"}})
    assert status == 400 and answer["fields"][0]["field"] == "fields.AccountId"
    assert api.call("PUT", f"/records/{obj}/a025700000OPgOjAAL", {"fields": {"AccountId": "001xx000003DGb2AAG"}}
                    )[0] == 200
    # Ids of an object without the flag stay free-form (1-64 characters), as before.
    plain = setup_object(api)
    assert api.call("PUT", f"/records/{plain}/case-42", {"fields": {"Subject": "x"}})[0] == 200

    definition_id = api.call("POST", "/outbound-messages", definition(obj, fields=["Name", "AccountId"]))[1]["id"]
    document = api.call("GET", f"/outbound-messages/{definition_id}/wsdl")[1]
    path = tmp_path / "sf.wsdl"
    path.write_bytes(document)
    sobject = zeep.Client(str(path)).get_type(f"{{urn:sobject.enterprise.soap.sforce.com}}{obj}")
    typed = {name: element.type.qname.localname for name, element in sobject.elements}
    assert typed == {"fieldsToNull": "string", "Id": "ID", "AccountId": "ID", "Name": "string"}
