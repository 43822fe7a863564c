"""JSON notifications against the references: the Standard Webhooks spec's known-answer vector and its PyPI
verifier (`standardwebhooks`), and the payload's own JSON Schema checked by `jsonschema`."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jsonschema
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from chalicelib.core import json_notifications as jn
from chalicelib.core import standard_webhooks as sw
from chalicelib.models.records import FieldType
from chalicelib.platform.http_client import HttpResponse
from chalicelib.senders import json_endpoint
from chalicelib.senders.outcomes import Accepted, Permanent, Transient

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_the_specs_known_answer() -> None:
    assert sw.signature(SPEC_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}') == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")


def test_the_reference_verifier_accepts_our_headers_under_each_secret_in_force() -> None:
    current, previous = sw.new_secret(), sw.new_secret()
    body = b'{"type":"Case.updated","data":{"x":"\xc3\xa9"}}'
    headers = sw.headers([current, previous], "msg_1", int(time.time()), body)
    assert headers["webhook-id"] == "msg_1" and len(headers["webhook-signature"].split(" ")) == 2
    for secret in (current, previous):
        assert Webhook(secret).verify(body, headers) == json.loads(body)
    with pytest.raises(WebhookVerificationError):
        Webhook(sw.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):  # one byte changed
        Webhook(current).verify(body.replace(b"updated", b"created"), headers)


def test_new_secrets_are_32_random_bytes_in_the_whsec_form() -> None:
    first, second = sw.new_secret(), sw.new_secret()
    assert first != second and first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    Webhook(first)  # the library takes it


@pytest.mark.parametrize("secret", ["whsec_%%%", "whsec_" + base64.b64encode(b"x" * 10).decode(),
                                    "whsec_" + base64.b64encode(b"x" * 65).decode()])
def test_a_secret_outside_the_spec_is_refused(secret: str) -> None:
    with pytest.raises(sw.BadSecret):
        sw.signature(secret, "msg_1", 1, b"{}")


TYPES = {"Id": FieldType.id, "Amount": FieldType.double, "Closed": FieldType.boolean, "Count": FieldType.int,
         "Due": FieldType.date, "At": FieldType.datetime, "Subject": FieldType.string}
DEFINITION = {"id": "04k000000000001AAA", "unique_name": "Case_Sync", "object": "Case"}


def _note(index: int, subject: str = "hello") -> dict[str, Any]:
    fields: dict[str, Any] = {"Id": f"500{index:015d}", "Amount": 12, "Closed": False, "Count": 3, "Due": "2026-12-24",
              "At": "2026-12-05T10:00:00.000Z", "Subject": subject}
    return jn.note_object(jn.JsonNote(f"04l{index:015d}", fields["Id"], fields), TYPES)


def test_bodies_stay_within_20_kb_and_100_notifications_and_match_their_schema() -> None:
    stamp = "2026-12-05T10:00:00.000Z"
    overhead = jn.overhead("Case", stamp, DEFINITION, "00Dorg")
    notes = [_note(i, "x" * (i % 700)) for i in range(450)]
    groups = jn.chunks([(n, jn.sized(n)) for n in notes], overhead)
    assert [n["id"] for g in groups for n in g] == [n["id"] for n in notes]  # all, once, in order
    schema = jn.schema("Case", DEFINITION, TYPES)
    jsonschema.Draft202012Validator.check_schema(schema)
    for group in groups:
        body = jn.body("updated", "Case", stamp, DEFINITION, "00Dorg", group)
        assert len(body) <= jn.MAX_BODY_BYTES and 1 <= len(group) <= jn.MAX_NOTIFICATIONS
        jsonschema.validate(json.loads(body), schema, format_checker=jsonschema.FormatChecker())
    assert len(groups) > 450 * 300 // jn.MAX_BODY_BYTES  # split by size
    tiny = [jn.note_object(jn.JsonNote(f"04l{i}", f"r{i}", {"Id": f"r{i}"}), {"Id": FieldType.id}) for i in range(150)]
    assert [len(g) for g in jn.chunks([(n, jn.sized(n)) for n in tiny], overhead)] == [100, 50]


def test_each_value_has_its_fields_json_type() -> None:
    record = _note(1)["record"]
    assert record["Amount"] == 12.0 and isinstance(record["Amount"], float)
    assert record["Closed"] is False and record["Count"] == 3 and record["At"] == "2026-12-05T10:00:00.000Z"
    thin = jn.thin_object(jn.JsonNote("04l1", "500x", {}), "https://api/records/Case/500x")
    jsonschema.validate({"type": "Case.created", "timestamp": "2026-12-05T10:00:00.000Z", "data": {
        "definition": DEFINITION, "organization_id": "o", "notifications": [thin]}}, jn.schema("Case", DEFINITION, TYPES))


@pytest.mark.parametrize(("status", "headers", "expected"), [
    (200, {}, Accepted(provider_message_id=None, state="delivered")),
    (204, {}, Accepted(provider_message_id=None, state="delivered")),
    (301, {"location": "https://elsewhere.example/x"}, Transient),
    (410, {}, Permanent),
    (429, {"retry-after": "120"}, Transient),
    (502, {"retry-after": "7"}, Transient),
    (500, {"retry-after": "600"}, Transient),
])
def test_answers_mean_what_the_spec_says(status: int, headers: dict[str, str], expected: Any) -> None:
    outcome = json_endpoint.interpret(HttpResponse(status, b"nope", headers))
    if isinstance(expected, type):
        assert isinstance(outcome, expected), outcome
    else:
        assert outcome == expected
    if status == 301:
        assert "not followed" in outcome.reason  # type: ignore[union-attr]
    if status == 410:
        assert outcome.code == "endpoint_gone"  # type: ignore[union-attr]
    if status in {429, 502}:
        assert outcome.retry_after == float(headers["retry-after"])  # type: ignore[union-attr]
    if status == 500:
        assert outcome.retry_after is None  # type: ignore[union-attr]  # only 429/502/504 are throttles
