"""Instant sends: an API call with 1-100 contacts becomes queued (or opted-out) message records at once."""

from __future__ import annotations

from chalicelib.core import clock, ids
from chalicelib.models.customer import InstantSendRequest
from chalicelib.models.messages import MessageSource, MessageState
from chalicelib.stores import rate_counter
from chalicelib.triggers.customer import build_records, load_configuration
from chalicelib.triggers.dispatch import dispatch


def send(request: InstantSendRequest, seed: str | None = None, public_url: str = "") -> dict[str, object]:
    """`seed` (from an Idempotency-Key) makes the send id, hence every message id, the same on a retry;
    `public_url` is where providers call back (the API's own URL)."""
    configuration, template = load_configuration(request.configuration_id)
    send_id = f"send_{seed}" if seed else ids.random_id("send")
    now = clock.now()
    records = build_records(
        configuration,
        template,
        request.contacts,
        MessageSource(kind="instant", ref=send_id),
        now,
        lambda index: ids.deterministic_id("instant", send_id, str(index)),
        public_url,
        critical=request.critical,
    )
    # Counted after validation (a refused request costs nothing), before anything is stored; opted-out
    # contacts are not sent, so they do not count.
    sendable = sum(1 for r in records if r.state == MessageState.queued)
    if sendable:
        rate_counter.take(sendable, now)
    message_ids = dispatch(records)
    return {
        "send_id": send_id,
        "messages": [{"message_id": r.message_id, "state": r.state.value} for r in records],
        "message_ids": message_ids,
    }
