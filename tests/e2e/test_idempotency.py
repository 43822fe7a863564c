"""Idempotency-Key on POST /sends and /schedules: one send per key and body, whatever the retries."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.e2e.test_pipeline import sms_configuration


def post(base: str, path: str, body: Any, key: str | None) -> tuple[int, dict[str, str], Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY[0]}",
               **({"Idempotency-Key": key} if key else {})}
    request = urllib.request.Request(base + path, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


API_KEY = [""]


@pytest.fixture(autouse=True)
def _api_key(runtime: Any) -> None:
    API_KEY[0] = runtime.api_key


def test_same_key_same_body_sends_once_and_replays_the_answer(runtime: Any, api: Any) -> None:
    import uuid

    key = f"order-{uuid.uuid4()}"
    body = {"configuration_id": sms_configuration(api), "contacts": [
        {"tocontactid": "+14155552720", "CustomerName": "I", "CaseName": "C", "contextitems": {"Status": "x"}}]}
    status, headers, first = post(runtime.api_url, "/sends", body, key)
    assert status == 202 and "Idempotent-Replayed" not in headers
    reordered = json.dumps({"contacts": body["contacts"], "configuration_id": body["configuration_id"]}, indent=2)
    status, headers, second = post(runtime.api_url, "/sends", reordered.encode(), key)
    assert status == 202 and headers.get("Idempotent-Replayed") == "true"
    assert second == first
    wait_for(lambda: any(m["To"] == "+14155552720" for m in runtime.twilio.messages()), what="the SMS")
    runtime.tick()
    assert [m["To"] for m in runtime.twilio.messages()].count("+14155552720") == 1
    contacts: list[Any] = body["contacts"]  # type: ignore[assignment]
    status, _, conflict = post(runtime.api_url, "/sends", {**body, "contacts": contacts * 2}, key)
    assert status == 409 and conflict["fields"][0]["field"] == "Idempotency-Key"


def test_a_refused_request_does_not_use_up_its_key(runtime: Any, api: Any) -> None:
    import uuid

    key = f"order-{uuid.uuid4()}"
    configuration_id = sms_configuration(api)
    bad = {"configuration_id": configuration_id, "contacts": [{"tocontactid": "+1 123"}]}
    assert post(runtime.api_url, "/sends", bad, key)[0] == 400
    good = {"configuration_id": configuration_id, "contacts": [
        {"tocontactid": "+14155552721", "CustomerName": "J", "CaseName": "C", "contextitems": {"Status": "x"}}]}
    assert post(runtime.api_url, "/sends", good, key)[0] == 202
    assert post(runtime.api_url, "/sends", good, "not a valid key!")[0] == 400


def test_schedules_take_a_key_too(runtime: Any, api: Any) -> None:
    import uuid

    key = f"sched-{uuid.uuid4()}"
    body = {"configuration_id": sms_configuration(api), "delay_seconds": 3600, "contacts": [
        {"tocontactid": "+14155552722", "CustomerName": "K", "CaseName": "C", "contextitems": {"Status": "x"}}]}
    first = post(runtime.api_url, "/schedules", body, key)
    again = post(runtime.api_url, "/schedules", body, key)
    assert first[0] == again[0] == 201 and first[2]["id"] == again[2]["id"]
    api.call("DELETE", f"/schedules/{first[2]['id']}")


def test_a_retry_after_a_lost_answer_recreates_the_same_messages_and_sends_nothing_new(
    runtime: Any, api: Any
) -> None:
    """The function died after sending but before storing its answer: the key's seed gives the same ids."""
    import uuid

    from chalicelib.models.customer import InstantSendRequest
    from chalicelib.triggers import instant

    request = InstantSendRequest.model_validate({"configuration_id": sms_configuration(api), "contacts": [
        {"tocontactid": "+14155552723", "CustomerName": "L", "CaseName": "C", "contextitems": {"Status": "x"}}]})
    seed = uuid.uuid4().hex[:24]
    first = instant.send(request, seed)
    wait_for(lambda: any(m["To"] == "+14155552723" for m in runtime.twilio.messages()), what="the SMS")
    again = instant.send(request, seed)
    assert again["message_ids"] == first["message_ids"]
    runtime.tick()
    assert [m["To"] for m in runtime.twilio.messages()].count("+14155552723") == 1


def abandoned_key(runtime: Any, route: str, key: str, body: Any, lease_until: int) -> None:
    """What a request leaves behind when it dies (or loses AWS) after taking its key: `in_progress`, no answer."""
    import time

    from chalicelib.platform.dynamo_codec import to_item
    from chalicelib.platform.settings import get_settings
    from chalicelib.stores import idempotency

    runtime.client("dynamodb").put_item(TableName=get_settings().config_table, Item=to_item({
        "pk": idempotency.KIND, "sk": f"{route}#{key}", "status": "in_progress",
        "fingerprint": idempotency.fingerprint(json.dumps(body).encode()), "lease_until": lease_until,
        "expires_at": int(time.time()) + 3600}))


def test_a_key_abandoned_in_progress_is_taken_over_after_its_lease(runtime: Any, api: Any) -> None:
    import time
    import uuid

    body = {"configuration_id": sms_configuration(api), "contacts": [
        {"tocontactid": "+14155552791", "CustomerName": "T", "CaseName": "C", "contextitems": {"Status": "x"}}]}
    key = f"abandoned-{uuid.uuid4().hex}"
    abandoned_key(runtime, "sends", key, body, int(time.time()) + 30)
    status, headers, answer = post(runtime.api_url, "/sends", body, key)
    assert status == 409 and answer["error"] == "idempotency_in_progress"
    assert 1 <= int(headers["Retry-After"]) <= 30

    abandoned_key(runtime, "sends", key, body, int(time.time()) - 1)  # the holder's lease ran out
    status, _, first = post(runtime.api_url, "/sends", body, key)
    assert status == 202, first
    status, headers, again = post(runtime.api_url, "/sends", body, key)
    assert status == 202 and again == first and headers.get("Idempotent-Replayed") == "true"
    wait_for(lambda: any(m["To"] == "+14155552791" for m in runtime.twilio.messages()), what="the SMS")
    runtime.tick()
    assert [m["To"] for m in runtime.twilio.messages()].count("+14155552791") == 1
