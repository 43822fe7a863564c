"""Channel fallback, the effects: a fallback check off a channel queue takes the next step when it is due.

Checks come from the message's timer (enqueued with the message) and from its death (the lifecycle's FallBack
effect: a failure the provider reported or the sender got). The next step is rendered with its own
configuration's template for the same contact values, and written under an id derived from the logical message
and the step, so duplicates, reorderings and the timer racing a failure all make the same one message.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from chalicelib.core import backoff, clock
from chalicelib.core import fallback as rules
from chalicelib.core.errors import ApiError
from chalicelib.models.customer import Contact
from chalicelib.models.messages import MessageRecord, MessageSource, QueueBody
from chalicelib.platform import metrics
from chalicelib.platform.logs import log
from chalicelib.stores import messages as message_store
from chalicelib.stores import queues
from chalicelib.triggers.customer import build_records, load_configuration
from chalicelib.triggers.dispatch import dispatch

LOOK_AGAIN = timedelta(seconds=30)  # a message still being attempted when its timer falls due


def check(channel: str, body: QueueBody) -> None:
    now = clock.now()
    if body.due is not None and body.due > now:
        queues.enqueue(channel, [body], delay=backoff.sqs_delay(now, body.due))  # another 15-minute hop
        return
    record = message_store.get(body.message_id)
    if record is None:
        log("fallback.unknown_message", logging.WARNING, message_id=body.message_id)
        return
    verdict = rules.verdict(record, "timer" if body.due is not None else "failed")
    if verdict == "later":
        later = now + LOOK_AGAIN
        queues.enqueue(channel, [body.model_copy(update={"due": later})], delay=backoff.sqs_delay(now, later))
        return
    if verdict == "never":
        log("fallback.not_taken", message_id=record.message_id, state=record.state.value, code=record.error_code)
        return
    take_next_step(record)


def take_next_step(record: MessageRecord) -> str | None:
    """The next channel's message (made once, whoever asks); None when it cannot be built."""
    mark = record.fallback
    if mark is None or not mark.plan:
        return None
    step = mark.plan[0]
    next_id = rules.next_id(mark)
    try:
        configuration, template = load_configuration(str(step["configuration_id"]))
        contact = Contact.model_validate(mark.contact)
        source = MessageSource(kind=record.source.kind, ref=f"fallback of {record.message_id}")
        built = build_records(configuration, template, [contact], source, clock.now(), lambda _: next_id)
    except (ApiError, ValueError) as exc:
        reason = exc.message if isinstance(exc, ApiError) else str(exc)
        log("fallback.impossible", logging.WARNING, message_id=record.message_id, next_message_id=next_id,
            configuration_id=step.get("configuration_id"), reason=reason)
        metrics.emit({"FallbackImpossible": 1}, channel=record.channel, message_id=record.message_id)
        return None
    following = mark.model_copy(update={"step": mark.step + 1, "plan": mark.plan[1:]})
    dispatch([built[0].model_copy(update={"fallback": following})])
    log("fallback.taken", message_id=record.message_id, next_message_id=next_id, channel=configuration.channel_type,
        logical=mark.logical, step=mark.step + 1, state=record.state.value)
    return next_id
