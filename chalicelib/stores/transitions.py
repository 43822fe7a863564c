"""Where a lifecycle event meets the store: decide (core/lifecycle.py), write the decision with one conditional
write, carry out its effects (enqueue, dead-letter, metrics). A write that lost a race is decided again on the
record as the race left it (the conditional failure returns it), so concurrent events each land once or are
refused for what they are, never applied over a state they did not see."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chalicelib.core import backoff, clock
from chalicelib.core.lifecycle import (
    ConsentNoted,
    DeadLetter,
    Decision,
    Enqueue,
    Event,
    FallBack,
    Metric,
    decide,
    provider_of,
)
from chalicelib.models.messages import DirectMessagePayload, MessageRecord, QueueBody, SmsPayload
from chalicelib.platform import metrics
from chalicelib.platform.logs import log
from chalicelib.stores import messages as message_store
from chalicelib.stores import queues

TRIES = 4


@dataclass(frozen=True)
class Result:
    decision: Decision
    record: MessageRecord  # as written, or as it was when the event changed nothing

    @property
    def changed(self) -> bool:
        return self.decision.verdict == "apply"


def run(record: MessageRecord, event: Event) -> Result:
    """Decide, write, carry out. Raises message_store.Conflict only when the record vanished or kept moving."""
    for _ in range(TRIES):
        decision = decide(record, event)
        if decision.verdict in {"note", "refuse"}:
            return Result(decision, record)
        try:
            written = message_store.apply(record, decision, event.at)
        except message_store.Conflict as conflict:
            if conflict.current is None:
                raise
            record = conflict.current
            continue
        if decision.verdict == "ignore":
            log("message.event_ignored", logging.WARNING, message_id=record.message_id, reason=decision.reason)
        else:
            carry_out(written, decision)
        return Result(decision, written)
    raise message_store.Conflict(record)


def carry_out(record: MessageRecord, decision: Decision) -> None:
    mid, channel = record.message_id, record.channel
    now = clock.now()
    for effect in decision.effects:
        if isinstance(effect, Enqueue):
            delay = backoff.sqs_delay(now, effect.not_before) if effect.not_before else 0
            queues.enqueue(channel, [QueueBody(message_id=mid, attempt=effect.attempt)], delay=delay)
        elif isinstance(effect, DeadLetter):
            queues.dead_letter(channel, QueueBody(message_id=mid, attempt=effect.attempt), effect.reason)
        elif isinstance(effect, FallBack):
            queues.enqueue(channel, [QueueBody(message_id=mid, attempt=0, check="fallback")])  # due: now
        elif isinstance(effect, ConsentNoted):
            _note_consent(record, effect.code)
        elif isinstance(effect, Metric):
            if effect.latency:
                metrics.reached(effect.name, channel=channel, message_id=mid, created_at=record.created_at, now=now)
            else:
                metrics.emit({effect.name: 1}, channel=channel, message_id=mid)


def _note_consent(record: MessageRecord, code: str) -> None:
    """A provider's error that is the person's word goes into the consent list; failing to write it never
    fails the message's own transition (written already), and the next one would be refused by the same code."""
    from chalicelib.stores import consent as consent_store

    payload = record.payload
    address = payload.to if isinstance(payload, SmsPayload) else (
        payload.recipient if isinstance(payload, DirectMessagePayload) else None)
    if address is None:
        return
    try:
        consent_store.note_provider_code(record.message_id, address, record.rules.scope if record.rules else "global",
                                          provider_of(record), code, record.provider_message_id, clock.now())
    except Exception as exc:  # noqa: BLE001 - see above
        log("consent.note_failed", logging.ERROR, message_id=record.message_id, code=code,
            error=f"{type(exc).__name__}: {exc}")
