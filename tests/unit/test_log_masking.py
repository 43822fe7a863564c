"""No phone number reaches a log line in any form, and what is not a phone number stays readable."""

from __future__ import annotations

import json
import logging

import pytest

from chalicelib.platform import logs


@pytest.mark.parametrize(("text", "hidden"), [
    ("The 'To' number +14155550142 is not valid", "4155550"),
    ("To number: +1 (415) 555-0142, is not a mobile number", "555-01"),  # Twilio's formatted form
    ("invalid phone_number 14155550144", "4155550"),  # TeleSign's digits-only form
    ("call 415.555.0142 or +44 20 7946 0958", "7946"),
])
def test_numbers_in_any_form_are_masked(text: str, hidden: str) -> None:
    masked = logs.mask_numbers(text)
    assert hidden not in masked and "*" in masked


@pytest.mark.parametrize("text", [
    "deadline passed at 2026-11-25 21:33:47", "stream sequence 49160000000000000012345678",
    "msg_5269758123456789fc6bd0eaaed2e2ea", "amount 12.50, attempt 3 of 30", "X user 1600000000000000001",
])
def test_what_is_not_a_phone_number_is_left_alone(text: str) -> None:
    assert logs.mask_numbers(text) == text


def test_ids_are_never_masked_but_every_other_field_is(caplog: pytest.LogCaptureFixture) -> None:
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Keep()
    logging.getLogger(logs.LOGGER_NAME).addHandler(handler)
    try:
        logs.log("t", record_id="14155550142", reason="phone_number 14155550142 refused", to="+14155550142")
    finally:
        logging.getLogger(logs.LOGGER_NAME).removeHandler(handler)
    line = json.loads(lines[-1])
    assert line["record_id"] == "14155550142" and "4155550" not in line["reason"] + line["to"]
