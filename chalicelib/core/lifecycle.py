"""A message's lifecycle, decided in one place: `decide(record, event) -> Decision`.

Every state change of every message is an event here: a sender claiming an attempt, the provider's answer to it,
pacing, a provider's later report (Twilio, TeleSign, End User Messaging), an operator's retry or delete, a redrive,
a poison message given up. `decide` is pure: plain data in, a decision out (the state to enter, the record as it
must still be for the write to hold, the fields to set, the history entry, the effects to carry out). The store
applies it with one conditional write (stores/transitions.py); nothing else changes a message's state.

Events are bound to the attempt they answer. Each attempt has a number and a provider (the payload's); what a
provider sends back names both (the attempt in the callback URL or the `Context`). A report from another
provider, for another attempt, or naming a provider id this attempt never received changes nothing and is kept
in the history. Final states only improve: a `delivered` may follow `failed` or `undelivered` for the same
attempt (the handset did get it), nothing leaves `delivered` or `opted_out`, and a late failure report never
undoes a delivery.

A provider that accepted a message is not asked again by a retry or a redrive unless the operator says so
(`resend`): the person would get it twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from chalicelib.core import audit_chain, consent
from chalicelib.models.messages import (
    TERMINAL,
    DirectMessagePayload,
    MessageRecord,
    MessageState,
    SmsPayload,
    SoapPayload,
)

S = MessageState
# A record's history holds at most this many entries: transitions are bounded by the attempt limit (two entries
# an attempt), notes of ignored events stop being written once the history reaches NOTE_LIMIT.
NOTE_LIMIT = 100
DEAD = frozenset({S.failed, S.expired, S.undelivered})
RETRYABLE = DEAD | {S.queued, S.deferred}
DELETABLE = DEAD | {S.queued, S.deferred}
# Final states ranked: a report may move a message up this ladder for the attempt it answers, never down.
RANK = {S.failed: 1, S.undelivered: 1, S.delivered: 2}


# --- events ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A queue message for `attempt` (attempts already made) reached a sender: the next attempt starts."""

    attempt: int
    at: datetime
    lease_until: datetime


@dataclass(frozen=True)
class Accepted:
    """The provider took attempt `attempt`."""

    attempt: int
    at: datetime
    provider_message_id: str | None
    state: Literal["sent", "delivered"] = "sent"


@dataclass(frozen=True)
class Refused:
    """The provider refused attempt `attempt` for good (or the sender found it can never be sent)."""

    attempt: int
    at: datetime
    reason: str
    code: str | None = None
    opted_out: bool = False


@dataclass(frozen=True)
class Failing:
    """Attempt `attempt` failed in a way a later one may not; `next_due` is the backoff's next try, None when
    it would fall after the deadline."""

    attempt: int
    at: datetime
    reason: str
    code: str | None
    next_due: datetime | None


@dataclass(frozen=True)
class Paced:
    """Attempt `attempt` must wait until `slot` (None: not before the deadline) for the sender's budget `bucket`,
    or (code `circuit`) for its endpoint's circuit, which `bucket` then describes."""

    attempt: int
    at: datetime
    slot: datetime | None
    bucket: str
    code: str = "paced"


@dataclass(frozen=True)
class Superseded:
    """Latest-wins ordering: the attempt a sender claimed carries a record version older than one already known
    for its record and definition; it ends here, unsent (a success: the newer version goes instead)."""

    attempt: int
    at: datetime
    newer: str


@dataclass(frozen=True)
class Blocked:
    """The consent list forbids attempt `attempt` (checked after the claim, before any provider request): the
    message ends `opted_out`, naming the entry, and no request is made."""

    attempt: int
    at: datetime
    entry_id: str
    reason: str


@dataclass(frozen=True)
class Deferred:
    """Attempt `attempt` falls outside the recipient's sending window (or over a frequency cap): given back, the
    message waits `deferred` until `until` (None: for an operator, no zone being known). Released by the minute
    tick; expired instead when `until` is past its deadline."""

    attempt: int
    at: datetime
    until: datetime | None
    reason: str
    code: str = "quiet_hours"


@dataclass(frozen=True)
class Released:
    """The minute tick found a deferred message's wait over: back to its queue (or expired at its deadline)."""

    at: datetime


