from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from chalicelib.core import backoff, ids
from chalicelib.core.rendering import TemplateProblem, check_body, render
from chalicelib.core.url_policy import EndpointRefused, check_url
from chalicelib.models.customer import Contact, InstantSendRequest, MessageTemplate
from chalicelib.models.definitions import DefinitionInput, check_unique_name
from chalicelib.models.messages import (
    ENTERED_FROM,
    InvalidTransition,
    MessageRecord,
    MessageSource,
    MessageState,
    SmsPayload,
    transition,
)
from chalicelib.models.schedules import ScheduleInput
from chalicelib.senders import twilio
from chalicelib.senders.outcomes import Accepted, Permanent, Transient

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_sf_ids_are_18_chars_and_deterministic() -> None:
    first = ids.sf_id("04l", "def", "event-1")
    assert re.fullmatch(r"[a-zA-Z0-9]{18}", first)
    assert first == ids.sf_id("04l", "def", "event-1")
    assert first != ids.sf_id("04l", "def", "event-2")
    assert re.fullmatch(r"04k[a-zA-Z0-9]{15}", ids.random_sf_id("04k"))


# Ids Salesforce minted, from public captured messages and WSDLs (tests/reference/salesforce/README.md).
SALESFORCE_MINTED = ["00DD0000000muCUMAY", "04k57000000TOUIAA4", "04l570000176YSmAAM", "a025700000OPgOjAAL",
                     "01t57000006qVLRAA2", "04kV0000000CaSPIA0", "04lV0000001ALshIAG", "001xx000003DGb2AAG"]


@pytest.mark.parametrize("minted", SALESFORCE_MINTED)
def test_the_case_safe_suffix_is_salesforces(minted: str) -> None:
    assert ids.checksum(minted[:15]) == minted[15:] and ids.to_18(minted[:15]) == minted
    assert ids.salesforce_id_problem(minted) is None
    assert "18-character form of this id: " + minted in str(ids.salesforce_id_problem(minted[:15]))
    wrong = minted[:15] + ("AAA" if minted[15:] != "AAA" else "AAB")
    assert "suffix" in str(ids.salesforce_id_problem(wrong))


@pytest.mark.parametrize("prefix", ["00D", "04k", "04l", "01Q"])
def test_every_id_we_mint_has_its_prefix_and_a_valid_suffix(prefix: str) -> None:
    for minted in [ids.sf_id(prefix, "a", str(n)) for n in range(200)] + [ids.random_sf_id(prefix)]:
        assert minted.startswith(prefix) and ids.salesforce_id_problem(minted) is None, minted


def test_configured_and_legacy_ids_map_to_valid_ones() -> None:
    # A team moving from Salesforce keeps its org id, in either length.
    assert ids.organization_id("00DD0000000muCUMAY") == "00DD0000000muCUMAY"
    assert ids.organization_id("00DD0000000muCU") == "00DD0000000muCUMAY"
    # Anything else (the shipped config's names, an id minted before ids carried a suffix) seeds a stable one.
    for seed in ["00Doutboundlocal01", "my-company", "04kar8utLDKnuvkAYB"]:
        derived = ids.salesforce_form(seed[:3] if seed[:3] in {"00D", "04k"} else "00D", seed)
        assert ids.salesforce_id_problem(derived) is None and derived == ids.salesforce_form(derived[:3], seed)
    for bad in ["", "short", "x" * 19, "a02570000-OPgOjAAL"]:
        assert ids.salesforce_id_problem(bad) is not None


@pytest.mark.parametrize(
    ("name", "rule"),
    [("Has space", "spaces"), ("9starts", "begin with a letter"), ("ends_", "end with an underscore"),
     ("two__under", "consecutive underscores"), ("bad-dash", "letters, digits and underscores")],
)
def test_unique_name_rules(name: str, rule: str) -> None:
    with pytest.raises(ValueError, match=rule):
        check_unique_name(name)


def test_unique_name_accepts_valid_and_definition_always_sends_id_first() -> None:
    assert check_unique_name("Case_to_ERP2") == "Case_to_ERP2"
    definition = DefinitionInput(object="Case", name="n", unique_name="A_b", endpoint_url="https://x.example",
                                 fields=["Subject", "Id"])
    assert definition.fields == ["Id", "Subject"]


def record() -> MessageRecord:
    return MessageRecord(message_id="m", channel="sms", created_at=T0, updated_at=T0, deadline=T0, due_at=T0,
                         source=MessageSource(kind="instant", ref="s"),
                         payload=SmsPayload(to="+14155550100", sender="+1", body="b"))


