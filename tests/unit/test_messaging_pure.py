"""Phone numbers to E.164 and X-Twilio-Signature, checked against the official Twilio SDK's validator."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from chalicelib import twilio_signature
from chalicelib.phone_numbers import InvalidNumber, to_e164

TOKEN = "12345abcdef"
URL = "https://outbound.example.com/api/webhooks/twilio/status?message_id=msg_1"
PARAMS = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "To": "+14155552671", "Body": "Olá & ünïcode"}


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 415 555 2671", None, "+14155552671"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("whatsapp:+44 20 7946 0958", None, "+442079460958"),
        ("06 12 34 56 78", "FR", "+33612345678"),
    ],
)
def test_numbers_are_normalised_to_e164(raw: str, region: str | None, expected: str) -> None:
    assert to_e164(raw, region) == expected


@pytest.mark.parametrize(("raw", "region"), [("(415) 555-2671", None), ("+1 123", None), ("hello", "US"), ("+99912", None)])
def test_bad_numbers_are_refused(raw: str, region: str | None) -> None:
    with pytest.raises(InvalidNumber):
        to_e164(raw, region)


def test_our_signature_is_the_sdks() -> None:
    ours = twilio_signature.compute(TOKEN, URL, PARAMS.items())
    assert ours == RequestValidator(TOKEN).compute_signature(URL, PARAMS)
    assert twilio_signature.valid(TOKEN, URL, PARAMS.items(), RequestValidator(TOKEN).compute_signature(URL, PARAMS))


def test_signature_over_a_url_with_the_default_port_is_accepted() -> None:
    with_port = URL.replace("outbound.example.com", "outbound.example.com:443")
    signature = RequestValidator(TOKEN).compute_signature(with_port, PARAMS)
    assert twilio_signature.valid(TOKEN, URL, PARAMS.items(), signature)


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        (TOKEN, URL, {**PARAMS, "MessageStatus": "failed"}, "sdk"),  # a parameter changed
        (TOKEN, URL.replace("msg_1", "msg_2"), PARAMS, "sdk"),  # another message's callback URL
        ("another-token", URL, PARAMS, "sdk"),  # signed by another account
        (TOKEN, URL, PARAMS, None),  # unsigned
        (TOKEN, URL, PARAMS, ""),
    ],
)
def test_forged_or_missing_signatures_are_refused(
    token: str, url: str, params: dict[str, str], signature: str | None
) -> None:
    given = RequestValidator(TOKEN).compute_signature(URL, PARAMS) if signature == "sdk" else signature
    assert not twilio_signature.valid(token, url, params.items(), given)


def test_rate_windows_are_whole_hours_and_retry_after_points_at_the_next() -> None:
    from datetime import UTC, datetime

    from chalicelib import rate_limit

    now = datetime(2026, 11, 24, 10, 59, 59, 500000, tzinfo=UTC)
    assert rate_limit.window_key("00Dorg", now) == "00Dorg#2026-11-24T10"
    assert rate_limit.retry_after_seconds(now) == 1
    assert rate_limit.retry_after_seconds(datetime(2026, 11, 24, 10, 0, tzinfo=UTC)) == 3600
    assert rate_limit.fits(29_900, 100, 30_000) and not rate_limit.fits(29_901, 100, 30_000)
    assert not rate_limit.fits(0, 30_001, 30_000)