@dataclass(frozen=True)
class Reported:
    """A provider's later word on a message: Twilio's status callback, TeleSign's report, an End User
    Messaging event. `attempt` is what the callback was bound to (None: a callback URL older than attempt
    binding); `target` the state the status means (None: not final, nothing to change)."""

    provider: str
    attempt: int | None
    provider_message_id: str
    status: str
    target: MessageState | None
    reason: str
    code: str | None
    at: datetime


@dataclass(frozen=True)
class Retried:
    """An operator's retry (or a redrive): a dead message back to its queue with a fresh deadline, or a queued
    one due now. `resend`: the operator knows a provider accepted it and wants it sent again."""

    at: datetime
    deadline: datetime
    resend: bool = False
    payload: dict[str, Any] | None = None  # rebuilt from the record as it is now (an unbuildable SOAP message)
    by: Literal["operator", "redrive", "replay"] = "operator"
    waive_window: bool = False  # an operator sends a deferred message regardless of the recipient's window


@dataclass(frozen=True)
class Deleted:
    at: datetime


@dataclass(frozen=True)
class GivenUp:
    """A queue message that failed every receive: the record says why before SQS parks the raw message."""

    at: datetime
    reason: str


Event = (Claimed | Accepted | Refused | Failing | Paced | Superseded | Blocked | Deferred | Released | Reported
         | Retried | Deleted | GivenUp)


# --- decisions ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """What the record must still be for the write to hold (read with the record, checked by the write)."""

    states: frozenset[MessageState]
    attempts: int | None = None
    due_at_most: datetime | None = None  # a queued message is claimed only once its backoff is over
    due_before: datetime | None = None  # a lease is taken over only once it has run out


@dataclass(frozen=True)
class Enqueue:
    attempt: int
    not_before: datetime | None = None


@dataclass(frozen=True)
class DeadLetter:
    attempt: int
    reason: str


@dataclass(frozen=True)
class Metric:
    name: str
    latency: bool = False  # with DeliveryLatency since creation (Sent, Delivered)


@dataclass(frozen=True)
class ConsentNoted:
    """A provider's error that is the person's word (core/consent.CODES): the consent list records it."""

    code: str


@dataclass(frozen=True)
class FallBack:
    """The message died and its configuration names a next channel: look at the fallback now."""


Effect = Enqueue | DeadLetter | Metric | FallBack | ConsentNoted


@dataclass(frozen=True)
class Decision:
    """`apply`: enter `state` (one write, under `expect` as alternatives); `note`: nothing to write (a status
    that changes nothing a user needs); `ignore`: the event does not answer this record's attempt, kept as a
    history entry only; `refuse`: the caller's request is not allowed now (`reason` says why)."""

    verdict: Literal["apply", "note", "ignore", "refuse"]
    reason: str = ""
    state: MessageState | None = None
    expect: tuple[Expect, ...] = ()
    due_at: datetime | None = None
    detail: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    effects: tuple[Effect, ...] = ()


def bound_to(callback_url: str, attempt: int) -> str:
    """A provider's callback URL naming the attempt it reports on (its reports are then bound to it)."""
    return f"{callback_url}{'&' if '?' in callback_url else '?'}attempt={attempt}"


def attempt_named(text: str | None) -> int | None:
    """The attempt number a callback carries back (bound_to's, or an End User Messaging Context's); None when
    absent or not a plausible number."""
    return int(text) if text and text.isdigit() and len(text) <= 6 else None


def provider_of(record: MessageRecord) -> str:
    """Who answers for this message's attempts."""
    payload = record.payload
    if isinstance(payload, SmsPayload):
        return payload.provider
    if isinstance(payload, SoapPayload):
        return "soap"
    if isinstance(payload, DirectMessagePayload):
        return "x"
    return "unknown"


def _consent(code: str | None) -> tuple[Effect, ...]:
    return (ConsentNoted(code),) if code is not None and consent.applies_to_code(code) else ()


def _apply(state: MessageState, expect: Expect | tuple[Expect, ...], due_at: datetime, detail: str | None = None,
           effects: tuple[Effect, ...] = (), **fields: Any) -> Decision:
    return Decision("apply", state=state, expect=expect if isinstance(expect, tuple) else (expect,), due_at=due_at,
                    detail=detail, fields=fields, effects=effects)


