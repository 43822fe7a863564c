"""Twilio's status callbacks and inbound replies, end to end: the loopback Twilio calls the API back, signed
with the official SDK's validator, exactly as Twilio does; forged calls are refused and change nothing."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import Api, wait_for
from tests.e2e.test_pipeline import message, sms_configuration, wait_state


@pytest.fixture
def callbacks(runtime: Any) -> Iterator[Any]:
    twilio = runtime.twilio
    twilio.status_callbacks, twilio.final_status, twilio.final_error_code = True, "delivered", None
    yield twilio
    twilio.status_callbacks, twilio.final_status, twilio.final_error_code = False, "delivered", None


def send_one(api: Api, number: str, name: str = "Ana") -> str:
    status, send = api.call("POST", "/sends", {"configuration_id": sms_configuration(api), "contacts": [
        {"tocontactid": number, "CustomerName": name, "CaseName": "C-9", "contextitems": {"Status": "open"}}]})
    assert status == 202, send
    return str(send["message_ids"][0])


def post_form(url: str, params: dict[str, str], signature: str | None) -> int:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    request = urllib.request.Request(url, data=urlencode(params).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_delivery_report_moves_the_message_to_delivered(runtime: Any, api: Api, callbacks: Any) -> None:
    message_id = send_one(api, "+14155552671")
    record = wait_state(api, message_id, "delivered")
    request = [r for r in callbacks.requests if r.form().get("To") == "+14155552671"][-1]
    # bound to the attempt it reports on
    assert request.form()["StatusCallback"] == (
        f"{runtime.api_url}/webhooks/twilio/status?message_id={message_id}&attempt=1")
    assert record["provider_message_id"] == request_sid(callbacks, message_id)
    assert record["provider_status"] == "delivered"
    assert [h["state"] for h in record["history"]][-1] == "delivered"
    answers = [answer for url, _, answer in callbacks.callbacks if f"message_id={message_id}&" in url]
    assert answers == [200, 200]  # "sent", then "delivered"


def request_sid(twilio: Any, message_id: str) -> str:
    return str(next(p["MessageSid"] for url, p, _ in twilio.callbacks if f"message_id={message_id}&" in url))


def test_undelivered_report_fails_the_message_visibly_and_it_can_be_retried(
    runtime: Any, api: Api, callbacks: Any
) -> None:
    callbacks.final_status, callbacks.final_error_code = "undelivered", "30003"
    message_id = send_one(api, "+14155552672")
    record = wait_state(api, message_id, "undelivered")
    assert record["error_code"] == "30003" and "undelivered" in record["last_error"]
    status, listed = api.call("GET", f"/messages?state=undelivered&configuration_id={record['configuration_id']}")
    assert status == 200 and [m["message_id"] for m in listed["messages"]] == [message_id]
    callbacks.final_status, callbacks.final_error_code = "delivered", None
    status, refused = api.call("POST", f"/messages/{message_id}/retry")
    assert status == 409 and "resend" in refused["message"]  # Twilio accepted it: sent again only if asked
    status, _ = api.call("POST", f"/messages/{message_id}/retry", {"resend": True})
    assert status == 202
    wait_state(api, message_id, "delivered")


def test_forged_and_unsigned_status_callbacks_are_refused_and_change_nothing(runtime: Any, api: Api) -> None:
    message_id = send_one(api, "+14155552673")
    sent = wait_state(api, message_id, "sent")
    url = f"{runtime.api_url}/webhooks/twilio/status?message_id={message_id}"
    params = {"MessageSid": sent["provider_message_id"], "MessageStatus": "failed", "ErrorCode": "30007",
              "AccountSid": runtime.twilio.account_sid}
    from twilio.request_validator import RequestValidator

    assert post_form(url, params, None) == 403
    assert post_form(url, params, RequestValidator("not-our-token").compute_signature(url, params)) == 403
    other_url = url.replace(message_id, "msg_other")  # a valid signature for another URL
    assert post_form(url, params, RequestValidator(runtime.twilio.auth_token).compute_signature(other_url, params)) == 403
    assert message(api, message_id)["state"] == "sent"
    assert post_form(url, params, RequestValidator(runtime.twilio.auth_token).compute_signature(url, params)) == 200
    assert message(api, message_id)["state"] == "failed"


def test_reply_is_stored_in_a_conversation_linked_to_the_last_message(runtime: Any, api: Api) -> None:
    first = send_one(api, "+14155552674", "Ana")
    wait_state(api, first, "sent")
    last = send_one(api, "+14155552674", "Ana again")
    wait_state(api, last, "sent")
    inbound = f"{runtime.api_url}/webhooks/twilio/inbound"
    sid = "SM" + "b" * 32
    status, body = runtime.twilio.send_inbound(inbound, "+14155552674", "+15005550006", "Thanks, all good", sid)
    assert status == 200 and b"<Response>" in body
    conversation_id = message(api, last)["conversation_id"]
    assert conversation_id and message(api, first)["conversation_id"] is None
    again = runtime.twilio.send_inbound(inbound, "+14155552674", "+15005550006", "Thanks, all good", sid)
    assert again[0] == 200  # Twilio retried: still one entry
    status, conversation = api.call("GET", f"/conversations/{conversation_id}")
    assert status == 200
    entries = [(e["direction"], e["message_id"], e["body"]) for e in conversation["entries"]]
    assert entries == [
        ("outbound", last, "Hi Ana again, case C-9 is open."),
        ("inbound", f"in_{sid}", "Thanks, all good"),
    ]
    assert conversation["entries"][1]["in_reply_to"] == last
    status, listed = api.call("GET", "/conversations?contact=%2B14155552674")
    assert status == 200 and listed["conversations"] == [{
        "conversation_id": conversation_id, "channel": "sms", "last_message_id": last,
        "last_message_at": message(api, last)["created_at"]}], listed
    assert api.call("GET", "/conversations")[1]["fields"][0]["field"] == "contact"
    assert api.call("DELETE", f"/conversations/{conversation_id}")[0] == 204  # a customer asks to be forgotten
    assert api.call("GET", f"/conversations/{conversation_id}")[0] == 404
    assert api.call("DELETE", f"/conversations/{conversation_id}")[0] == 404
    assert message(api, last)["state"] == "sent"  # the message's own record stays


@pytest.mark.parametrize("query", ["tenant=acme%20eu&next=/cases", "tenant=acme+eu&next=%2Fcases", "z=1&a=2"])
def test_a_webhook_configured_with_a_query_string_validates_as_twilio_signs_it(
        runtime: Any, api: Api, query: str) -> None:
    """Twilio signs the URL exactly as configured, query string included; API Gateway hands us the query decoded.
    The SDK-signed request is accepted; the same signature over another URL is not."""
    number = f"+1415555{2680 + len(query) % 10}"
    send_one(api, number)
    inbound = f"{runtime.api_url}/webhooks/twilio/inbound?{query}"
    status, body = runtime.twilio.send_inbound(inbound, number, "+15005550006", "via a configured query")
    assert status == 200 and b"<Response>" in body
    params = {"MessageSid": "SM" + "d" * 32, "From": number, "To": "+15005550006", "Body": "replayed elsewhere"}
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(runtime.twilio.auth_token).compute_signature(inbound, params)
    assert post_form(inbound, params, signature) == 200
    assert post_form(f"{runtime.api_url}/webhooks/twilio/inbound?tenant=other", params, signature) == 403


def test_forged_reply_is_refused_and_stores_nothing(runtime: Any, api: Api) -> None:
    url = f"{runtime.api_url}/webhooks/twilio/inbound"
    params = {"MessageSid": "SM" + "c" * 32, "From": "+14155552675", "To": "+15005550006", "Body": "spoof"}
    assert post_form(url, params, "bm90IGEgc2lnbmF0dXJl") == 403
    status, _ = api.call("GET", "/conversations/" + "conv_none")
    assert status == 404


def test_invalid_phone_number_is_a_400_naming_the_contact(api: Api) -> None:
    status, body = api.call("POST", "/sends", {"configuration_id": sms_configuration(api), "contacts": [
        {"tocontactid": "+14155552676", "CustomerName": "A", "CaseName": "C", "contextitems": {"Status": "x"}},
        {"tocontactid": "+1 123", "CustomerName": "B", "CaseName": "C", "contextitems": {"Status": "x"}}]})
    assert status == 400
    assert body["fields"][0]["field"] == "contacts.1.tocontactid"


def test_national_number_is_sent_in_e164(runtime: Any, api: Api) -> None:
    status, body = api.call("POST", "/sends", {"configuration_id": sms_configuration(api), "contacts": [
        {"tocontactid": "+1 (415) 555-2677", "CustomerName": "A", "CaseName": "C", "contextitems": {"Status": "x"}}]})
    assert status == 202, body
    wait_for(lambda: any(m["To"] == "+14155552677" for m in runtime.twilio.messages()), what="normalised number")


def test_org_limit_answers_429_with_retry_after_and_stores_nothing(runtime: Any, api: Api) -> None:
    """Every shard of the hour's count one short of its share (the test runtime's limit is large enough to be
    sharded): two more are refused by all of them, one fits."""
    import json

    from chalicelib.core import clock, rate_limit
    from chalicelib.platform.dynamo_codec import to_item
    from chalicelib.platform.settings import get_settings

    settings = get_settings()
    assert settings.send_limit_per_hour, "the test runtime sets SEND_LIMIT_PER_HOUR"
    window = rate_limit.window_key(settings.org_id, clock.now())
    shares = rate_limit.shard_limits(settings.send_limit_per_hour)
    assert len(shares) == rate_limit.SHARDS
    keys = [to_item({"pk": "RATE", "sk": rate_limit.shard_key(window, s)}) for s in range(len(shares))]
    dynamodb = runtime.client("dynamodb")
    for key, share in zip(keys, shares, strict=True):
        dynamodb.put_item(TableName=settings.config_table, Item={**key, "used": {"N": str(share - 1)}})
    try:
        body = {"configuration_id": sms_configuration(api), "contacts": [
            {"tocontactid": f"+1415555278{i}", "CustomerName": "A", "CaseName": "C", "contextitems": {"Status": "x"}}
            for i in range(2)]}
        request = urllib.request.Request(f"{runtime.api_url}/sends", data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {runtime.api_key}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 429
        assert 1 <= int(refused.value.headers["Retry-After"]) <= 3600
        assert json.loads(refused.value.read())["error"] == "rate_limited"
        assert not any(m["To"].startswith("+1415555278") for m in runtime.twilio.messages())
        body["contacts"] = body["contacts"][:1]  # one more still fits
        status, answer = api.call("POST", "/sends", body)
        assert status == 202, answer
        used = [int(dynamodb.get_item(TableName=settings.config_table, Key=key)["Item"]["used"]["N"]) for key in keys]
        assert sorted(share - count for share, count in zip(shares, used, strict=True)) == [0] + [1] * (len(shares) - 1)
    finally:
        for key in keys:
            dynamodb.delete_item(TableName=settings.config_table, Key=key)


def test_a_delivery_report_that_beats_the_senders_settle_is_kept(runtime: Any, api: Api) -> None:
    """Twilio can call back before our sender has recorded `sent`: the report wins, the sid is still stored."""
    from twilio.request_validator import RequestValidator

    from chalicelib.core import clock
    from chalicelib.senders import pipeline
    from chalicelib.senders.outcomes import Accepted
    from chalicelib.stores import messages as message_store
    from tests.factories import claim
    from tests.integration.test_message_store import records

    record = records(1, "race")[0].model_copy(update={"due_at": clock.now()})
    message_store.create(record)
    claimed = claim(record.message_id, 0, clock.now(), clock.now())  # the sender is mid-call
    sid = "SM" + "d" * 32
    url = f"{runtime.api_url}/webhooks/twilio/status?message_id={record.message_id}&attempt=1"
    params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": runtime.twilio.account_sid}
    assert post_form(url, params, RequestValidator(runtime.twilio.auth_token).compute_signature(url, params)) == 200
    assert message(api, record.message_id)["state"] == "delivered"
    settled = pipeline.settle(claimed, Accepted(provider_message_id=sid, state="sent"))  # the sender catches up
    assert settled.state == "delivered" and settled.provider_message_id == sid
    stored = message(api, record.message_id)
    assert [h["state"] for h in stored["history"]] == ["queued", "sending", "delivered"]


FUNCTION_HOST = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws"


def function_url_event(path: str, query: str, params: dict[str, str], signature: str | None,
                       method: str = "POST") -> dict[str, Any]:
    """A request as a Lambda function URL hands it over (payload format 2.0): a form body base64-encoded."""
    import base64

    headers = {"content-type": "application/x-www-form-urlencoded", "host": FUNCTION_HOST,
               "x-forwarded-proto": "https"}
    if signature is not None:
        headers["x-twilio-signature"] = signature
    return {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query, "headers": headers,
            "body": base64.b64encode(urlencode(params).encode()).decode(), "isBase64Encoded": True,
            "requestContext": {"domainName": FUNCTION_HOST, "http": {"method": method, "path": path}}}


def test_the_function_url_entry_point_takes_twilios_signed_callback_and_refuses_a_forged_one(
        runtime: Any, api: Api) -> None:
    """The deployed stack's callbacks reach `webhooks_url` (a function URL), not API Gateway: the same signature
    check over the URL Twilio called, the function URL's own host."""
    from twilio.request_validator import RequestValidator

    import app

    message_id = send_one(api, "+14155552691")
    sent = wait_state(api, message_id, "sent")
    url = f"https://{FUNCTION_HOST}/webhooks/twilio/status?message_id={message_id}"
    params = {"MessageSid": sent["provider_message_id"], "MessageStatus": "delivered",
              "AccountSid": runtime.twilio.account_sid}
    forged = RequestValidator("not-our-token").compute_signature(url, params)
    answer = app.webhooks_url(function_url_event("/webhooks/twilio/status", f"message_id={message_id}", params,
                                                 forged), None)
    assert answer["statusCode"] == 403 and message(api, message_id)["state"] == "sent"
    signature = RequestValidator(runtime.twilio.auth_token).compute_signature(url, params)
    answer = app.webhooks_url(function_url_event("/webhooks/twilio/status", f"message_id={message_id}", params,
                                                 signature), None)
    assert answer["statusCode"] == 200, answer
    assert message(api, message_id)["state"] == "delivered"
    assert app.webhooks_url(function_url_event("/sends", "", {}, None), None)["statusCode"] == 404
    assert app.webhooks_url(function_url_event("/webhooks/twilio/status", "", {}, None, "GET"), None)[
        "statusCode"] == 405
    assert app.webhooks_url({"rawPath": "/webhooks/twilio/status"}, None)["statusCode"] == 400


