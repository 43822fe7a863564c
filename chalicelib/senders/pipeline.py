"""The sender side of every channel: one SQS record in, one provider call at most, one record update out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from chalicelib.core import backoff, circuit, clock, lifecycle
from chalicelib.models.messages import (
    DirectMessagePayload,
    MessageRecord,
    MessageState,
    QueueBody,
    SmsPayload,
    SoapPayload,
)
from chalicelib.platform.logs import log
from chalicelib.platform.settings import get_settings
from chalicelib.senders import customer_checks, eum, json_endpoint, soap, telesign, twilio, x_dm
from chalicelib.senders.outcomes import Accepted, Outcome, Permanent, Transient
from chalicelib.stores import circuits, queues, record_heads, transitions
from chalicelib.stores import messages as message_store
from chalicelib.stores import pacing as pacing_store

# One less than the queues' maxReceiveCount (infra/template.yaml: 5), so the record says why before SQS gives up.
POISON_RECEIVES = 4
CALLS_PER_ATTEMPT = {"twitter": 2}  # an @handle is looked up before the DM is sent


def _deliver(record: MessageRecord) -> Outcome:
    payload = record.payload
    if isinstance(payload, SoapPayload):
        if payload.format == "json":
            return json_endpoint.deliver(record.message_id, record.definition_id or "", payload, clock.now())
        return soap.deliver(payload)
    if isinstance(payload, SmsPayload):
        if payload.provider == "telesign":
            return telesign.deliver(record.message_id, payload, record.attempts)
        if payload.provider == "eum":
            return eum.deliver(record.message_id, payload, record.deadline, record.attempts)
        return twilio.deliver(record.channel, payload, record.attempts)
    if isinstance(payload, DirectMessagePayload):
        return x_dm.deliver(payload)
    return Permanent(reason=f"no sender for payload {type(payload).__name__}", code="unsupported")


Deliver = Callable[[MessageRecord], Outcome]


class RemainingTime(Protocol):
    """Lambda's context object, as far as the senders use it."""

    def get_remaining_time_in_millis(self) -> int: ...


def event_for(record: MessageRecord, outcome: Outcome, now: datetime) -> lifecycle.Event:
    """The provider's answer to the attempt this sender claimed, as a lifecycle event."""
    n = record.attempts
    if isinstance(outcome, Accepted):
        return lifecycle.Accepted(n, now, outcome.provider_message_id, outcome.state)
    if isinstance(outcome, Permanent):
        return lifecycle.Refused(n, now, outcome.reason, outcome.code, outcome.opted_out)
    due = backoff.next_attempt(now, n, record.deadline, retry_after=outcome.retry_after,
                               base=get_settings().retry_base_seconds)
    return lifecycle.Failing(n, now, outcome.reason, outcome.code, due)


def settle(record: MessageRecord, outcome: Outcome) -> MessageRecord:
    """Record what the attempt achieved; the lifecycle schedules the retry or parks the message in the DLQ."""
    result = transitions.run(record, event_for(record, outcome, clock.now()))
    decision, updated = result.decision, result.record
    mid, channel, n = record.message_id, record.channel, record.attempts
    if not result.changed and decision.reason.startswith("reported first"):
        log("message.status_before_settle", message_id=mid, channel=channel, state=updated.state.value)
        return updated
    if not result.changed:
        # Someone else settled this attempt (a takeover after a lost answer), or this answer is written already.
        log("message.answer_dropped", logging.WARNING, message_id=mid, channel=channel, attempts=n,
            state=updated.state.value, reason=decision.reason)
        return updated
    state = decision.state
    if state in {MessageState.sent, MessageState.delivered} and isinstance(outcome, Accepted):
        log("message.accepted", message_id=mid, channel=channel, state=outcome.state, attempts=n)
    elif state == MessageState.queued:
        log("message.retry_scheduled", message_id=mid, channel=channel, attempts=n, next_attempt=decision.due_at,
            reason=getattr(outcome, "reason", None))
    elif state == MessageState.expired:
        log("message.expired", logging.WARNING, message_id=mid, channel=channel, attempts=n,
            reason=getattr(outcome, "reason", None))
    elif state in {MessageState.failed, MessageState.opted_out}:
        log("message.failed", logging.WARNING, message_id=mid, channel=channel, state=state.value,
            code=getattr(outcome, "code", None), reason=getattr(outcome, "reason", None), attempts=n)
    return updated


Check = Callable[[str, QueueBody], None]


