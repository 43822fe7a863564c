"""The message record, its states, and the transitions a record may be born with (`transition`: a message that
is created already failed). Every later change of state is decided by core/lifecycle.py."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["soap", "sms", "whatsapp", "twitter"]
UNBUILDABLE = "unbuildable"  # error code: a record no SOAP message can carry (soap/notifications.py)


class MessageState(StrEnum):
    queued = "queued"
    sending = "sending"
    sent = "sent"
    delivered = "delivered"
    failed = "failed"
    opted_out = "opted_out"
    expired = "expired"
    deleted = "deleted"
    undelivered = "undelivered"  # the provider accepted it, then reported it could not reach the handset
    superseded = "superseded"  # latest-wins ordering: a newer version of its record went instead (a success)
    # Outside the recipient's sending window (or its zone unknown, waiting for an operator): released by the
    # minute tick at `due_at`, never dropped.
    deferred = "deferred"


S = MessageState
TRANSITIONS: dict[MessageState, frozenset[MessageState]] = {
    # queued -> queued is an operator's "retry now" of a message waiting out its backoff.
    S.queued: frozenset({S.sending, S.expired, S.failed, S.queued, S.deleted}),
    # sending -> queued is a retry after a transient failure; -> sending is a crashed sender's lease taken over.
    # A provider's status callback may arrive before the sender has recorded `sent`: sending -> delivered etc.
    S.sending: frozenset(
        {S.sent, S.delivered, S.failed, S.undelivered, S.opted_out, S.expired, S.queued, S.sending, S.superseded,
         S.deferred}
    ),
    S.deferred: frozenset({S.queued, S.expired, S.deleted}),
    S.sent: frozenset({S.delivered, S.failed, S.undelivered}),
    S.delivered: frozenset({S.queued}),  # only a replay of everything sends a delivered message again
    S.superseded: frozenset(),
    # An operator's retry puts a dead message back in the queue; an operator's delete ends it for good.
    S.failed: frozenset({S.queued, S.deleted}),
    S.expired: frozenset({S.queued, S.deleted}),
    S.undelivered: frozenset({S.queued, S.deleted}),
    S.opted_out: frozenset(),
    S.deleted: frozenset(),
}
TERMINAL = frozenset({S.delivered, S.failed, S.opted_out, S.expired, S.deleted, S.undelivered, S.superseded})
# The states a record may be in when a given state is entered: the conditional writes use this.
ENTERED_FROM: dict[MessageState, frozenset[MessageState]] = {
    target: frozenset(src for src, targets in TRANSITIONS.items() if target in targets) for target in MessageState
}


class InvalidTransition(ValueError):
    pass


class StateChange(BaseModel):
    state: MessageState
    at: datetime
    detail: str | None = None


class SmsPayload(BaseModel):
    """SMS and WhatsApp text (Twilio or TeleSign)."""

    kind: Literal["sms"] = "sms"
    provider: Literal["twilio", "telesign", "eum"] = "twilio"
    to: str
    sender: str
    body: str
    status_callback: str | None = None
    # WhatsApp: the approved content template for outside the 24-hour window, its variables already filled
    content_sid: str | None = None
    content_variables: dict[str, str] | None = None
    template_only: bool = False  # the contact asked for the template even inside the window (sendastemplate)
    messaging_service_sid: str | None = None  # Twilio: send through a Messaging Service instead of From


class SoapPayload(BaseModel):
    """An endpoint notification: a Salesforce SOAP envelope or, with format json, a Standard Webhooks body
    (signed at each attempt, so the signature's timestamp is the attempt's)."""

    kind: Literal["soap"] = "soap"
    format: Literal["soap", "json"] = "soap"
    endpoint_url: str
    envelope: str
    notification_ids: list[str]
    object_type: str | None = None
    record_ids: list[str] = Field(default_factory=list, description="parallel to notification_ids")
    client_certificate: str | None = None


class DirectMessagePayload(BaseModel):
    """An X (Twitter) direct message from one of our accounts."""

    kind: Literal["x_dm"] = "x_dm"
    account: str  # the configuration's channel: which of our X accounts sends
    recipient: str  # a numeric user id, or @handle (looked up at send time)
    text: str


Payload = Annotated[SmsPayload | SoapPayload | DirectMessagePayload, Field(discriminator="kind")]


class Pace(BaseModel):
    """A sending number's or account's throughput, e.g. 1 per second for a US long code."""

    model_config = ConfigDict(extra="forbid")

    per_second: Annotated[float, Field(gt=0, le=1000, description="sustained sends per second")]
    burst: Annotated[int, Field(ge=1, le=10_000, description="sends that may go at once after a pause")] = 1


class PaceBucket(Pace):
    """One sender budget a message takes a slot in before its provider call (core/pacing.py)."""

    key: Annotated[str, Field(min_length=1, max_length=200)]


class MessageSource(BaseModel):
    """What caused the message: a stream event, an instant send, a schedule firing."""

    kind: Literal["stream", "instant", "scheduled", "keyword"]  # keyword: the answer to a person's HELP or STOP
    ref: str


class FallbackMark(BaseModel):
    """A customer message's place in its fallback chain: the chain's first message (the logical message), this
    step's index, the steps left, and the contact as sent (each step renders its own template for it)."""

    logical: str
    step: int = 0
    plan: list[dict[str, Any]] = Field(default_factory=list)  # FallbackStep dumps: {configuration_id, after_seconds}
    contact: dict[str, Any] = Field(default_factory=dict)


