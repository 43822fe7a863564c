"""What a customer message must pass at every attempt, after the claim and before any provider request:
the consent list, the recipient's sending window, the region's frequency cap. Every path that sends (instant,
automated, scheduled, retries, redrive, fallback) goes through a sender's claim, so this is the one place."""

from __future__ import annotations

import logging
from datetime import datetime

from chalicelib.core import consent, lifecycle, sending_window
from chalicelib.models.messages import DirectMessagePayload, MessageRecord, SmsPayload
from chalicelib.platform.logs import log
from chalicelib.stores import consent as consent_store
from chalicelib.stores import frequency_caps, transitions


def address(record: MessageRecord) -> str | None:
    payload = record.payload
    if isinstance(payload, SmsPayload):
        return payload.to
    if isinstance(payload, DirectMessagePayload):
        return payload.recipient
    return None


def admits(record: MessageRecord, now: datetime) -> bool:
    """True: go on to the provider. False: the record says why not (opted_out or deferred), nothing was sent."""
    to = address(record)
    if to is None:
        return True
    rules = record.rules
    if rules is not None and rules.keyword_answer:
        return True  # the one answer the person asked for (HELP) or the law requires (a STOP's confirmation)
    scope = rules.scope if rules else consent.GLOBAL
    purpose = rules.purpose if rules else "transactional"
    entry = consent.blocking(consent_store.get(to), scope, record.channel, purpose)
    if entry is not None:
        evidence = entry.evidence
        said = evidence.keyword or evidence.code or evidence.note or "recorded"
        transitions.run(record, lifecycle.Blocked(record.attempts, now, entry.id,
                                                  f"{said} via {evidence.source} ({entry.scope})"))
        log("message.opted_out", message_id=record.message_id, channel=record.channel, entry=entry.id,
            scope=entry.scope)
        return False
    verdict = sending_window.admit(rules, now)
    if verdict.action != "send":
        transitions.run(record, lifecycle.Deferred(record.attempts, now, verdict.until, verdict.reason))
        log("message.deferred", message_id=record.message_id, channel=record.channel, until=verdict.until,
            reason=verdict.reason)
        return False
    if rules is not None and rules.cap and rules.subject and not rules.waived and record.paced_for != record.attempts:
        later = frequency_caps.reserve(to, rules.subject, rules.cap, now)
        if later is not None:
            reason = f"{rules.cap} messages on {rules.subject} in 24 hours ({rules.region or 'cap'})"
            transitions.run(record, lifecycle.Deferred(record.attempts, now, later, reason, code="frequency_cap"))
            log("message.deferred", logging.INFO, message_id=record.message_id, channel=record.channel,
                until=later, reason=reason)
            return False
    return True
