"""Redrive a channel's dead-letter queue: every parked message whose record is still dead goes back through the
operator retry (fresh deadline, re-enqueued); entries for messages already retried or finished are dropped.

SQS's StartMessageMoveTask would move the raw messages, but our DLQ entries only point at records, and the record
decides: a message retried meanwhile through the API must not be sent twice (moto also lacks the move task).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from chalicelib.models.messages import MessageState, QueueBody
from chalicelib.operations import actions as operations
from chalicelib.platform import aws
from chalicelib.platform.logs import log
from chalicelib.platform.settings import get_settings
from chalicelib.stores import messages as message_store
from chalicelib.stores import queues

DEAD = frozenset({MessageState.failed, MessageState.expired, MessageState.undelivered})


@dataclass
class RedriveReport:
    redriven: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # already retried, delivered or deleted
    kept: list[str] = field(default_factory=list)  # unreadable entries, left on the DLQ for a person to look at
    failed_again: list[str] = field(default_factory=list)  # redriven and dead again within this run: left parked
    # a provider had accepted them: not sent again without `resend`, left parked
    accepted_not_resent: list[str] = field(default_factory=list)
    more: bool = False


def redrive(channel: str, limit: int, resend: bool = False) -> RedriveReport:
    report = _redrive(channel, limit, resend)
    log(
        "dlq.redrive",
        logging.WARNING,
        channel=channel,
        redriven=len(report.redriven),
        dropped=len(report.dropped),
        kept=len(report.kept),
        failed_again=len(report.failed_again),
        accepted_not_resent=len(report.accepted_not_resent),
        more=report.more,
    )
    return report


def _redrive(channel: str, limit: int, resend: bool) -> RedriveReport:
    sqs = aws.client("sqs")
    url = queues.queue_url(get_settings().dlq_name(channel))
    report = RedriveReport()
    handled = 0
    redriven: set[str] = set()
    while handled < limit:
        page = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(10, limit - handled), VisibilityTimeout=120, WaitTimeSeconds=0
        ).get("Messages", [])
        if not page:
            return report
        done = []
        repeats = 0
        for message in page:
            handled += 1
            try:
                body = QueueBody.model_validate(json.loads(message["Body"]))
            except ValueError:
                report.kept.append(message["MessageId"])
                continue
            if body.message_id in redriven:
                # Redriven by this run and dead again already (a permanent error): it stays parked (invisible for
                # the receive's visibility timeout) instead of being retried over and over until the limit.
                report.failed_again.append(body.message_id)
                repeats += 1
                continue
            redriven.add(body.message_id)
            record = message_store.get(body.message_id)
            if record is not None and record.state in DEAD and record.provider_message_id and not resend:
                report.accepted_not_resent.append(body.message_id)
                continue
            if record is not None and record.state in DEAD:
                try:
                    operations.retry(record, resend=resend, by="redrive")
                    report.redriven.append(body.message_id)
                except operations.NotAllowed:
                    report.dropped.append(body.message_id)
            else:
                report.dropped.append(body.message_id)
            done.append(message)
        if done:
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
            )
        if repeats == len(page):
            return report  # only what this run already redrove is left
    report.more = True
    return report
