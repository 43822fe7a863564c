"""Bad input is a 4xx naming the problem, never a 500, for inputs that reach deep into the pipeline. The
schemathesis run in test_api_contract keeps the class closed for what a schema can say."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.conftest import Api, unique_object

pytestmark = pytest.mark.e2e


def schema(api: Api) -> str:
    obj = unique_object()
    assert api.call("PUT", f"/objects/{obj}", {"fields": {"Note": "string", "Amount": "double", "Count": "int",
                                                          "A": "string", "B": "string", "C": "string",
                                                          "D": "string"}})[0] == 200
    return obj


def expect_4xx(answer: tuple[int, Any], field: str | None = None, status: int = 400) -> None:
    code, body = answer
    assert code == status, (code, body)
    assert isinstance(body, dict) and body.get("error") and body.get("message"), body
    if field is not None:
        assert field in json.dumps(body), (field, body)


def test_a_record_over_dynamodbs_item_size_is_413(api: Api) -> None:
    obj = schema(api)
    big = "x" * 131_072  # each field within its own limit, the record over DynamoDB's 400 KB item
    answer = api.call("PUT", f"/records/{obj}/r1", {"fields": {"A": big, "B": big, "C": big, "D": big}})
    expect_4xx(answer, "fields", status=413)


@pytest.mark.parametrize("text", ['{"fields": {"Amount": NaN}}', '{"fields": {"Amount": Infinity}}',
                                  '{"fields": {"Amount": -Infinity}}', '{"fields": {"Amount": 1e400}}',
                                  '{"fields": {"Count": 1' + "0" * 50 + '}}'])
def test_numbers_json_cannot_carry_or_dynamodb_cannot_hold_are_400(api: Api, text: str) -> None:
    obj = schema(api)
    expect_4xx(api.call("PUT", f"/records/{obj}/r1", raw=text.encode()), "fields")


@pytest.mark.parametrize(("path", "body"), [
    ("/templates", '{"name": "half \\ud800", "channel_type": "sms", "default_locale": "en-US", "bodies": {"en-US": "x"}}'),
    ("/outbound-messages", '{"object": "Case", "name": "n\\udfff", "unique_name": "U", "endpoint_url": "http://127.0.0.1:9/x"}'),
    ("/rules", '{"object": "Case", "name": "\\ud83d"}'),
])
def test_lone_surrogates_anywhere_in_a_body_are_400(api: Api, path: str, body: str) -> None:
    expect_4xx(api.call("POST", path, raw=body.encode()), "name")


@pytest.mark.parametrize("depth", [11, 40, 300, 2000])
def test_rule_criteria_nested_deeper_than_dynamodb_allows_are_400(api: Api, depth: int) -> None:
    obj = schema(api)
    criteria: dict[str, Any] = {"conditions": [{"field": "Note", "op": "is_null"}]}
    for _ in range(depth - 1):
        criteria = {"logic": "and", "conditions": [criteria]}
    raw = json.dumps({"object": obj, "name": "deep", "criteria": criteria}).encode() if depth < 500 else (
        b'{"object": "%s", "name": "deep", "criteria": ' % obj.encode()
        + b'{"conditions": [' * depth + b'{"field": "Note", "op": "is_null"}' + b"]}" * depth + b"}")
    # past the JSON parser's own nesting limit the body as a whole is named
    expect_4xx(api.call("POST", "/rules", raw=raw), "criteria" if depth < 500 else "nested too deeply")


def test_the_deepest_criteria_allowed_are_stored() -> None:
    from chalicelib.models.definitions import MAX_CRITERIA_DEPTH, RuleInput, group_depth

    criteria: dict[str, Any] = {"conditions": [{"field": "Note", "op": "is_null"}]}
    for _ in range(MAX_CRITERIA_DEPTH - 1):
        criteria = {"conditions": [criteria]}
    rule = RuleInput.model_validate({"object": "Case", "name": "n", "criteria": criteria})
    assert rule.criteria is not None and group_depth(rule.criteria) == MAX_CRITERIA_DEPTH


def test_json_nested_past_what_a_parser_recurses_is_400(api: Api) -> None:
    expect_4xx(api.call("POST", "/templates", raw=b"[" * 100_000 + b"]" * 100_000), "body")


@pytest.mark.parametrize("cursor", ["not-base64!", base64.urlsafe_b64encode(b'{"pk": {"S": "x"}}').decode(),
                                    base64.urlsafe_b64encode(b"[1, 2]").decode(), "e30", "%00"])
def test_a_forged_cursor_is_400(api: Api, cursor: str) -> None:
    expect_4xx(api.call("GET", f"/outbound-messages/queue?cursor={cursor}"), "cursor")
    expect_4xx(api.call("GET", f"/messages?cursor={cursor}"), "cursor")


def test_an_endpoint_url_with_a_control_character_never_gets_a_definition(api: Api) -> None:
    obj = schema(api)
    answer = api.call("POST", "/outbound-messages", {"object": obj, "name": "n", "unique_name": "Ctl",
                                                     "endpoint_url": "http://127.0.0.1:9/a\u0001b"})
    expect_4xx(answer, "endpoint_url")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/outbound-messages//wsdl"), ("POST", "/templates//preview"), ("POST", "/messages//retry"),
    ("POST", "/outbound-messages/queue//retry"), ("GET", "/messages/%20"), ("DELETE", "/schedules//")])
def test_an_empty_path_parameter_is_a_400_naming_it(api: Api, method: str, path: str) -> None:
    status, body = api.call(method, path, {} if method == "POST" else None)
    assert status in (400, 404), (status, body)
    if status == 400:
        assert body["error"] == "validation_error" and "must not be empty" in body["message"], body


# The document and the code say the same thing: each of these was accepted although the document refuses it.
@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/outbound-messages/queue/retry", {"definition_id": "def_x", "include_pending": 0}, "include_pending"),
    ("POST", "/outbound-messages/queue/retry", {"definition_id": "def_x", "include_pending": "yes"},
     "include_pending"),
    ("PUT", "/objects/{obj}", {"name": None, "fields": {}, "salesforce_ids": 0}, "salesforce_ids"),
    ("PUT", "/objects/{obj}", {"fields": {"Note": "string"}, "salesforce_ids": "false"}, "salesforce_ids"),
    ("POST", "/templates", {"name": 5, "channel_type": "sms", "bodies": {"en-US": "Hi"}}, "name"),
    ("PUT", "/records/{obj}/%C2%84", {"fields": {"Note": "x"}}, "id"),
    ("PUT", "/records/{obj}/null,null", {"fields": {"Note": "x"}}, "id"),
    ("PUT", "/records/{obj}/r1", {"fields": {"Count": True}}, "fields.Count"),
])
def test_what_the_document_refuses_the_code_refuses(api: Api, method: str, path: str, body: Any, field: str
                                                    ) -> None:
    obj = schema(api)
    expect_4xx(api.call(method, path.format(obj=obj), body), field)


def test_a_number_a_double_cannot_hold_exactly_is_refused_not_rounded(api: Api) -> None:
    obj = schema(api)
    expect_4xx(api.call("PUT", f"/records/{obj}/r1", raw=b'{"fields": {"Amount": ' + b"9" * 50 + b"}}"),
               "fields.Amount")
    expect_4xx(api.call("PUT", f"/records/{obj}/r1", raw=b'{"fields": {"Amount": 9007199254740993}}'),
               "fields.Amount")
    # what a double holds exactly is kept as sent: 1e50 written as a float, 2**53, a plain decimal
    status, stored = api.call("PUT", f"/records/{obj}/r1",
                              raw=b'{"fields": {"Amount": 1e50, "Count": 7, "Note": "ok"}}')
    assert status == 200 and stored["fields"]["Amount"] == 1e50, stored
    assert api.call("PUT", f"/records/{obj}/r2", raw=b'{"fields": {"Amount": 9007199254740992}}')[0] == 200
    assert api.call("PUT", f"/records/{obj}/r3", raw=b'{"fields": {"Amount": 0.1}}')[0] == 200


def test_an_integral_number_written_with_a_fraction_is_an_integer(api: Api) -> None:
    """JSON has one number type, and JSON Schema counts 10.0 as an integer: strict validation takes it as 10."""
    obj = schema(api)
    status, stored = api.call("PUT", f"/records/{obj}/r1", raw=b'{"fields": {"Count": 7.0, "Amount": 2.0}}')
    assert status == 200 and stored["fields"]["Count"] == 7, stored
    expect_4xx(api.call("PUT", f"/records/{obj}/r1", raw=b'{"fields": {"Count": 7.5}}'), "fields.Count")