def process(channel: str, body_text: str, deliver: Deliver = _deliver, context: RemainingTime | None = None,
            on_check: Check | None = None) -> None:
    """Handle one queue message; raises only on infrastructure errors (the message is then redelivered). A check
    (a fallback timer or death) is not a delivery: `on_check` takes it (app.py wires triggers/fallback)."""
    try:
        body = QueueBody.model_validate_json(body_text)
    except ValidationError as exc:
        queues.dead_letter(channel, QueueBody(message_id="unparseable", attempt=0), f"bad queue body: {exc}")
        log("queue.poison", logging.ERROR, channel=channel, body=body_text[:200])
        return
    if body.check is not None:
        if on_check is None:
            log("queue.check_dropped", logging.ERROR, channel=channel, message_id=body.message_id, check=body.check)
        else:
            on_check(channel, body)
        return
    now = clock.now()
    settings = get_settings()
    lease = now + timedelta(seconds=settings.http_timeout_seconds + settings.lease_margin_seconds)
    current = message_store.get(body.message_id, consistent=False)
    if current is None:
        log("queue.unknown_message", logging.ERROR, message_id=body.message_id, channel=channel)
        return
    claimed = transitions.run(current, lifecycle.Claimed(body.attempt, now, lease))
    record = claimed.record
    if not claimed.changed:
        if claimed.decision.reason in {"early", "leased"}:
            # Arrived before its backoff is over (SQS delays are capped at 15 minutes), or claimed by a sender
            # that may have died with it: look again when the wait or the lease ends.
            queues.enqueue(channel, [body], delay=backoff.sqs_delay(now, record.due_at))
            if claimed.decision.reason == "leased":
                log("queue.lease_held", message_id=body.message_id, channel=channel, lease_until=record.due_at)
            return
        log("queue.duplicate_dropped", message_id=body.message_id, channel=channel, state=record.state.value,
            attempts=record.attempts, queued_attempt=body.attempt)
        return
    if not customer_checks.admits(record, now):
        return
    if record.pace and record.paced_for != record.attempts and not wait_turn(record, now):
        return
    if record.order is not None and not newest_and_next(record, now):
        return
    endpoint = record.payload.endpoint_url if isinstance(record.payload, SoapPayload) else None
    if endpoint is not None and not endpoint_admits(record, endpoint, now):
        return
    log("message.sending", message_id=record.message_id, channel=channel, attempt=record.attempts)
    outcome = attempt(record, deliver, now)
    budget = settings.settle_retry_seconds
    if context is not None:  # never past the function's own end: the lease takeover is the fallback then
        budget = min(budget, max(0.0, context.get_remaining_time_in_millis() / 1000 - 1.0))
    settle_persistently(record, outcome, budget)
    if endpoint is not None:
        count_for_circuit(record, endpoint, outcome)


PREVIOUS_HOPS = 5  # how far back a version looks for an older one still in flight


def newest_and_next(record: MessageRecord, now: datetime) -> bool:
    """Latest-wins ordering, at the claim. A version older than its record's head ends `superseded`, unsent (so
    no redrive or retry ever sends an older version after a newer one). The newest waits while an older
    version's attempt is still in flight, so the partner never receives the older one after it."""
    order = record.order
    if order is None:
        return True
    head = record_heads.get(order.head)
    if head is not None and head.latest_key > order.key:
        transitions.run(record, lifecycle.Superseded(record.attempts, now, head.latest_message))
        log("message.superseded", message_id=record.message_id, newer=head.latest_message, version=order.version)
        return False
    previous, hops = order.previous, 0
    while previous and hops < PREVIOUS_HOPS:
        older = message_store.get(previous, consistent=True)
        if older is None:
            break
        if older.state == MessageState.sending and older.due_at > now:
            slot = older.due_at if older.due_at < record.deadline else None
            transitions.run(record, lifecycle.Paced(record.attempts, now, slot,
                                                    f"an older version ({previous}) still in flight",
                                                    code="ordering"))
            log("message.order_wait", message_id=record.message_id, older=previous, until=slot)
            return False
        previous, hops = (older.order.previous if older.order else None), hops + 1
    return True


# Outcomes that say nothing about the endpoint: our configuration, our limits, our own errors.
NOT_THE_ENDPOINTS = {"deadline", "sender_error", "too_many_attempts", "endpoint_refused", "client_certificate",
                     "signing_secret"}


