"""The lifecycle's decisions, pure: events bound to their attempt, final states that only improve, retries that
never resend what a provider accepted unless asked, and the history's hash chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.core import audit_chain
from chalicelib.core import lifecycle as lc
from chalicelib.models.messages import MessageRecord, MessageSource, MessageState, SmsPayload, StateChange
from chalicelib.senders import twilio

S = MessageState
T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def sms(provider: str = "twilio", **update: Any) -> MessageRecord:
    payload = SmsPayload.model_validate({"provider": provider, "to": "+14155550100", "sender": "+15005550006", "body": "Hi"})
    record = MessageRecord(message_id="msg_1", channel="sms", created_at=T0, updated_at=T0,
                           deadline=T0 + timedelta(hours=24), due_at=T0, source=MessageSource(kind="instant", ref="r"),
                           payload=payload, history=[StateChange(state=S.queued, at=T0)])
    return record.model_copy(update=update)


def in_flight(provider: str = "twilio", attempt: int = 1) -> MessageRecord:
    """Claimed by a sender, the provider not answered yet: no provider id."""
    return sms(provider, state=S.sending, attempts=attempt, due_at=T0 + timedelta(minutes=1))


def report(provider: str, status: str, target: MessageState | None, attempt: int | None = 1,
           sid: str = "SM1") -> lc.Reported:
    return lc.Reported(provider, attempt, sid, status, target, f"{provider} reported {status}", status, T0)


def test_another_providers_event_for_an_in_flight_message_changes_nothing() -> None:
    """The attack: an End User Messaging TEXT_BLOCKED (or TEXT_DELIVERED) naming a Twilio SMS in flight."""
    for status, target in (("TEXT_BLOCKED", S.failed), ("TEXT_DELIVERED", S.delivered)):
        decision = lc.decide(in_flight("twilio"), report("eum", status, target))
        assert decision.verdict == "ignore" and "eum report" in decision.reason


@pytest.mark.parametrize("provider", ["twilio", "telesign", "eum"])
def test_a_late_report_from_an_earlier_attempt_changes_nothing(provider: str) -> None:
    record = in_flight(provider, attempt=2)
    decision = lc.decide(record, report(provider, "failed", S.failed, attempt=1))
    assert decision.verdict == "ignore" and "attempt 1" in decision.reason
    accepted = record.model_copy(update={"state": S.sent, "provider_message_id": "SM2", "accepted_attempt": 2})
    assert lc.decide(accepted, report(provider, "delivered", S.delivered, attempt=1, sid="SM1")).verdict == "ignore"


def test_a_provider_id_we_never_received_changes_nothing() -> None:
    sent = sms(state=S.sent, attempts=1, provider_message_id="SM1")
    assert lc.decide(sent, report("twilio", "failed", S.failed, sid="SMother")).verdict == "ignore"
    # a callback URL older than binding (no attempt) is believed only for the id the record holds
    assert lc.decide(in_flight(), report("twilio", "delivered", S.delivered, attempt=None)).verdict == "ignore"
    assert lc.decide(sent, report("twilio", "delivered", S.delivered, attempt=None)).state == S.delivered


def test_a_report_for_the_attempt_in_flight_is_believed_and_keeps_the_provider_id() -> None:
    decision = lc.decide(in_flight(), report("twilio", "delivered", S.delivered))
    assert decision.state == S.delivered
    assert decision.fields["provider_message_id"] == "SM1" and decision.fields["accepted_attempt"] == 1
    # the sender's answer, written after: keeps the report's state, records the id
    delivered = lc.after(in_flight(), decision, T0)
    answer = lc.decide(delivered, lc.Accepted(1, T0, "SM1"))
    assert answer.verdict == "refuse" and answer.reason == "reported first"


def test_final_states_only_improve() -> None:
    delivered = sms(state=S.delivered, attempts=1, provider_message_id="SM1")
    for status, target in (("failed", S.failed), ("undelivered", S.undelivered)):
        assert lc.decide(delivered, report("twilio", status, target)).verdict == "ignore"
    failed = sms(state=S.failed, attempts=1, provider_message_id="SM1")
    upgrade = lc.decide(failed, report("twilio", "delivered", S.delivered))
    assert upgrade.state == S.delivered and upgrade.effects == (lc.Metric("Delivered", True),)
    assert lc.decide(delivered, report("twilio", "delivered", S.delivered)).verdict == "refuse"  # duplicate
    # WhatsApp's `read` after `delivered` is a duplicate too: refused before any write, so it costs no write unit
    assert lc.decide(delivered, report("twilio", "read", S.delivered)).verdict == "refuse"
    opted = sms(state=S.opted_out, attempts=1, provider_message_id="SM1")
    assert lc.decide(opted, report("twilio", "delivered", S.delivered)).verdict == "ignore"


def test_a_retry_never_resends_what_a_provider_accepted_unless_asked() -> None:
    undelivered = sms(state=S.undelivered, attempts=1, provider_message_id="SM1", accepted_attempt=1)
    later = T0 + timedelta(hours=1)
    refused = lc.decide(undelivered, lc.Retried(later, later + timedelta(hours=24)))
    assert refused.verdict == "refuse" and "SM1" in refused.reason and "resend" in refused.reason
    resent = lc.decide(undelivered, lc.Retried(later, later + timedelta(hours=24), resend=True))
    assert resent.state == S.queued and resent.fields["provider_message_id"] is None
    assert "resend" in (resent.detail or "") and resent.effects == (lc.Enqueue(1),)
    # a message the provider refused (nothing was sent) is retried without being asked twice
    refused_by_twilio = sms(state=S.failed, attempts=1, error_code="21614")
    assert lc.decide(refused_by_twilio, lc.Retried(later, later)).state == S.queued


def test_a_claim_is_for_the_attempt_the_queue_message_names() -> None:
    queued = sms(attempts=1, due_at=T0)
    claim = lc.decide(queued, lc.Claimed(1, T0, T0 + timedelta(minutes=1)))
    assert claim.state == S.sending and claim.fields == {"attempts": 2}
    assert lc.decide(queued, lc.Claimed(0, T0, T0)).reason == "duplicate"  # an older copy
    assert lc.decide(queued.model_copy(update={"due_at": T0 + timedelta(seconds=5)}),
                     lc.Claimed(1, T0, T0)).reason == "early"


def test_twilio_created_but_failed_is_not_an_acceptance() -> None:
    """Twilio may answer 201 with the message already failed (e.g. a blocked destination): nothing was sent."""
    body = b'{"sid": "SM' + b"0" * 32 + b'", "status": "failed", "error_code": 30007, "error_message": "blocked"}'
    outcome = twilio.interpret(201, body, None)
    assert outcome.__class__.__name__ == "Permanent" and "failed" in outcome.reason  # type: ignore[union-attr]
    assert twilio.interpret(201, b'{"sid": "SM1", "status": "queued"}', None).__class__.__name__ == "Accepted"


def test_the_history_chain_verifies_and_shows_tampering() -> None:
    payload = {"kind": "sms", "to": "+14155550100", "body": "Hi"}
    digest = audit_chain.payload_digest(payload)
    lines = [f"2026-12-05T09:00:00Z queued payload={digest}", "2026-12-05T09:00:01Z sending attempt 1",
             "2026-12-05T09:00:02Z sent"]
    chain = audit_chain.extend([], lines, "")
    assert audit_chain.verify(lines, chain, payload).verified
    assert chain[:2] == audit_chain.extend([], lines[:2], "")  # appending one entry keeps the earlier links
    assert not audit_chain.verify([lines[0], lines[2], lines[1]], chain, payload).verified
    assert not audit_chain.verify(lines, chain, {**payload, "body": "Hi, pay now"}).verified
    edited = [lines[0], lines[1], "2026-12-05T09:00:02Z delivered"]
    assert "entry 2" in (audit_chain.verify(edited, chain, payload).problem or "")