def test_state_machine_happy_path_is_timestamped() -> None:
    r = record()
    for step, state in enumerate([MessageState.sending, MessageState.sent, MessageState.delivered], start=1):
        r = transition(r, state, T0 + timedelta(seconds=step))
    assert [h.state for h in r.history] == [MessageState.sending, MessageState.sent, MessageState.delivered]
    assert r.history[-1].at == T0 + timedelta(seconds=3)


@pytest.mark.parametrize(("source", "target"), [
    (MessageState.queued, MessageState.delivered),
    (MessageState.delivered, MessageState.sending),  # (back to queued only through a replay)
    (MessageState.superseded, MessageState.queued),
    (MessageState.opted_out, MessageState.sending),
    (MessageState.sent, MessageState.queued),
])
def test_state_machine_refuses_invalid_transitions(source: MessageState, target: MessageState) -> None:
    with pytest.raises(InvalidTransition):
        transition(record().model_copy(update={"state": source}), target, T0)


def test_entered_from_is_the_inverse_of_transitions() -> None:
    assert ENTERED_FROM[MessageState.queued] == {
        MessageState.queued, MessageState.sending, MessageState.failed, MessageState.expired, MessageState.undelivered,
        MessageState.delivered, MessageState.deferred}
    assert ENTERED_FROM[MessageState.deleted] == {
        MessageState.queued, MessageState.failed, MessageState.expired, MessageState.undelivered,
        MessageState.deferred}
    assert ENTERED_FROM[MessageState.deferred] == {MessageState.sending}
    assert ENTERED_FROM[MessageState.undelivered] == {MessageState.sending, MessageState.sent}
    assert ENTERED_FROM[MessageState.delivered] == {MessageState.sending, MessageState.sent}


def test_backoff_doubles_with_jitter_and_caps() -> None:
    rng = random.Random(7)
    delays = [backoff.retry_delay(n, rng) for n in range(1, 12)]
    for n, delay in enumerate(delays, start=1):
        gap = min(7200, 30 * 2 ** (n - 1))
        assert 0.8 * gap <= delay <= min(7200, 1.2 * gap)
    assert backoff.retry_delay(3, rng, retry_after=1000) == 1000


def test_next_attempt_none_past_deadline() -> None:
    assert backoff.next_attempt(T0, 1, T0 + timedelta(hours=24)) is not None
    assert backoff.next_attempt(T0, 1, T0 + timedelta(seconds=5)) is None
    assert backoff.sqs_delay(T0, T0 + timedelta(hours=1)) == 900
    assert backoff.sqs_delay(T0, T0 + timedelta(seconds=1.2)) == 2


def template() -> MessageTemplate:
    return MessageTemplate(id="t", name="n", channel_type="sms", default_locale="en-US",
                           bodies={"en-US": "Hi {{ CustomerName }}", "fr-FR": "Bonjour {{ CustomerName }}"})


def test_render_picks_locale_then_language_then_default() -> None:
    assert render(template(), "fr-FR", {"CustomerName": "Ana"}) == "Bonjour Ana"
    assert render(template(), "fr-CA", {"CustomerName": "Ana"}) == "Bonjour Ana"
    assert render(template(), "de-DE", {"CustomerName": "Ana"}) == "Hi Ana"


def test_render_is_strict_and_sandboxed() -> None:
    from chalicelib.core.rendering import RenderFailed

    with pytest.raises(RenderFailed, match="'CustomerName' is undefined"):
        render(template(), None, {})
    unsafe = MessageTemplate(id="u", name="u", channel_type="sms", bodies={"en-US": "{{ x.__class__.__mro__ }}"})
    with pytest.raises(RenderFailed, match="SecurityError"):
        render(unsafe, None, {"x": ""})


def test_check_body_reports_line() -> None:
    with pytest.raises(TemplateProblem) as problem:
        check_body("en-US", "line one\n{{ oops ")
    assert problem.value.line == 2
    assert check_body("en-US", "{{ CustomerName }} {{ CaseName }}") == {"CustomerName", "CaseName"}