def endpoint_admits(record: MessageRecord, endpoint: str, now: datetime) -> bool:
    """True: attempt it (the circuit is closed, or this is its one probe). False: the attempt went back, the
    message waiting for the circuit without spending it (or expired, if it cannot go before its deadline)."""
    current = circuits.get(endpoint)
    verdict = circuit.admit(current, now)
    if verdict.action == "probe":
        if circuits.take_probe(current, now):
            log("circuit.probe", message_id=record.message_id, endpoint_url=endpoint, attempt=record.attempts)
            return True
        verdict = circuit.admit(circuits.get(endpoint, fresh=True), now)
        if verdict.action == "probe":  # the state moved under us: look again soon
            verdict = circuit.Verdict("wait", now + circuit.PROBE_RECHECK)
    if verdict.action == "send":
        return True
    slot = verdict.until if verdict.until is not None and verdict.until < record.deadline else None
    state = "disabled" if current.state == "disabled" else "open"
    transitions.run(record, lifecycle.Paced(record.attempts, now, slot,
                                            f"the circuit of {endpoint} is {state}", code="circuit"))
    log("message.circuit_wait", message_id=record.message_id, endpoint_url=endpoint, state=state, until=slot)
    return False


def count_for_circuit(record: MessageRecord, endpoint: str, outcome: Outcome) -> None:
    """The attempt's outcome, as the endpoint's circuit counts it; a failure to count never fails the message."""
    code = getattr(outcome, "code", None)
    if code in NOT_THE_ENDPOINTS:
        return
    try:
        circuits.record(endpoint, isinstance(outcome, Accepted), clock.now(), getattr(outcome, "reason", ""),
                        gone=code == "endpoint_gone")
    except Exception as exc:  # noqa: BLE001 - the message's own state is written already
        log("circuit.record_failed", logging.ERROR, message_id=record.message_id, endpoint_url=endpoint,
            error=f"{type(exc).__name__}: {exc}")


PACE_SLEEP_SECONDS = 0.25  # a slot this close is waited for in place, cheaper than a trip through the queue


def wait_turn(record: MessageRecord, now: datetime) -> bool:
    """Take this attempt's slot in the sender's budgets. True: send now. False: the message went back onto its
    queue until its slot (the attempt given back, its due time at the slot so the sweep knows it waits on
    purpose), or expired because every slot before its deadline is taken."""
    mid, n, channel = record.message_id, record.attempts, record.channel
    reserved = pacing_store.reserve_all(record.pace, now, record.deadline)
    keys = ", ".join(b.key for b in record.pace)
    if reserved is None:
        transitions.run(record, lifecycle.Paced(n, now, None, keys))
        log("message.expired", logging.WARNING, message_id=mid, channel=channel, reason="paced")
        return False
    at, bucket = reserved
    wait = (at - now).total_seconds()
    if wait <= PACE_SLEEP_SECONDS:
        time.sleep(max(0.0, wait))
        return True
    transitions.run(record, lifecycle.Paced(n, now, at, bucket))
    log("message.paced", message_id=mid, channel=channel, bucket=bucket, until=at, wait_seconds=round(wait, 3))
    return False


def attempt(record: MessageRecord, deliver: Deliver, now: datetime) -> Outcome:
    """One attempt, counted on the record itself (a queue message's receive count restarts whenever the sweep
    or a retry enqueues a new one): past the attempt limit or the deadline nothing is sent, and a sender that
    raises is a failed attempt like any other, so every message ends `failed` or `expired` by its deadline."""
    limit = get_settings().max_attempts
    if record.attempts > limit:
        return Permanent(reason=f"gave up after {limit} attempts", code="too_many_attempts")
    if now >= record.deadline:
        return Transient(reason="its deadline passed before this attempt", code="deadline")
    try:
        return deliver(record)
    except Exception as exc:  # noqa: BLE001 - recorded as the attempt's outcome, retried with backoff
        log("message.sender_error", logging.ERROR, message_id=record.message_id, channel=record.channel,
            error=f"{type(exc).__name__}: {exc}")
        return Transient(reason=f"sender error: {type(exc).__name__}: {exc}", code="sender_error")