def _ignore(record: MessageRecord, reason: str) -> Decision:
    return Decision("ignore" if len(record.history) < NOTE_LIMIT else "note", reason=reason)


def _refuse(reason: str) -> Decision:
    return Decision("refuse", reason=reason)


def decide(record: MessageRecord, event: Event) -> Decision:
    """The one place a message's state changes are decided; pure. A message that dies with fallback steps left
    also asks for its fallback (taken at most once: core/fallback.py)."""
    decision = _decide(record, event)
    dies = decision.verdict == "apply" and decision.state in {S.failed, S.undelivered, S.expired}
    if dies and record.fallback is not None and record.fallback.plan:
        return replace(decision, effects=(*decision.effects, FallBack()))
    return decision


def _decide(record: MessageRecord, event: Event) -> Decision:
    if isinstance(event, Claimed):
        return _claimed(record, event)
    if isinstance(event, Accepted | Refused | Failing | Paced):
        return _answered(record, event)
    if isinstance(event, Superseded):
        if record.state != S.sending or record.attempts != event.attempt:
            return _refuse("not this sender's attempt")
        reason = f"superseded by {event.newer}"
        return _apply(S.superseded, Expect(frozenset({S.sending}), event.attempt), event.at, reason,
                      (Metric("Superseded"),), attempts=event.attempt - 1)
    if isinstance(event, Blocked | Deferred | Released):
        return _held(record, event)
    if isinstance(event, Reported):
        return _reported(record, event)
    if isinstance(event, Retried):
        return _retried(record, event)
    if isinstance(event, Deleted):
        if record.state not in DELETABLE:
            return _refuse(f"a {record.state.value} message cannot be deleted")
        return _apply(S.deleted, Expect(frozenset({record.state}), record.attempts), event.at, "operator delete")
    return _given_up(record, event)


def _claimed(record: MessageRecord, event: Claimed) -> Decision:
    n = event.attempt
    fresh = Expect(frozenset({S.queued}), n, due_at_most=event.at)
    takeover = Expect(frozenset({S.sending}), n + 1, due_before=event.at)
    if record.state == S.queued and record.attempts == n and record.due_at <= event.at:
        return _apply(S.sending, (fresh, takeover), event.lease_until, f"attempt {n + 1}", attempts=n + 1)
    if record.state == S.sending and record.attempts == n + 1 and record.due_at < event.at:
        return _apply(S.sending, (fresh, takeover), event.lease_until, f"attempt {n + 1} (lease taken over)",
                      attempts=n + 1)
    if record.state == S.queued and record.attempts == n:
        return Decision("refuse", reason="early", due_at=record.due_at)  # its backoff is not over: wait a hop
    if record.state == S.sending and record.attempts == n + 1:
        return Decision("refuse", reason="leased", due_at=record.due_at)  # a live (or dead) holder: look later
    return _refuse("duplicate")