class OrderMark(BaseModel):
    """Where a latest-wins message stands among its record's versions (stores/record_heads.py)."""

    head: str  # the (definition, object, record) head's key
    key: str  # the version's sortable key: record version, then stream sequence number
    version: int  # the record's version as listeners see it
    previous: str | None = None  # the message of the version before, when there was one


class SendRules(BaseModel):
    """What a customer message is checked against at every attempt besides the consent list's global scope:
    its configuration's consent scope and purpose, the recipient's sending window (local time in every zone
    the recipient may be in) and a per-24-hour cap on one subject. Absent on messages with none of these."""

    scope: str = "global"
    purpose: Literal["marketing", "transactional"] = "transactional"
    window: tuple[str, str] | None = None  # ("08:00", "21:00"), local time; end exclusive
    zones: list[str] = Field(default_factory=list)  # empty with a window: no zone known, an operator decides
    cap: int | None = None  # at most this many per 24 hours on `subject` to this recipient
    subject: str | None = None
    region: str | None = None  # the rule's region (core/sending_windows.json), for the history
    waived: bool = False  # a critical transactional message, or an operator's release: the window does not apply
    keyword_answer: bool = False  # the answer to the person's own HELP or STOP: sent whatever the list says


class MessageRecord(BaseModel):
    message_id: str
    channel: Channel
    state: MessageState = MessageState.queued
    attempts: int = 0
    created_at: datetime
    updated_at: datetime
    deadline: datetime
    # When the record next needs attention: the next attempt while queued, the lease end while sending,
    # the moment it died while failed/expired. One GSI on (state, due_at) serves listing and the sweeper.
    due_at: datetime
    source: MessageSource
    payload: Payload
    definition_id: str | None = None
    configuration_id: str | None = None
    provider_message_id: str | None = None
    provider_status: str | None = None
    accepted_attempt: int | None = None  # the attempt a provider accepted (its reports are bound to it)
    # "<channel>#<address>" for customer messages: the by_contact index finds the last message to a contact
    contact_key: str | None = None
    conversation_id: str | None = None
    timeline_entity: str | None = None  # "<entity type>#<entity id>" when the configuration shows in timeline
    last_error: str | None = None
    error_code: str | None = None
    history: list[StateChange] = Field(default_factory=list)
    chain: list[str] = Field(default_factory=list, description="the history's hash chain (core/audit_chain.py)")
    # The sender budgets this message waits its turn in, fixed when it is rendered; `paced_for` is the attempt
    # whose slot is already reserved (a paced message comes back for that attempt without taking another).
    pace: list[PaceBucket] = Field(default_factory=list)
    paced_for: int | None = None
    order: OrderMark | None = None  # latest-wins ordering: the record version this message carries
    fallback: FallbackMark | None = None  # a configuration with fallback steps sent it
    rules: SendRules | None = None  # customer messages: consent scope, sending window, frequency cap


class QueueBody(BaseModel):
    """What travels on a channel queue: the record is the source of truth, the body only points at it."""

    message_id: str
    attempt: int = Field(ge=0, description="attempts already made when this was enqueued")
    check: Literal["fallback"] | None = Field(default=None, description="not a delivery: a fallback check")
    due: datetime | None = None  # a fallback timer: when it falls due (None: a death, due now)


def check_transition(current: MessageState, target: MessageState) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(f"{current.value} -> {target.value} is not a valid transition")


def transition(record: MessageRecord, target: MessageState, at: datetime, detail: str | None = None) -> MessageRecord:
    """Pure state change with its timestamped history entry."""
    check_transition(record.state, target)
    return record.model_copy(
        update={
            "state": target,
            "updated_at": at,
            "history": [*record.history, StateChange(state=target, at=at, detail=detail)],
        }
    )


class Audit(BaseModel):
    """Whether a record's history verifies as a hash chain ending at the payload it holds."""

    verified: bool
    problem: str | None = None
    payload_digest: str | None = None


class ChainEntry(BaseModel):
    """One channel of a fallback chain, as the message view lists them."""

    message_id: str
    channel: str
    state: MessageState
    step: int


class MessageView(MessageRecord):
    """A message as GET /messages/{id} shows it: the record, its audit, and its fallback chain across channels
    (`delivered_via`: the channels that delivered it; two means the person got it twice)."""

    audit: Audit
    fallback_chain: list[ChainEntry] = Field(default_factory=list)
    delivered_via: list[str] = Field(default_factory=list)