def test_contact_and_send_limits() -> None:
    contact = Contact(tocontactid="+14155550100", CustomerName="Ana", contextitems={"Code": 7})
    assert contact.template_values() == {"Code": 7, "CustomerName": "Ana"}
    with pytest.raises(ValidationError) as too_many:
        InstantSendRequest(configuration_id="c", contacts=[contact] * 101)
    assert too_many.value.errors()[0]["loc"] == ("contacts",)
    with pytest.raises(ValidationError, match="exactly one"):
        ScheduleInput(configuration_id="c", contacts=[contact], delay_seconds=5, rate_minutes=5)


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://partner.example.com/listener", True),
    ("http://partner.example.com/listener", False),
    ("https://127.0.0.1/x", False),
    ("https://10.1.2.3/x", False),
    ("https://169.254.169.254/latest", False),
    ("https://[::1]/x", False),
    ("https://localhost/x", False),
    ("ftp://partner.example.com", False),
])
def test_endpoint_policy(url: str, allowed: bool) -> None:
    if allowed:
        assert check_url(url, allow_insecure=False) == url
    else:
        with pytest.raises(EndpointRefused):
            check_url(url, allow_insecure=False)


def test_twilio_answers_map_to_outcomes() -> None:
    ok = twilio.interpret(201, b'{"sid": "SM1", "status": "queued"}', None)
    assert ok == Accepted(provider_message_id="SM1", state="sent")
    invalid = twilio.interpret(400, b'{"code": 21211, "message": "bad To", "status": 400}', None)
    assert isinstance(invalid, Permanent) and invalid.code == "21211" and not invalid.opted_out
    stop = twilio.interpret(400, b'{"code": 21610, "message": "unsubscribed", "status": 400}', None)
    assert isinstance(stop, Permanent) and stop.opted_out
    limited = twilio.interpret(429, b'{"code": 20429, "message": "Too Many Requests"}', "12")
    assert isinstance(limited, Transient) and limited.retry_after == 12.0
    assert isinstance(twilio.interpret(503, b"<html>", None), Transient)


def test_twilio_request_is_form_encoded_with_basic_auth() -> None:
    payload = SmsPayload(to="+14155550100", sender="+15005550006", body="Olá & adeus")
    url, body, headers = twilio.build_request("whatsapp", payload, "AC123", "secret")
    assert url.endswith("/2010-04-01/Accounts/AC123/Messages.json")
    assert body == b"To=whatsapp%3A%2B14155550100&From=whatsapp%3A%2B15005550006&Body=Ol%C3%A1+%26+adeus"
    assert headers["Authorization"] == "Basic QUMxMjM6c2VjcmV0"


def test_identity_token_round_trip_and_refusals() -> None:
    from datetime import timedelta

    from chalicelib.soap import identity_token

    key = b"k" * 32
    token = identity_token.issue(key, org_id="00Dxx0000001gPLEAY", action_id="04kxx0000000007EAA", user="erp-sync",
                                 issued_at=T0, expires_at=T0 + timedelta(hours=25))
    claims = identity_token.verify(key, token, T0 + timedelta(hours=24))
    assert (claims["iss"], claims["act"], claims["sub"]) == ("00Dxx0000001gPLEAY", "04kxx0000000007EAA", "erp-sync")
    version, body, signature = token.split(".")
    forged_claims = identity_token._b64(identity_token._unb64(body).replace(b"erp-sync", b"root-user"))
    for bad, now in [
        (token, T0 + timedelta(hours=26)),  # expired
        (f"{version}.{forged_claims}.{signature}", T0),  # claims changed, signature kept
        (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), T0),  # signature changed
        ("v2." + body + "." + signature, T0),
        ("garbage", T0),
    ]:
        with pytest.raises(identity_token.InvalidToken):
            identity_token.verify(key, bad, now)
    with pytest.raises(identity_token.InvalidToken):
        identity_token.verify(b"another key", token, T0)


def test_every_log_line_is_json_with_a_utc_timestamp_and_its_fields() -> None:
    import io
    import json
    import logging
    import re

    from chalicelib.platform.logs import LOGGER_NAME, log

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    try:
        log("message.accepted", message_id="msg_1", to="+14155550100")
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
    assert line["event"] == "message.accepted" and line["message_id"] == "msg_1" and "0100" not in line["to"][:-2]


def test_log_lines_survive_the_chalice_app_being_created_first() -> None:
    """Chalice configures its app's logger (named after the app) at ERROR with a "name - level - message"
    handler; whichever is imported first, an INFO event is one bare JSON line on stdout."""
    import json
    import subprocess
    import sys

    code = ("from chalice import Chalice\nChalice(app_name='outbound')\n"
            "from chalicelib.platform.logs import log\nlog('message.accepted', message_id='msg_1')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    (line,) = done.stdout.splitlines()
    assert json.loads(line)["event"] == "message.accepted"
