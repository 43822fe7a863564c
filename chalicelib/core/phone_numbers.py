"""Contact numbers to E.164 with libphonenumber's metadata (phonenumbers): what Twilio and TeleSign accept.

A number without a leading + is read in the stage's default region (DEFAULT_PHONE_REGION, e.g. "US"); with no
default region it must be international.
"""

from __future__ import annotations

import phonenumbers

WHATSAPP_PREFIX = "whatsapp:"


class InvalidNumber(ValueError):
    pass


def to_e164(raw: str, default_region: str | None = None) -> str:
    text = raw.strip().removeprefix(WHATSAPP_PREFIX)
    try:
        number = phonenumbers.parse(text, default_region if not text.startswith("+") else None)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE and not default_region:
            raise InvalidNumber(f"{raw!r}: write it in international form, + and the country code (e.g. "
                                "+14155550100); national numbers need the stage's DEFAULT_PHONE_REGION") from exc
        raise InvalidNumber(f"{raw!r} is not a phone number: expected international form, e.g. +14155550100") \
            from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber(f"{raw!r} is not a valid number in its region")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
