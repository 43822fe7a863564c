"""Phone numbers to E.164 and X-Twilio-Signature, checked against the official Twilio SDK's validator."""

from __future__ import annotations

from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from chalicelib.core import twilio_signature
from chalicelib.core.phone_numbers import InvalidNumber, to_e164

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

    from chalicelib.core import rate_limit

    now = datetime(2026, 11, 24, 10, 59, 59, 500000, tzinfo=UTC)
    assert rate_limit.window_key("00Dorg", now) == "00Dorg#2026-11-24T10"
    assert rate_limit.retry_after_seconds(now) == 1
    assert rate_limit.retry_after_seconds(datetime(2026, 11, 24, 10, 0, tzinfo=UTC)) == 3600
    assert rate_limit.fits(29_900, 100, 30_000) and not rate_limit.fits(29_901, 100, 30_000)
    assert not rate_limit.fits(0, 30_001, 30_000)


@pytest.mark.parametrize(("limit", "shards"), [(1, 1), (30_000, 1), (999_999, 1), (1_000_000, 8),
                                              (1_000_005, 8), (10_800_000, 8)])
def test_a_large_org_limit_is_split_over_shards_that_add_up_to_it(limit: int, shards: int) -> None:
    from chalicelib.core import rate_limit

    shares = rate_limit.shard_limits(limit)
    assert sum(shares) == limit and len(shares) == shards
    assert max(shares) - min(shares) <= 1
    for first in range(shards):
        order = rate_limit.shard_order(first, shards)
        assert order[0] == first and sorted(order) == list(range(shards))
    assert len({rate_limit.shard_key("00Dorg#2026-11-24T10", s) for s in range(shards)}) == shards


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> Any:
    from datetime import UTC, datetime

    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 9 ? * MON-FRI *)", (2026, 11, 28, 10, 0), (2026, 11, 30, 9, 0)),  # Saturday -> Monday
        ("cron(*/15 * * * ? *)", (2026, 11, 24, 10, 7), (2026, 11, 24, 10, 15)),
        ("cron(0 0 1 JAN ? *)", (2026, 11, 24, 0, 0), (2027, 1, 1, 0, 0)),
        ("cron(30 12 29 FEB ? *)", (2026, 3, 1, 0, 0), (2028, 2, 29, 12, 30)),
        ("0 8,20 ? * 1 *", (2026, 11, 29, 8, 0), (2026, 11, 29, 20, 0)),  # 1 is Sunday; strictly after
        ("cron(0 10-14/2 ? * SAT 2026)", (2026, 11, 28, 11, 0), (2026, 11, 28, 12, 0)),
    ],
)
def test_cron_next_run(expression: str, after: tuple[int, ...], expected: tuple[int, ...]) -> None:
    from chalicelib.core.cron import Cron

    assert Cron(expression).next_after(_utc(*after)) == _utc(*expected)


def test_cron_that_never_fires_again_gives_none() -> None:
    from chalicelib.core.cron import Cron

    assert Cron("cron(0 0 1 1 ? 2020)").next_after(_utc(2026, 1, 1)) is None


@pytest.mark.parametrize(
    "expression",
    ["cron(0 9 * * MON *)", "cron(0 9 L * ? *)", "cron(0 9 ? * 2#1 *)", "0 9 * * ?", "cron(61 * * * ? *)",
     "cron(0 9 ? * FUNDAY *)", "cron(0 9 5-1 * ? *)"],
)
def test_cron_refuses_what_it_cannot_honour(expression: str) -> None:
    from chalicelib.core.cron import Cron, CronError

    with pytest.raises(CronError):
        Cron(expression)


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ("Hi\n{{ Customer.Name }}", 2, "plain contact value"),
        ("{{ Items['first'] }}", 1, "plain contact value"),
        ("Hi\n{{ loop }}", 2, "reserved"),
        ("Hi\n\n{{ CustomerName ", 3, "unexpected"),
    ],
)
def test_bodies_no_contact_can_fill_are_refused_at_save_time(body: str, line: int, reason: str) -> None:
    from chalicelib.core.rendering import TemplateProblem, check_body

    with pytest.raises(TemplateProblem) as refused:
        check_body("en-US", body)
    assert refused.value.line == line and reason in refused.value.reason


def test_names_a_contact_supplies_are_accepted() -> None:
    from chalicelib.core.rendering import check_body

    body = "{% if Priority > 1 %}Urgent: {% endif %}{{ CustomerName }}, {{ CaseName | upper }} {{ range(2) | list }}"
    assert check_body("en-US", body) == {"Priority", "CustomerName", "CaseName"}


def test_health_counts_states_rates_failures_over_ended_messages_and_finds_the_oldest_pending() -> None:
    from datetime import UTC, datetime, timedelta

    from chalicelib.core.message_health import summarize
    from chalicelib.models.messages import MessageSource, MessageState, SmsPayload
    from chalicelib.stores.messages import new_record

    now = datetime(2026, 11, 26, 12, tzinfo=UTC)

    def record(i: int, state: MessageState, minutes_ago: int, error: str | None = None) -> Any:
        made = new_record(f"msg_{i}", "sms", SmsPayload(to="+14155550100", sender="+15005550006", body="x"),
                          MessageSource(kind="instant", ref="t"), now - timedelta(minutes=minutes_ago))
        return made.model_copy(update={"state": state, "last_error": error, "error_code": "E" if error else None,
                                       "updated_at": now - timedelta(minutes=minutes_ago - 1)})

    records = [record(1, MessageState.delivered, 50), record(2, MessageState.failed, 40, "old"),
               record(3, MessageState.queued, 30), record(4, MessageState.expired, 20, "newest"),
               record(5, MessageState.sending, 10), record(6, MessageState.opted_out, 5)]
    health = summarize(records, now)
    assert health["total"] == 6 and health["by_state"]["queued"] == 1
    assert health["failure_rate"] == round(2 / 3, 4)  # two died of the three that ended; pending and opted out aside
    assert health["last_error"]["message_id"] == "msg_4"
    assert health["oldest_pending"] == {"message_id": "msg_3", "state": "queued",
                                        "created_at": (now - timedelta(minutes=30)).isoformat(),
                                        "waiting_seconds": 1800}
    assert summarize([], now)["failure_rate"] is None


def test_a_phone_number_error_says_what_form_is_expected() -> None:
    """libphonenumber's own words ("Missing or invalid default region") are jargon to the person sending."""
    import pytest

    from chalicelib.core import phone_numbers

    with pytest.raises(phone_numbers.InvalidNumber) as national:
        phone_numbers.to_e164("4155550100")
    assert "international form" in str(national.value) and "+14155550100" in str(national.value)
    assert "default region" not in str(national.value).lower().replace("default_phone_region", "")
    with pytest.raises(phone_numbers.InvalidNumber, match=r"expected international form, e.g. \+14155550100"):
        phone_numbers.to_e164("call me", "US")
    assert phone_numbers.to_e164("(415) 555-0100", "US") == "+14155550100"