def _answered(record: MessageRecord, event: Accepted | Refused | Failing | Paced) -> Decision:
    """The outcome of the attempt this sender claimed; only that attempt's sender may write it."""
    n = event.attempt
    mine = Expect(frozenset({S.sending}), n)
    if isinstance(event, Accepted):
        if record.attempts == n and record.state in RANK:
            # The provider's report arrived before the sender's answer was written: the report's state stands,
            # and it brought the provider id already.
            if record.provider_message_id in {None, event.provider_message_id}:
                return _refuse("reported first")
            return _refuse(f"reported first as {record.provider_message_id}")
        if record.state != S.sending or record.attempts != n:
            return _refuse("not this sender's attempt")
        state = S(event.state)
        return _apply(state, mine, event.at, None, (Metric("Delivered" if state == S.delivered else "Sent", True),),
                      provider_message_id=event.provider_message_id, accepted_attempt=n)
    if record.state != S.sending or record.attempts != n:
        return _refuse("not this sender's attempt")
    if isinstance(event, Refused):
        if event.opted_out:
            return _apply(S.opted_out, mine, event.at, event.reason, (Metric("OptedOut"), *_consent(event.code)),
                          last_error=event.reason, error_code=event.code)
        return _apply(S.failed, mine, event.at, event.reason,
                      (DeadLetter(n, event.reason), Metric("Failed"), *_consent(event.code)),
                      last_error=event.reason, error_code=event.code)
    if isinstance(event, Failing):
        if event.next_due is None:
            reason = f"deadline passed after {n} attempts; last error: {event.reason}"
            return _apply(S.expired, mine, event.at, reason, (DeadLetter(n, reason), Metric("Expired")),
                          last_error=event.reason, error_code=event.code)
        return _apply(S.queued, mine, event.next_due, f"retry: {event.reason}", (Enqueue(n, event.next_due),),
                      last_error=event.reason, error_code=event.code)
    if event.slot is None:
        reason = (f"the sender's budget ({event.bucket}) has no room before the message's deadline"
                  if event.code == "paced" else f"{event.bucket} past the message's deadline")
        return _apply(S.expired, mine, event.at, reason, (DeadLetter(n - 1, reason), Metric("Expired")),
                      last_error=reason, error_code=event.code, attempts=n - 1)
    # The attempt is given back (it did not happen) and its slot kept: it comes back for exactly that slot.
    waits = f"paced by {event.bucket}" if event.code == "paced" else f"waits: {event.bucket}"
    return _apply(S.queued, mine, event.slot, f"{waits} until {event.slot.isoformat()}",
                  (Enqueue(n - 1, event.slot), Metric("Paced")), attempts=n - 1, paced_for=n)


def _held(record: MessageRecord, event: Blocked | Deferred | Released) -> Decision:
    """Consent and sending windows, decided after the claim and before any provider request: the attempt is
    given back (it did not happen)."""
    if isinstance(event, Released):
        if record.state != S.deferred:
            return _refuse(f"not deferred but {record.state.value}")
        waiting = Expect(frozenset({S.deferred}), record.attempts)
        if event.at >= record.deadline:
            reason = "its deadline passed while it waited for the recipient's sending window"
            return _apply(S.expired, waiting, event.at, reason,
                          (DeadLetter(record.attempts, reason), Metric("Expired")), last_error=reason,
                          error_code="quiet_hours")
        return _apply(S.queued, waiting, event.at, "released: the sending window is open",
                      (Enqueue(record.attempts),))
    n = event.attempt
    if record.state != S.sending or record.attempts != n:
        return _refuse("not this sender's attempt")
    mine = Expect(frozenset({S.sending}), n)
    if isinstance(event, Blocked):
        reason = f"opted out ({event.entry_id}): {event.reason}"
        return _apply(S.opted_out, mine, event.at, reason, (Metric("OptedOut"),), attempts=n - 1,
                      last_error=reason, error_code="consent")
    if event.until is not None and event.until >= record.deadline:
        reason = f"{event.reason}; the window opens after its deadline"
        return _apply(S.expired, mine, event.at, reason, (DeadLetter(n - 1, reason), Metric("Expired")),
                      attempts=n - 1, last_error=reason, error_code=event.code)
    until = event.until if event.until is not None else record.deadline
    detail = f"{event.reason}; " + (f"until {until.isoformat()}" if event.until else "waiting for an operator")
    return _apply(S.deferred, mine, until, detail, (Metric("Deferred"),), attempts=n - 1, last_error=detail,
                  error_code=event.code)


