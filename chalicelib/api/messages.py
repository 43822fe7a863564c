"""Message records: read one, list them newest first, their health over a window, retry or delete one."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated

from chalice.app import Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import known_parameters, parse, reply
from chalicelib.api.routing import Routes
from chalicelib.core import clock, fallback
from chalicelib.core.errors import ApiError, invalid, not_found, require
from chalicelib.core.message_chart import chart
from chalicelib.core.message_health import summarize
from chalicelib.models.messages import Audit, ChainEntry, MessageRecord, MessageState, MessageView
from chalicelib.operations import actions as operations
from chalicelib.operations import redrive
from chalicelib.platform.settings import CHANNELS
from chalicelib.stores import message_listing
from chalicelib.stores import messages as message_store

routes = Routes(__name__)


@routes.management("/messages/{message_id}", methods=["GET"])
def get_message(message_id: str) -> Response:
    record = message_store.get(message_id)
    if record is None:
        raise not_found("message", message_id)
    verdict = message_store.audit(record)
    audit = Audit(verified=verdict.verified, problem=verdict.problem, payload_digest=verdict.payload_digest)
    chain: list[ChainEntry] = []
    if record.fallback is not None:
        found = message_store.get_many(fallback.chain_ids(record.fallback))
        chain = [ChainEntry(message_id=m.message_id, channel=m.channel, state=m.state,
                            step=m.fallback.step if m.fallback else 0) for m in found.values()]
        chain.sort(key=lambda entry: entry.step)
    via = [entry.channel for entry in chain if entry.state == MessageState.delivered]
    return reply(200, MessageView(**record.model_dump(), audit=audit, fallback_chain=chain, delivered_via=via))


LIST_PARAMETERS = {
    "state",
    "limit",
    "cursor",
    "channel",
    "configuration_id",
    "definition_id",
    "created_after",
    "created_before",
    "contact",
    "record_id",
    "provider_message_id",
}


def _moment(query: dict[str, str], name: str) -> str | None:
    """An ISO time as the stored created_at compares (second precision, UTC)."""
    text = query.get(name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise invalid(name, "an ISO 8601 time, e.g. 2026-11-24T09:00:00Z") from exc
    if moment.tzinfo is None:
        raise invalid(name, "must carry a timezone, e.g. 2026-11-24T09:00:00Z")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


@routes.management("/messages", methods=["GET"])
def list_messages(query: dict[str, str] | None) -> Response:
    """Messages newest first, every state unless `state` names one; filters: channel, configuration_id,
    definition_id, created_after, created_before, record_id (SOAP messages carrying it), provider_message_id (the
    provider's id: Twilio's SM..., End User Messaging's, TeleSign's reference), contact (a customer's messages,
    read from their own index however old) — applied after the page's read, so a page can be short while a
    cursor remains."""
    query = known_parameters(query, LIST_PARAMETERS)
    try:
        states = [MessageState(query["state"])] if "state" in query else []
    except ValueError as exc:
        raise invalid("state", f"one of {', '.join(s.value for s in MessageState)}") from exc
    try:
        limit = int(query.get("limit", "50"))
    except ValueError as exc:
        raise invalid("limit", "must be an integer") from exc
    if not 1 <= limit <= 100:
        raise invalid("limit", "must be between 1 and 100")
    if "channel" in query and query["channel"] not in CHANNELS:
        raise invalid("channel", f"one of {', '.join(CHANNELS)}")
    if len(query.get("provider_message_id", "")) > 128:
        raise invalid("provider_message_id", "at most 128 characters")
    equals: dict[str, str] = {k: query[k] for k in ("channel", "configuration_id", "definition_id",
                                                    "provider_message_id") if k in query}
    after, before = _moment(query, "created_after"), _moment(query, "created_before")
    ranges = {"created_at": (after, before)} if after or before else None
    contains = {"payload.record_ids": query["record_id"]} if "record_id" in query else None
    if "contact" in query and contains:
        raise invalid("record_id", "SOAP messages carry records, customer messages a contact: not both")
    try:
        if "contact" in query:
            records, cursor = message_listing.list_for_contacts(
                contact_keys(query["contact"], query.get("channel")), states, limit, query.get("cursor"),
                equals=equals, ranges=ranges)
        else:
            records, cursor = message_listing.list_filtered(states, limit, query.get("cursor"), equals=equals,
                                                          contains=contains, ranges=ranges)
    except message_listing.BadCursor as exc:
        raise invalid("cursor", str(exc)) from exc
    return reply(200, {"messages": [r.model_dump(mode="json") for r in records], "cursor": cursor})


CUSTOMER_CHANNELS = ("sms", "whatsapp", "twitter")


def contact_keys(raw: str, channel: str | None) -> list[str]:
    """The `<channel>#<address>` keys a contact's messages are filed under, normalised as a send normalises the
    address (E.164 for SMS and WhatsApp, an @handle or user id for X), on every channel it can be one of."""
    from chalicelib.triggers.customer import contact_address

    if channel == "soap":
        raise invalid("contact", "SOAP messages have no contact; filter them by record_id")
    found: list[str] = []
    for name in [channel] if channel else list(CUSTOMER_CHANNELS):
        try:
            found.append(f"{name}#{contact_address(name, raw, 0)}")
        except ApiError:
            continue  # not an address of this channel
    if not found:
        raise invalid("contact", "neither a phone number nor an X @handle or user id")
    return found


HEALTH_PARAMETERS = {"configuration_id", "definition_id", "channel", "hours"}
WINDOW_PAGES = 100  # at most 10,000 messages read per call: the answer says when the window held more


def _window(query: dict[str, str] | None) -> tuple[dict[str, object], list[MessageRecord], float]:
    """The messages created over the last `hours` (24; at most 168) for a configuration, a definition or a
    channel, newest first, read from `by_time` and bounded: `complete` is false when the window held more
    messages than one call reads (the answer is then about the newest ones)."""
    query = known_parameters(query, HEALTH_PARAMETERS)
    try:
        hours = float(query.get("hours", "24"))
    except ValueError as exc:
        raise invalid("hours", "must be a number") from exc
    if not 0 < hours <= 168:
        raise invalid("hours", "must be more than 0 and at most 168 (7 days)")
    if "channel" in query and query["channel"] not in CHANNELS:
        raise invalid("channel", f"one of {', '.join(CHANNELS)}")
    equals: dict[str, str] = {k: query[k] for k in ("channel", "configuration_id", "definition_id") if k in query}
    since = (clock.now() - timedelta(hours=hours)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    records: list[MessageRecord] = []
    cursor: str | None = None
    for _ in range(WINDOW_PAGES):
        page, cursor = message_listing.list_filtered([], 100, cursor, equals=equals,
                                                   ranges={"created_at": (since, None)})
        records += page
        if cursor is None:
            break
    return {"filters": equals, "hours": hours, "since": since + "Z", "complete": cursor is None}, records, hours


@routes.management("/message-health", methods=["GET"], name="get_message_health")
def message_health(query: dict[str, str] | None) -> Response:
    """Counts by state over the window, failure rate, newest error and oldest pending message."""
    head, records, _ = _window(query)
    return reply(200, {**head, **summarize(records, clock.now())})


@routes.management("/message-chart", methods=["GET"], name="get_message_chart")
def message_chart(query: dict[str, str] | None) -> Response:
    """The same window as the health view, per minute (an hour) or per hour (longer): the console's charts."""
    head, records, hours = _window(query)
    return reply(200, {**head, "total": len(records), **chart(records, clock.now(), hours)})


