"""Consent keywords and scopes, sending windows in the recipient's zones, frequency caps: pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.core import consent, sending_window
from chalicelib.core.lifecycle import Blocked, Deferred, Released, decide
from chalicelib.models.consent import ConsentEvidence, ConsentItem
from chalicelib.models.messages import MessageRecord, MessageSource, MessageState, SendRules, SmsPayload

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
FLORIDA = "+13055550100"  # Miami: America/New_York, US-FL rules
NEW_YORK = "+12125550100"
TOLL_FREE = "+18005550100"  # every North American zone, from Guam to Adak


@pytest.mark.parametrize("word", sorted(consent.OPT_OUT))
def test_every_opt_out_keyword_is_one_whatever_its_case_and_spacing(word: str) -> None:
    assert consent.keyword(f"  {word.lower()} \n") == "opt_out"
    assert consent.keyword(word.title()) == "opt_out"


@pytest.mark.parametrize(("text", "kind"), [("START", "opt_in"), (" yes ", "opt_in"), ("Unstop", "opt_in"),
                                            ("HELP", "help"), ("info", "help")])
def test_opt_in_and_help_keywords(text: str, kind: str) -> None:
    assert consent.keyword(text) == kind


@pytest.mark.parametrize("text", ["stop texting me", "Please STOP!", "unsubscribe me please", "I want to opt out",
                                  "cancel my messages"])
def test_longer_texts_that_revoke_count_only_where_the_configuration_asks(text: str) -> None:
    assert consent.keyword(text) is None  # whole-message keywords only, as Twilio and AWS match
    assert consent.keyword(text, reasonable_means=True) == "opt_out"


@pytest.mark.parametrize("text", ["don't stop texting me", "the end of the month works", "when does it end?",
                                  "stop by the store tomorrow to pick up your order, it is ready now ok",
                                  "I will not cancel"])
def test_texts_that_do_not_revoke_stay_replies(text: str) -> None:
    assert consent.keyword(text, reasonable_means=True) is None


def evidence(at: datetime = T0, **extra: object) -> ConsentEvidence:
    fields: dict[str, object] = {"source": "twilio", "actor": "person", "at": at, "keyword": "STOP",
                                 "verified": True, **extra}
    return ConsentEvidence.model_validate(fields)


def test_a_stop_in_a_brand_scope_blocks_that_brand_only_and_a_global_one_blocks_all() -> None:
    item = consent.record(ConsentItem(key="k"), "brand-a", "all", "opted_out", evidence())
    assert consent.blocking(item, "brand-a", "sms", "transactional") is not None
    assert consent.blocking(item, "brand-b", "sms", "marketing") is None
    assert consent.blocking(item, "global", "sms", "marketing") is None
    item = consent.record(item, "global", "all", "opted_out", evidence())
    assert consent.blocking(item, "brand-b", "whatsapp", "transactional") is not None


def test_whatsapp_marketing_opt_out_blocks_only_whatsapp_marketing() -> None:
    item = consent.record(ConsentItem(key="k"), "global", consent.CODES["131050"], "opted_out",
                          evidence(keyword=None, code="131050"))
    assert consent.blocking(item, "global", "whatsapp", "marketing") is not None
    assert consent.blocking(item, "global", "whatsapp", "transactional") is None
    assert consent.blocking(item, "global", "sms", "marketing") is None


def test_start_lifts_the_scope_it_arrives_in_and_the_history_keeps_both() -> None:
    item = consent.record(ConsentItem(key="k"), "global", "all", "opted_out", evidence())
    item = consent.record(item, "global", "whatsapp_marketing", "opted_out", evidence(code="63014"))
    again = consent.record(item, "global", "all", "opted_out", evidence(T0 + timedelta(seconds=5)))
    assert again == item  # a redelivered STOP changes nothing
    item = consent.record(item, "global", "all", "opted_in", evidence(T0 + timedelta(hours=1), keyword="START"))
    assert consent.blocking(item, "global", "whatsapp", "marketing") is None
    assert [e.status for e in item.history] == ["opted_out", "opted_out", "opted_in", "opted_in"]


def test_provider_codes_that_are_the_persons_word() -> None:
    assert consent.applies_to_code("21610") == "all"
    assert consent.applies_to_code("63014") == consent.applies_to_code("131050") == "whatsapp_marketing"
    assert consent.applies_to_code("ConflictException:DESTINATION_PHONE_NUMBER_OPTED_OUT") == "all"
    assert consent.applies_to_code("30003") is None


def test_the_address_key_is_keyed_and_one_across_sms_and_whatsapp() -> None:
    assert consent.address_key(b"a", "whatsapp:+14155550100") == consent.address_key(b"a", " +14155550100")
    assert consent.address_key(b"a", "+14155550100") != consent.address_key(b"b", "+14155550100")
    assert "4155550100" not in consent.address_key(b"a", "+14155550100")


# --- sending windows -----------------------------------------------------------------------------------------


def rules(address: str, now: datetime = T0, **overrides: object) -> SendRules:
    args: dict[str, object] = {"scope": "global", "purpose": "marketing", "window": None, "fallback_zone": None,
                               "address": address, "contact_zone": None, "phone": True, "subject": "cfg",
                               "now": now}
    built = sending_window.rules_for(**{**args, **overrides})  # type: ignore[arg-type]
    assert built is not None
    return built


def test_florida_marketing_is_8_to_8_with_a_cap_new_york_8_to_9() -> None:
    florida, new_york = rules(FLORIDA), rules(NEW_YORK)
    assert (florida.window, florida.region, florida.cap, florida.zones) == (
        ("08:00", "20:00"), "US-FL", 3, ["America/New_York"])
    assert (new_york.window, new_york.region, new_york.cap) == (("08:00", "21:00"), None, None)
    # 20:30 in New York (01:30 UTC): New York may still be texted, Miami not until 08:00 local.
    evening = datetime(2026, 12, 6, 1, 30, tzinfo=UTC)
    assert sending_window.admit(new_york, evening).action == "send"
    verdict = sending_window.admit(florida, evening)
    assert verdict.action == "wait" and verdict.until == datetime(2026, 12, 6, 13, 0, tzinfo=UTC)
    # 3 a.m. in New York: both wait for 08:00 local (13:00 UTC in winter).
    night = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    assert sending_window.admit(new_york, night).until == datetime(2026, 12, 6, 13, 0, tzinfo=UTC)


def test_the_window_follows_daylight_saving_time() -> None:
    summer = datetime(2026, 7, 1, 11, 30, tzinfo=UTC)  # 07:30 EDT
    assert sending_window.admit(rules(NEW_YORK, summer), summer).until == datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def test_an_ambiguous_number_must_be_inside_the_window_in_every_zone() -> None:
    both = SendRules(purpose="marketing", window=("08:00", "21:00"),
                     zones=["America/New_York", "America/Los_Angeles"])
    # 18:00 UTC: 13:00 in New York, 10:00 in Los Angeles: both inside.
    assert sending_window.admit(both, datetime(2026, 12, 5, 18, 0, tzinfo=UTC)).action == "send"
    # 14:00 UTC: 09:00 in New York, 06:00 in Los Angeles: wait for 08:00 in Los Angeles (16:00 UTC).
    assert sending_window.admit(both, datetime(2026, 12, 5, 14, 0, tzinfo=UTC)).until == datetime(
        2026, 12, 5, 16, 0, tzinfo=UTC)
    # 03:00 UTC: 22:00 in New York (closed), 19:00 in Los Angeles (open): wait for the next shared time.
    assert sending_window.admit(both, datetime(2026, 12, 6, 3, 0, tzinfo=UTC)).until == datetime(
        2026, 12, 6, 16, 0, tzinfo=UTC)


def test_an_unknown_zone_uses_the_fallback_zone_or_waits_for_an_operator() -> None:
    british = "+881612345678"  # an Iridium number: libphonenumber says Etc/Unknown
    closed = rules(british)
    assert closed.zones == [] and sending_window.admit(closed, T0).action == "operator"
    assert rules(british, fallback_zone="Europe/London").zones == ["Europe/London"]
    # Every North American zone from Guam to Adak shares 08:00-21:00 only from 22:00 to 00:30 UTC, and no
    # 09:00-17:00 at all: then the number is as good as unknown.
    assert len(rules(TOLL_FREE).zones) == 42
    assert sending_window.admit(rules(TOLL_FREE), T0).until == datetime(2026, 12, 5, 22, 0, tzinfo=UTC)
    office = ("09:00", "17:00")
    assert rules(TOLL_FREE, window=office).zones == []
    assert rules(TOLL_FREE, window=office, fallback_zone="America/Chicago").zones == ["America/Chicago"]
    assert rules(TOLL_FREE, window=office, contact_zone="America/Denver").zones == ["America/Denver"]


def test_transactional_messages_carry_no_rules_unless_scoped_or_windowed() -> None:
    args = {"scope": "global", "purpose": "transactional", "window": None, "fallback_zone": None,
            "address": NEW_YORK, "contact_zone": None, "phone": True, "subject": "cfg", "now": T0}
    assert sending_window.rules_for(**args) is None  # type: ignore[arg-type]
    scoped = sending_window.rules_for(**{**args, "scope": "brand-a"})  # type: ignore[arg-type]
    assert scoped is not None and scoped.window is None and sending_window.admit(scoped, T0).action == "send"
    windowed = sending_window.rules_for(**{**args, "window": ("09:00", "17:00"), "critical": True})  # type: ignore[arg-type]
    assert windowed is not None and windowed.waived and sending_window.admit(windowed, T0).action == "send"


def test_the_frequency_cap_counts_the_last_24_hours() -> None:
    sent = [T0 - timedelta(hours=30), T0 - timedelta(hours=20), T0 - timedelta(hours=2)]
    assert sending_window.cap_admits(sent, 3, T0) is None  # two in the last 24 hours: a third fits
    full = [*sent, T0 - timedelta(hours=1)]
    assert sending_window.cap_admits(full, 3, T0) == T0 + timedelta(hours=4)  # when the 20-hour-old one turns 24


# --- the lifecycle's part ------------------------------------------------------------------------------------


def sending(rules_: SendRules | None = None) -> MessageRecord:
    payload = SmsPayload(to=NEW_YORK, sender="+15005550006", body="hi")
    return MessageRecord(message_id="m1", channel="sms", state=MessageState.sending, attempts=1, created_at=T0,
                         updated_at=T0, deadline=T0 + timedelta(hours=24), due_at=T0 + timedelta(seconds=30),
                         source=MessageSource(kind="instant", ref="s"), payload=payload, rules=rules_)


def test_a_blocked_attempt_ends_opted_out_unsent_naming_the_entry() -> None:
    decision = decide(sending(), Blocked(1, T0, "cns_1", "STOP via twilio"))
    assert decision.state == MessageState.opted_out and decision.fields["attempts"] == 0
    assert "cns_1" in (decision.detail or "") and decision.fields["error_code"] == "consent"
    assert decide(sending(), Blocked(2, T0, "cns_1", "x")).verdict == "refuse"  # not this sender's attempt


def test_a_deferred_attempt_waits_until_the_window_then_is_released() -> None:
    until = T0 + timedelta(hours=3)
    decision = decide(sending(), Deferred(1, T0, until, "outside"))
    assert (decision.state, decision.due_at, decision.fields["attempts"]) == (MessageState.deferred, until, 0)
    deferred = sending().model_copy(update={"state": MessageState.deferred, "attempts": 0, "due_at": until})
    released = decide(deferred, Released(until))
    assert released.state == MessageState.queued and released.due_at == until
    assert decide(deferred, Released(deferred.deadline)).state == MessageState.expired
    assert decide(sending(), Released(until)).verdict == "refuse"


def test_a_window_after_the_deadline_expires_the_message_and_no_zone_waits_for_an_operator() -> None:
    late = decide(sending(), Deferred(1, T0, T0 + timedelta(days=2), "outside"))
    assert late.state == MessageState.expired
    operator = decide(sending(), Deferred(1, T0, None, "zone unknown"))
    assert operator.state == MessageState.deferred and operator.due_at == sending().deadline
    assert "operator" in (operator.detail or "")


def test_a_zone_that_is_not_iana_is_refused_where_it_is_given() -> None:
    from pydantic import ValidationError

    from chalicelib.models.customer import ConfigurationInput, Contact

    with pytest.raises(ValidationError, match="timezone"):
        Contact(tocontactid="+12125550100", timezone="Mars/Olympus_Mons")
    with pytest.raises(ValidationError, match="fallback_timezone"):
        ConfigurationInput.model_validate({"name": "n", "channel_type": "sms", "channel": "+15005550006",
                                           "template_id": "t", "fallback_timezone": "EST5EDT; rm -rf"})
    with pytest.raises(ValidationError, match="sending_window"):
        ConfigurationInput.model_validate({"name": "n", "channel_type": "sms", "channel": "+15005550006",
                                           "template_id": "t", "sending_window": {"start": "25:00", "end": "08:00"}})