def _reported(record: MessageRecord, event: Reported) -> Decision:
    ours = provider_of(record)
    if event.provider != ours:
        return _ignore(record, f"a {event.provider} report ({event.status}) for a message sent through {ours}")
    if event.attempt is not None and event.attempt != record.attempts:
        return _ignore(record, f"a report ({event.status}) for attempt {event.attempt}; this is attempt "
                               f"{record.attempts}")
    known = record.provider_message_id
    if known is not None and known != event.provider_message_id:
        return _ignore(record, f"a report ({event.status}) for {event.provider_message_id}, which this message "
                               f"was not sent as ({known})")
    if known is None and event.attempt is None:
        return _ignore(record, f"a report ({event.status}) for {event.provider_message_id}, not bound to an "
                               "attempt, before any provider accepted this message")
    target = event.target
    if target is None:
        return Decision("note", reason=event.status)
    # The report answers this very attempt: it may arrive before the sender wrote the provider's answer, or
    # while a retry waits after our side timed out (the provider had taken it after all).
    fields: dict[str, Any] = {"provider_status": event.status}
    if known is None:
        fields.update(provider_message_id=event.provider_message_id, accepted_attempt=record.attempts)
    if target != S.delivered:
        fields.update(last_error=event.reason, error_code=event.code)
    current = record.state
    if current == target:
        return _refuse("duplicate")
    if current in RANK:
        if RANK[target] <= RANK[current]:
            return _ignore(record, f"a late {event.status} after {current.value}: a final state is never left "
                                   "for a worse one")
        return _apply(target, Expect(frozenset({current}), record.attempts), event.at, event.reason,
                      (Metric("Delivered", True),), **fields)
    if current in TERMINAL:  # opted_out, expired, deleted: the message's end was decided already
        return _ignore(record, f"a {event.status} after {current.value}")
    if current not in {S.sending, S.sent} and not (current == S.queued and known is None):
        return _ignore(record, f"a {event.status} while {current.value}")
    effects: tuple[Effect, ...] = (Metric("Delivered", True),)
    if target != S.delivered:
        name = "Undelivered" if target == S.undelivered else "Failed"
        effects = (DeadLetter(record.attempts, event.reason), Metric(name), *_consent(event.code))
    return _apply(target, Expect(frozenset({current}), record.attempts), event.at, event.reason, effects, **fields)


def _retried(record: MessageRecord, event: Retried) -> Decision:
    # A replay (mode all) may send a delivered message again, knowingly: listeners dedupe on its ids.
    replayable = record.state == S.delivered and event.by == "replay" and event.resend
    if record.state not in RETRYABLE and not replayable:
        return _refuse(f"a {record.state.value} message cannot be retried")
    accepted = record.provider_message_id
    if accepted is not None and not event.resend:
        return _refuse(f"{provider_of(record)} accepted attempt {record.accepted_attempt or record.attempts} as "
                       f"{accepted}: a retry would send it again; retry with resend to send it anyway")
    fields: dict[str, Any] = {}
    if record.state != S.queued:
        fields["deadline"] = event.deadline
    detail = f"{event.by} retry"
    if event.waive_window and record.rules is not None:
        fields["rules"] = record.rules.model_copy(update={"waived": True}).model_dump(mode="json")
        detail += " (sending window waived)"
    if event.payload is not None:
        fields["payload"] = event.payload
        detail += f" payload={audit_chain.payload_digest(event.payload)}"
    if accepted is not None:
        # A new attempt will get its own provider id; the accepted one stays in the history.
        fields.update(provider_message_id=None, provider_status=None)
        detail += f" (resend: {accepted} was accepted)"
    return _apply(S.queued, Expect(frozenset({record.state}), record.attempts), event.at, detail,
                  (Enqueue(record.attempts),), **fields)


def _given_up(record: MessageRecord, event: GivenUp) -> Decision:
    if record.state not in {S.queued, S.sending}:
        return _refuse(f"already {record.state.value}")
    return _apply(S.failed, Expect(frozenset({record.state}), record.attempts), event.at, event.reason,
                  (DeadLetter(record.attempts, event.reason),), last_error=event.reason, error_code="poison")


def holds(record: MessageRecord, expect: tuple[Expect, ...]) -> bool:
    """Whether the record is still as one of the decision's alternatives expects (what the write checks)."""
    return any(record.state in option.states
               and (option.attempts is None or record.attempts == option.attempts)
               and (option.due_at_most is None or record.due_at <= option.due_at_most)
               and (option.due_before is None or record.due_at < option.due_before) for option in expect)


def after(record: MessageRecord, decision: Decision, at: datetime) -> MessageRecord:
    """The record a decision leaves (what the store's write produces), for pure tests and models."""
    from chalicelib.models.messages import StateChange

    if decision.verdict == "ignore":
        return record.model_copy(update={"history": [
            *record.history, StateChange(state=record.state, at=at, detail=f"ignored: {decision.reason}")]})
    if decision.verdict != "apply" or decision.state is None or decision.due_at is None:
        return record
    fields = {k: v for k, v in decision.fields.items() if k != "payload"}
    return record.model_copy(update={
        **fields, "state": decision.state, "due_at": decision.due_at, "updated_at": at,
        "history": [*record.history, StateChange(state=decision.state, at=at, detail=decision.detail)]})