def _found(message_id: str) -> MessageRecord:
    return require(message_store.get(message_id), "message", message_id)


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resend: bool = Field(default=False, strict=True, description=(
        "send again a message a provider already accepted (the person may get it twice); without it such a "
        "retry is a 409 that says so"))
    waive_window: bool = Field(default=False, strict=True, description=(
        "send a deferred message regardless of the recipient's sending window (say, its zone is unknown and you "
        "know it is daytime there); consent still applies"))


@routes.management("/messages/{message_id}/retry", methods=["POST"])
def retry_message(message_id: str, raw: bytes | None = None) -> Response:
    """Failed or expired: back in the queue with a fresh deadline; queued: attempted now."""
    request = parse(RetryRequest, raw) if raw else RetryRequest()
    try:
        return reply(202, operations.retry(_found(message_id), resend=request.resend,
                                           waive_window=request.waive_window))
    except operations.NotAllowed as exc:
        raise ApiError(409, "conflict", f"state: {exc}") from exc


@routes.management("/messages/{message_id}", methods=["DELETE"])
def delete_message(message_id: str) -> Response:
    try:
        return reply(200, operations.delete(_found(message_id)))
    except operations.NotAllowed as exc:
        raise ApiError(409, "conflict", f"state: {exc}") from exc


class RedriveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=500)] = 100
    resend: bool = Field(default=False, strict=True, description=(
        "also send again the parked messages a provider had accepted (left on the DLQ and listed otherwise)"))


@routes.management("/dlq", methods=["GET"], name="list_dlq_depths")
def dlq_depths() -> Response:
    """How many entries each channel's dead-letter queue holds, so an operator sees what a redrive would take."""
    from chalicelib.stores import queues

    return reply(200, {"dead_letter_queues": [{"channel": c, "entries": queues.parked(c)} for c in CHANNELS]})


@routes.management("/dlq/{channel}/redrive", methods=["POST"])
def redrive_dlq(channel: str, raw: bytes | None) -> Response:
    """Up to `limit` DLQ entries per call (API Gateway's 29 s); `more: true` says call again."""
    if channel not in CHANNELS:
        raise invalid("channel", f"one of {', '.join(CHANNELS)}")
    request = parse(RedriveRequest, raw) if raw else RedriveRequest()
    report = redrive.redrive(channel, request.limit, request.resend)
    return reply(200, {"channel": channel, **asdict(report)})
