"""TeleSign SMS and X direct messages end to end: configuration -> send -> sender -> loopback provider speaking
the real request/response formats (auth, fields, encoding, error bodies) -> final record."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.conftest import Api, wait_for
from tests.e2e.test_pipeline import message, wait_state


def configuration(api: Api, channel_type: str, channel: str, provider: str | None = None) -> str:
    status, template = api.call("POST", "/templates", {
        "name": f"{channel_type} update", "channel_type": channel_type, "default_locale": "en-US",
        "bodies": {"en-US": "Hi {{ CustomerName }}, case {{ CaseName }} is open.",
                   "de-DE": "Hallo {{ CustomerName }}, Fall {{ CaseName }} ist offen – grüße!"}})
    assert status == 201, template
    body = {"name": "cfg", "channel_type": channel_type, "channel": channel, "template_id": template["id"]}
    if provider:
        body["provider"] = provider
    status, created = api.call("POST", "/outbound-configurations", body)
    assert status == 201, created
    return str(created["id"])


def send(api: Api, configuration_id: str, *contacts: dict[str, Any]) -> list[str]:
    status, answer = api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": list(contacts)})
    assert status == 202, answer
    return list(answer["message_ids"])


def contact(address: str, locale: str = "en-US") -> dict[str, Any]:
    return {"tocontactid": address, "locale": locale, "CustomerName": "Jörg", "CaseName": "C-7"}


# --- TeleSign ---------------------------------------------------------------------------------------------


def test_telesign_receives_the_exact_request_and_the_message_is_sent(runtime: Any, api: Api) -> None:
    cfg = configuration(api, "sms", "OUTBOUND", provider="telesign")
    (message_id,) = send(api, cfg, contact("+1 415 555 2680", "de-DE"))
    record = wait_state(api, message_id, "sent")
    request = [r for r in runtime.telesign.requests if r.form().get("external_id") == message_id][-1]
    assert request.path == "/v1/messaging" and request.method == "POST"
    expected_auth = base64.b64encode(f"{runtime.telesign.customer_id}:{runtime.telesign.api_key}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected_auth}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert request.form() == {"phone_number": "14155552680", "message": "Hallo Jörg, Fall C-7 ist offen – grüße!",
                              "message_type": "ARN", "external_id": message_id, "sender_id": "OUTBOUND",
                              "callback_url": f"{runtime.api_url}/webhooks/telesign/status?attempt=1"}
    assert "ist+offen+%E2%80%93+gr%C3%BC%C3%9Fe" in request.body.decode()  # UTF-8, form-encoded
    assert len(record["provider_message_id"]) == 32


def test_telesign_delivery_reports_move_the_record(runtime: Any, api: Api) -> None:
    """TeleSign's callbacks, signed as its official SDK verifies them, move a record to delivered or failed;
    a forged one is refused and changes nothing."""
    from telesign.util import verify_telesign_callback_signature

    from chalicelib.core import telesign_signature

    body = b'{"reference_id": "X", "status": {"code": 200}}'
    signed = telesign_signature.compute(runtime.telesign.api_key, body)
    assert verify_telesign_callback_signature(runtime.telesign.api_key, signed, body.decode())  # the reference
    cfg = configuration(api, "sms", "OUTBOUND", provider="telesign")
    delivered, failed = send(api, cfg, contact("+1 415 555 2690"), contact("+1 415 555 2691"))
    wait_state(api, delivered, "sent")
    wait_state(api, failed, "sent")
    assert runtime.telesign.report(delivered, 200, "Delivered to handset", signature="bm90IGl0")[0] == 403
    assert message(api, delivered)["state"] == "sent"
    status, answer = runtime.telesign.report(delivered, 200, "Delivered to handset")
    assert status == 200 and json.loads(answer)["result"] == "updated"
    assert wait_state(api, delivered, "delivered")["provider_status"] == "200"
    assert runtime.telesign.report(failed, 290, "Message in progress")[0] == 200  # not final: noted
    assert message(api, failed)["state"] == "sent"
    assert runtime.telesign.report(failed, 237, "Blocked: carrier")[0] == 200
    record = wait_state(api, failed, "failed")
    assert record["error_code"] == "237" and "Blocked" in record["last_error"]


def test_telesign_status_code_decides_not_http(runtime: Any, api: Api) -> None:
    cfg = configuration(api, "sms", "OUTBOUND", provider="telesign")
    rejected = {"status": {"code": 11000, "description": "Invalid value for parameter phone_number."}}
    runtime.telesign.fail_next(1, 400, json.dumps(rejected).encode(), {"Content-Type": "application/json"})
    (message_id,) = send(api, cfg, contact("+14155552681"))
    record = wait_state(api, message_id, "failed")
    assert record["error_code"] == "11000" and "phone_number" in record["last_error"]


def test_telesign_outage_is_retried_until_sent(runtime: Any, api: Api) -> None:
    cfg = configuration(api, "sms", "OUTBOUND", provider="telesign")
    down = {"status": {"code": 10500, "description": "Internal server error"}}
    runtime.telesign.fail_next(2, 503, json.dumps(down).encode(), {"Content-Type": "application/json"})
    (message_id,) = send(api, cfg, contact("+14155552682"))
    record = wait_state(api, message_id, "sent")
    assert record["attempts"] == 3
    assert len([r for r in runtime.telesign.requests if r.form().get("external_id") == message_id]) == 3


def test_provider_must_fit_the_channel(api: Api) -> None:
    status, template = api.call("POST", "/templates", {"name": "w", "channel_type": "whatsapp",
                                                      "bodies": {"en-US": "hi"}})
    assert status == 201
    status, body = api.call("POST", "/outbound-configurations", {
        "name": "w", "channel_type": "whatsapp", "channel": "+15005550006", "template_id": template["id"],
        "provider": "telesign"})
    assert status == 400 and body["fields"][0]["field"] == "provider"


# --- X ----------------------------------------------------------------------------------------------------


def test_x_dm_to_a_handle_and_to_a_user_id(runtime: Any, api: Api) -> None:
    cfg = configuration(api, "twitter", "outbound_local")
    handle_id, user_id = send(api, cfg, contact("@ana_example"), contact("1600000000000000002", "de-DE"))
    first, second = wait_state(api, handle_id, "sent"), wait_state(api, user_id, "sent")
    assert first["provider_message_id"].isdigit() and second["provider_message_id"].isdigit()
    sent = [m for m in runtime.x.messages() if m[2].startswith(("Hi Jörg", "Hallo Jörg"))][-2:]
    assert sorted(sent) == sorted([
        ("local-x-user-token", "1600000000000000001", "Hi Jörg, case C-7 is open."),
        ("local-x-user-token", "1600000000000000002", "Hallo Jörg, Fall C-7 ist offen – grüße!"),
    ])
    lookup = [r for r in runtime.x.requests if r.method == "GET"][-1]
    assert lookup.path == "/2/users/by/username/ana_example"
    assert lookup.headers["authorization"] == "Bearer local-x-user-token"


def test_x_refusals_are_permanent_with_the_reason(runtime: Any, api: Api) -> None:
    cfg = configuration(api, "twitter", "outbound_local")
    runtime.x.closed_dms.add("1600000000000000009")
    unknown, closed = send(api, cfg, contact("@nobody_here"), contact("1600000000000000009"))
    assert wait_state(api, unknown, "failed")["error_code"] == "unknown_user"
    record = wait_state(api, closed, "failed")
    assert record["error_code"] == "dm-permission" and "cannot send messages" in record["last_error"]


def test_x_rate_limit_is_waited_out(runtime: Any, api: Api) -> None:
    cfg = configuration(api, "twitter", "outbound_local")
    runtime.x.dm_limit = runtime.x.sent_per_token.get("local-x-user-token", 0)
    try:
        (message_id,) = send(api, cfg, contact("@bo_example"))
        wait_for(lambda: any((h.get("detail") or "").startswith("retry: X HTTP 429")
                             for h in message(api, message_id)["history"]), what="a 429 retry")
    finally:
        runtime.x.dm_limit = None
    record = wait_state(api, message_id, "sent")
    assert record["error_code"] == "rate_limited"  # the last error is kept for the record's history


def test_x_contact_must_be_a_handle_or_id(api: Api) -> None:
    cfg = configuration(api, "twitter", "outbound_local")
    status, body = api.call("POST", "/sends", {"configuration_id": cfg, "contacts": [contact("not a handle!")]})
    assert status == 400 and body["fields"][0]["field"] == "contacts.0.tocontactid"


def test_template_preview_renders_without_sending(runtime: Any, api: Api) -> None:
    status, template = api.call("POST", "/templates", {
        "name": "preview", "channel_type": "sms", "default_locale": "en-US",
        "bodies": {"en-US": "Hi {{ CustomerName }}, {{ Status }}", "de-DE": "Hallo {{ CustomerName }}, {{ Status }}"}})
    assert status == 201
    before = (len(runtime.twilio.requests), len(runtime.telesign.requests))
    person = {"tocontactid": "+14155552690", "CustomerName": "Jörg", "contextitems": {"Status": "ok"}}
    status, german = api.call("POST", f"/templates/{template['id']}/preview", {"contact": {**person, "locale": "de-AT"}})
    assert (status, german["locale"], german["body"]) == (200, "de-DE", "Hallo Jörg, ok")
    status, fallback = api.call("POST", f"/templates/{template['id']}/preview", {"contact": person, "locale": "fr-FR"})
    assert (status, fallback["locale"], fallback["body"]) == (200, "en-US", "Hi Jörg, ok")
    status, missing = api.call("POST", f"/templates/{template['id']}/preview",
                               {"contact": {"tocontactid": "+14155552690", "CustomerName": "Jörg"}})
    assert status == 400 and missing["fields"][0]["field"] == "contact" and "Status" in missing["message"]
    assert (len(runtime.twilio.requests), len(runtime.telesign.requests)) == before
    assert api.call("POST", "/templates/tpl_nope/preview", {"contact": person})[0] == 404


def test_timeline_shows_each_message_with_its_current_state(runtime: Any, api: Api) -> None:
    status, template = api.call("POST", "/templates", {"name": "t", "channel_type": "sms",
                                                      "bodies": {"en-US": "Case {{ CaseName }} update"}})
    assert status == 201
    status, cfg = api.call("POST", "/outbound-configurations", {
        "name": "timeline", "channel_type": "sms", "channel": "+15005550006", "template_id": template["id"],
        "show_in_timeline": True})
    assert status == 201
    missing = {"tocontactid": "+14155552695", "CaseName": "C-1"}
    status, body = api.call("POST", "/sends", {"configuration_id": cfg["id"], "contacts": [missing]})
    assert status == 400 and body["fields"][0]["field"] == "contacts.0.entityrelationshipname"
    first, second = send(api, cfg["id"], {**missing, "entityrelationshipname": "contact"},
                         {**missing, "CaseName": "C-2", "entityrelationshipname": "contact", "optin": False})
    wait_state(api, first, "sent")
    status, timeline = api.call("GET", "/entities/contact/%2B14155552695/timeline")
    assert status == 200 and timeline["entity"] == {"type": "contact", "id": "+14155552695"}
    mine = {a["message_id"]: (a["state"], a["body"]) for a in timeline["activities"]}
    assert mine[first] == ("sent", "Case C-1 update") and mine[second] == ("opted_out", "Case C-2 update")
    assert api.call("GET", "/entities/contact/%2B10000000000/timeline")[1]["activities"] == []


# --- X OAuth 2.0 refresh ------------------------------------------------------------------------------------


def oauth_account(runtime: Any, public: bool = False) -> tuple[str, str]:
    """A new sending account whose credentials are a client and a refresh token (offline.access): a
    confidential client, or a public one (PKCE, no secret)."""
    import uuid

    from chalicelib.platform import secrets as secret_store
    from chalicelib.platform.settings import get_settings

    account = f"oauth_{uuid.uuid4().hex[:8]}"
    secret = None if public else f"secret-{account}"
    refresh = runtime.x.authorize(f"client-{account}", secret, "1600000000000000777")
    ssm, name = runtime.client("ssm"), get_settings().x_credentials_param
    current = json.loads(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
    current[account] = {"client_id": f"client-{account}", "refresh_token": refresh,
                        **({"client_secret": secret} if secret else {})}
    ssm.put_parameter(Name=name, Value=json.dumps(current), Type="SecureString", Overwrite=True)
    secret_store.reset()
    return account, refresh


def test_x_tokens_are_refreshed_rotated_and_renewed_after_a_401(runtime: Any, api: Api) -> None:
    from chalicelib.stores import x_tokens

    account, first_refresh = oauth_account(runtime)
    cfg = configuration(api, "twitter", account)
    before = len(runtime.x.refreshes)
    (first,) = send(api, cfg, contact("@ana_example"))
    wait_state(api, first, "sent")
    assert len(runtime.x.refreshes) == before + 1  # no access token yet: one refresh, then the DM
    state = x_tokens.get(account)
    assert state.refresh_token and state.refresh_token != first_refresh  # rotated, and the new one kept
    assert first_refresh not in runtime.x.refresh_tokens  # spent: X's refresh tokens are single use
    (second,) = send(api, cfg, contact("@ana_example"))
    wait_state(api, second, "sent")
    assert len(runtime.x.refreshes) == before + 1  # still valid: no refresh
    runtime.x.expire(str(state.access_token))  # revoked early: X answers 401
    (third,) = send(api, cfg, contact("@ana_example"))
    wait_state(api, third, "sent")
    assert len(runtime.x.refreshes) == before + 2 and x_tokens.get(account).access_token != state.access_token


def test_concurrent_senders_refresh_once(runtime: Any, api: Api) -> None:
    import threading

    from chalicelib.senders import x_auth

    account, _ = oauth_account(runtime)
    before = len(runtime.x.refreshes)
    tokens: list[str] = []
    barrier = threading.Barrier(5)

    def sender() -> None:
        barrier.wait()
        tokens.append(x_auth.access_token(account))

    threads = [threading.Thread(target=sender) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(runtime.x.refreshes) == before + 1 and len(set(tokens)) == 1 and len(tokens) == 5


def test_the_refresh_request_is_tweepys(runtime: Any) -> None:
    """What tweepy's OAuth2UserHandler (requests-oauthlib) sends for a confidential client: ours is the same
    request, without the optional scope."""
    import os

    from tweepy import OAuth2UserHandler

    from chalicelib.senders import x_auth

    account, _ = oauth_account(runtime)
    x_auth.access_token(account)
    ours = runtime.x.refreshes[-1]
    client_id, secret = f"client-{account}", f"secret-{account}"
    handler = OAuth2UserHandler(client_id=client_id, redirect_uri="https://example.com/callback",
                                scope=["dm.write", "users.read", "offline.access"], client_secret=secret)
    os.environ.update(OAUTHLIB_INSECURE_TRANSPORT="1", OAUTHLIB_RELAX_TOKEN_SCOPE="1")  # loopback is http
    refresh = runtime.x.authorize(client_id, secret, "1600000000000000777")
    handler.refresh_token(f"{runtime.x.url}/2/oauth2/token", refresh_token=refresh, auth=handler.auth)
    theirs = runtime.x.refreshes[-1]
    assert (ours.method, ours.path) == (theirs.method, theirs.path) == ("POST", "/2/oauth2/token")
    for header in ("authorization", "content-type"):
        assert ours.headers[header] == theirs.headers[header]
    assert {k: v for k, v in theirs.form().items() if k != "scope"}.keys() == ours.form().keys()
    assert ours.form()["grant_type"] == theirs.form()["grant_type"] == "refresh_token"


def test_a_refresh_x_refuses_fails_the_message_visibly(runtime: Any, api: Api) -> None:
    account, refresh = oauth_account(runtime)
    runtime.x.refresh_tokens.pop(refresh)  # the user revoked our app
    cfg = configuration(api, "twitter", account)
    (message_id,) = send(api, cfg, contact("@ana_example"))
    record = wait_state(api, message_id, "failed")
    assert record["error_code"] == "x_token_refresh" and "invalid" in record["last_error"]


def test_a_public_pkce_client_refreshes_with_its_id_in_the_body(runtime: Any, api: Api) -> None:
    """X documents refresh for public clients (PKCE, no secret): client_id in the form, no Basic auth."""
    account, _ = oauth_account(runtime, public=True)
    before = len(runtime.x.refreshes)
    (message_id,) = send(api, configuration(api, "twitter", account), contact("@ana_example"))
    wait_state(api, message_id, "sent")
    (refresh,) = runtime.x.refreshes[before:]
    assert "authorization" not in refresh.headers and refresh.form()["client_id"] == f"client-{account}"


def test_a_token_answer_without_a_new_refresh_token_keeps_the_old_one(runtime: Any, api: Api) -> None:
    """RFC 6749 section 6: the server may keep the refresh token; the next refresh uses the same one."""
    from chalicelib.stores import x_tokens

    account, first_refresh = oauth_account(runtime)
    runtime.x.rotate_refresh_tokens = False
    try:
        cfg = configuration(api, "twitter", account)
        (first,) = send(api, cfg, contact("@ana_example"))
        wait_state(api, first, "sent")
        state = x_tokens.get(account)
        assert state.refresh_token == first_refresh
        runtime.x.expire(str(state.access_token))
        (second,) = send(api, cfg, contact("@ana_example"))
        wait_state(api, second, "sent")
        assert [r.form()["refresh_token"] for r in runtime.x.refreshes[-2:]] == [first_refresh, first_refresh]
    finally:
        runtime.x.rotate_refresh_tokens = True