def settle_persistently(record: MessageRecord, outcome: Outcome, budget_seconds: float) -> MessageRecord:
    """The provider call has happened, so its outcome must be written down: if this sender gave up now, the
    lease takeover would repeat an accepted send. AWS not answering (an outage, a throttle storm) is waited
    out for `budget_seconds`, far less than a takeover needs (the lease plus the sweep grace or the queue's
    visibility timeout); a conflict is not an outage and is raised at once."""
    give_up_at = time.monotonic() + budget_seconds
    pause = 0.25
    while True:
        try:
            return settle(record, outcome)
        except message_store.Conflict:
            raise
        except Exception as exc:
            if time.monotonic() + pause > give_up_at:
                raise
            log("message.settle_retry", logging.WARNING, message_id=record.message_id, channel=record.channel,
                error=f"{type(exc).__name__}: {exc}", pause=pause)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def give_up(channel: str, body_text: str, receives: int, error: str) -> bool:
    """A message that keeps failing: record why (`failed`, code `poison`) and park it on the DLQ ourselves,
    before SQS's maxReceiveCount moves it there with a record still saying queued. False if that fails too."""
    try:
        body = QueueBody.model_validate_json(body_text)
        if body.check is not None:  # not a delivery: the message's own state says what it is
            log("queue.check_given_up", logging.ERROR, channel=channel, message_id=body.message_id, error=error)
            return True
        reason = f"gave up after {receives} receives: {error}"
        record = message_store.get(body.message_id)
        if record is None:
            raise LookupError(f"no message {body.message_id}")
        transitions.run(record, lifecycle.GivenUp(clock.now(), reason))
    except Exception as exc:  # noqa: BLE001 - then SQS's own redrive is the last resort
        log("queue.give_up_failed", logging.ERROR, channel=channel, error=f"{type(exc).__name__}: {exc}")
        return False
    log("message.poison", logging.ERROR, message_id=body.message_id, channel=channel, receives=receives, error=error)
    return True


SETTLE_MARGIN_SECONDS = 2.0  # recording an outcome when AWS answers normally


def attempt_seconds(channel: str) -> float:
    """The time a delivery needs to be worth starting: its HTTP calls (each bounded as a whole by the HTTP
    timeout) and a normal settle. Function timeouts leave room for that plus the full settle retry of an
    outage (`SETTLE_RETRY_SECONDS`); a test checks every stage's numbers."""
    settings = get_settings()
    return settings.http_timeout_seconds * CALLS_PER_ATTEMPT.get(channel, 1) + SETTLE_MARGIN_SECONDS


def _one(channel: str, raw: dict[str, Any], context: RemainingTime | None, needed_ms: float,
         on_check: Check | None = None) -> str:
    """One SQS record: "done", "failed" (SQS redelivers it) or "skipped" (not started: too little time left)."""
    if context is not None and context.get_remaining_time_in_millis() < needed_ms:
        return "skipped"
    try:
        process(channel, raw["body"], context=context, on_check=on_check)
        return "done"
    except Exception as exc:  # noqa: BLE001 - one bad message must not fail its neighbours
        error = f"{type(exc).__name__}: {exc}"
        log("queue.record_failed", logging.ERROR, channel=channel, sqs_message_id=raw.get("messageId"), error=error)
        receives = int((raw.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
        if receives >= POISON_RECEIVES and give_up(channel, raw["body"], receives, error):
            return "done"
        return "failed"


def handle_batch(
    channel: str, records: Iterable[dict[str, Any]], context: RemainingTime | None = None,
    on_check: Check | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Lambda's partial-batch contract: only the records listed are retried (needs ReportBatchItemFailures).

    The records of a batch are delivered side by side (SENDER_THREADS): a sender mostly waits on its provider,
    and that wait is billed Lambda time, so ten waits at once cost one. No delivery starts unless the
    function's remaining time covers a whole attempt: the rest of the batch is reported failed and made visible
    again at once, instead of being cut off mid-call by the function timeout (which would leave every message of
    the batch invisible for the queue's visibility timeout).
    """
    batch = list(records)
    needed_ms = attempt_seconds(channel) * 1000
    threads = max(1, min(get_settings().sender_threads, len(batch)))
    if threads == 1:
        outcomes = [_one(channel, raw, context, needed_ms, on_check) for raw in batch]
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            outcomes = list(pool.map(lambda raw: _one(channel, raw, context, needed_ms, on_check), batch))
    failures = [{"itemIdentifier": raw["messageId"]} for raw, outcome in zip(batch, outcomes, strict=True)
                if outcome != "done"]
    skipped = [raw for raw, outcome in zip(batch, outcomes, strict=True) if outcome == "skipped"]
    if skipped:
        log("queue.out_of_time", logging.WARNING, channel=channel, skipped=len(skipped),
            remaining_ms=context.get_remaining_time_in_millis() if context else None)
        queues.release([r.get("receiptHandle", "") for r in skipped], skipped[0].get("eventSourceARN", ""))
    return {"batchItemFailures": failures}