def test_with_a_webhook_url_set_callbacks_point_at_it(runtime: Any, api: Api,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack sets WEBHOOK_URL to its function URL: messages created afterwards carry it as StatusCallback."""
    from chalicelib.platform import settings

    monkeypatch.setenv("WEBHOOK_URL", f"https://{FUNCTION_HOST}/")
    settings.get_settings.cache_clear()
    try:
        message_id = send_one(api, "+14155552692")
        wait_for(lambda: [r for r in runtime.twilio.requests if r.form().get("To") == "+14155552692"], what="sent")
        request = [r for r in runtime.twilio.requests if r.form().get("To") == "+14155552692"][-1]
        assert request.form()["StatusCallback"] == (
            f"https://{FUNCTION_HOST}/webhooks/twilio/status?message_id={message_id}&attempt=1")
    finally:
        monkeypatch.delenv("WEBHOOK_URL")
        settings.get_settings.cache_clear()


def test_a_refused_callback_is_counted_as_the_stacks_alarm_reads_it(runtime: Any, monkeypatch: pytest.MonkeyPatch
                                                                     ) -> None:
    """Through the function URL's handler (what a public, unauthenticated caller reaches): the refusal is an EMF
    metric whose name and dimensions are exactly those the template's WebhookRefusalsAlarm watches."""
    import io
    import json
    import logging
    from pathlib import Path

    import yaml

    from chalicelib.api import function_url
    from chalicelib.platform.logs import LOGGER_NAME

    handler = next(h for h in logging.getLogger(LOGGER_NAME).handlers if isinstance(h, logging.StreamHandler))
    out = io.StringIO()
    monkeypatch.setattr(handler, "stream", out)
    answer = function_url.handle({"rawPath": "/webhooks/twilio/status", "rawQueryString": "message_id=msg_x",
                                  "headers": {"content-type": "application/x-www-form-urlencoded"},
                                  "body": "MessageSid=SM" + "0" * 32 + "&MessageStatus=delivered",
                                  "requestContext": {"domainName": "abc.lambda-url.us-east-1.on.aws",
                                                     "http": {"method": "POST"}}})
    assert answer["statusCode"] == 403
    lines = [json.loads(line) for line in out.getvalue().splitlines() if '"_aws"' in line]
    (metric,) = [line for line in lines if "WebhookRefused" in line]
    alarm = yaml.safe_load((Path(__file__).resolve().parents[2] / "infra" / "template.yaml").read_text())[
        "Resources"]["WebhookRefusalsAlarm"]["Properties"]
    directive = metric["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == alarm["Namespace"]
    assert [m["Name"] for m in directive["Metrics"]] == [alarm["MetricName"]]
    assert directive["Dimensions"] == [sorted(d["Name"] for d in alarm["Dimensions"])]
    assert metric["Channel"] == "webhook" and metric["Stage"] == "local"


def test_an_oversized_or_many_fielded_callback_is_refused_before_any_signature_is_computed(
        runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The function URL is public: 40,000 fields (349 KB, unsigned) once held it 35 s computing a signature.
    Size and field count are refused first (413, 400 naming them); no signature check runs, so no
    WebhookRefused is counted either."""
    import io
    import logging

    from chalicelib.api import function_url
    from chalicelib.platform.logs import LOGGER_NAME

    handler = next(h for h in logging.getLogger(LOGGER_NAME).handlers if isinstance(h, logging.StreamHandler))
    out = io.StringIO()
    monkeypatch.setattr(handler, "stream", out)

    def post(body: str) -> dict[str, Any]:
        return function_url.handle({"rawPath": "/webhooks/twilio/status", "rawQueryString": "message_id=msg_x",
                                    "headers": {"content-type": "application/x-www-form-urlencoded"}, "body": body,
                                    "requestContext": {"domainName": FUNCTION_HOST, "http": {"method": "POST"}}})

    flood = "&".join(f"f{i}=v" for i in range(40_000))
    assert len(flood) > 300_000
    answer = post(flood)
    assert answer["statusCode"] == 413 and "body" in answer["body"]
    many = post("&".join(f"f{i}=v" for i in range(300)))
    assert many["statusCode"] == 400 and "fields" in many["body"]
    assert "WebhookRefused" not in out.getvalue()


def test_the_signature_is_the_official_validators_for_thousands_of_fields() -> None:
    """Grouped once, joined once (linear), and still exactly what twilio-python's RequestValidator computes,
    repeated names and all."""
    from twilio.request_validator import RequestValidator

    from chalicelib.core import twilio_signature

    url = "https://outbound.example.com/webhooks/twilio/status?message_id=msg_1&attempt=2"
    params = [(f"Field{i % 1500}", f"value {i}") for i in range(3000)] + [("MessageSid", "SM1")]
    expected = RequestValidator("token").compute_signature(url, _multi(params))
    assert twilio_signature.compute("token", url, params) == expected


def _multi(params: list[tuple[str, str]]) -> Any:
    """The SDK reads repeated names through getall(), as a web framework's MultiDict offers them."""
    class Multi(dict[str, str]):
        def getall(self, name: str) -> list[str]:
            return [v for n, v in params if n == name]

    return Multi(params)
