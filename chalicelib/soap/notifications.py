"""Salesforce notifications from record changes: which records a message carries, and the records no message can.

A record that can never be sent (a character XML forbids, a notification larger than a message may hold) becomes
its own `failed` message (code `unbuildable`, listed and retryable), so the records around it are sent; an
operator's retry builds it again from the record as it is then (`rebuild`). Messages carry at most 100
notifications and MAX_ENVELOPE_BYTES, whichever comes first; a larger notification travels alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from chalicelib.core import clock, ids, json_notifications
from chalicelib.core.texts import xml_problem
from chalicelib.models.definitions import OutboundMessageDefinition
from chalicelib.models.messages import (
    UNBUILDABLE,
    MessageRecord,
    MessageSource,
    MessageState,
    OrderMark,
    SoapPayload,
    transition,
)
from chalicelib.models.records import FieldType, ObjectSchema, RecordChange, value_problem
from chalicelib.platform.logs import log
from chalicelib.platform.secrets import json_parameter
from chalicelib.platform.settings import get_settings
from chalicelib.soap import identity_token
from chalicelib.soap.envelope import (
    ENVELOPE_OVERHEAD_BYTES,
    MAX_ENVELOPE_BYTES,
    MAX_LONE_ENVELOPE_BYTES,
    MAX_NOTIFICATIONS,
    Notification,
    build_envelope,
    notification_bytes,
)
from chalicelib.stores import config as config_store
from chalicelib.stores import record_heads
from chalicelib.stores.messages import new_record


def notification_id(definition_id: str, change: RecordChange) -> str:
    return ids.sf_id("04l", definition_id, change.event_id)


@dataclass(frozen=True)
class Pending:
    """One record's notification waiting to be put in a message: its id, the record and the values to send."""

    notification_id: str
    record_id: str
    image: dict[str, Any]
    cause: str  # the stream event id (or "operator retry")
    event: Literal["created", "updated"] = "updated"
    changed_at: datetime | None = None
    version: int = 0  # the record's version (JSON notifications carry it)
    sequence: str = "0"  # the stream sequence number, which orders a record's changes


def sendable(types: dict[str, FieldType], record_id: str, image: dict[str, Any], salesforce_ids: bool = False
             ) -> dict[str, Any]:
    """The selected fields whose values fit their declared type. A record written around the API with a wrong
    type loses that field (logged), rather than blocking the stream or sending what the WSDL forbids."""
    kept: dict[str, Any] = {}
    for name, kind in types.items():
        value = image.get(name)
        problem = None if name == "Id" else value_problem(kind, value)
        if not problem and salesforce_ids and kind == FieldType.id and name != "Id" and isinstance(value, str):
            problem = ids.salesforce_id_problem(value)
        if problem:
            log("stream.field_dropped", logging.WARNING, record_id=record_id, field=name, problem=problem)
            continue
        kept[name] = value
    return kept


def unsendable(note: Notification, types: dict[str, FieldType], salesforce_ids: bool = False
               ) -> tuple[str | None, int]:
    """(why this notification can never be sent, or None; its size bound). Pure, checked per record, so one
    such record becomes its own failed message instead of failing every record grouped with it."""
    record_id = str(note.fields.get("Id", ""))
    if salesforce_ids and (id_problem := ids.salesforce_id_problem(record_id)):
        return f"its Id {id_problem} (the object's ids are Salesforce-form)", 0
    for name, value in note.fields.items():
        if isinstance(value, str):
            problem = xml_problem(value)
            if problem:
                return f"field {name} {problem}", 0
    size = notification_bytes(note, types)
    if size + ENVELOPE_OVERHEAD_BYTES > MAX_LONE_ENVELOPE_BYTES:
        return (f"its notification needs about {size} bytes, more than a message may hold "
                f"({MAX_LONE_ENVELOPE_BYTES})"), 0
    return None, size


def chunks(sized: list[tuple[Notification, int]]) -> list[list[Notification]]:
    """Pure: consecutive groups of at most 100 notifications whose envelope stays within MAX_ENVELOPE_BYTES; a
    notification larger than that goes in a message of its own."""
    groups: list[list[Notification]] = []
    current: list[Notification] = []
    weight = ENVELOPE_OVERHEAD_BYTES
    for note, size in sized:
        if current and (len(current) == MAX_NOTIFICATIONS or weight + size > MAX_ENVELOPE_BYTES):
            groups.append(current)
            current, weight = [], ENVELOPE_OVERHEAD_BYTES
        current.append(note)
        weight += size
    if current:
        groups.append(current)
    return groups


def _payload(definition: OutboundMessageDefinition, notes: list[str], record_ids: list[str], envelope: str
             ) -> SoapPayload:
    return SoapPayload(
        format=definition.format,
        endpoint_url=definition.endpoint_url,
        envelope=envelope,
        notification_ids=notes,
        object_type=definition.object,
        record_ids=record_ids,
        client_certificate=definition.client_certificate,
    )


def _unbuildable(definition: OutboundMessageDefinition, item: Pending, reason: str, now: datetime) -> MessageRecord:
    """A visible, retryable failure for one record: an operator fixes the record, then retries the message,
    which is built again from the record as it is then (api: POST /outbound-messages/queue/{id}/retry)."""
    message_id = ids.deterministic_id("soap", definition.id, item.notification_id)
    payload = _payload(definition, [item.notification_id], [item.record_id], "")
    source = MessageSource(kind="stream", ref=item.cause)
    record = new_record(message_id, "soap", payload, source, now, definition_id=definition.id)
    detail = f"{definition.object} {item.record_id}: {reason}"
    log("stream.record_unbuildable", logging.WARNING, message_id=message_id, definition_id=definition.id,
        record_id=item.record_id, reason=reason)
    failed = transition(record, MessageState.failed, now, detail)
    return failed.model_copy(update={"last_error": detail, "error_code": UNBUILDABLE})


def build_messages(
    definition: OutboundMessageDefinition,
    schema: ObjectSchema | None,
    changes: list[RecordChange],
    token_key: bytes | None = None,
) -> list[MessageRecord]:
    """Pure: the message records for one definition's changes: the latest image per record only, or with
    latest-wins ordering every change, one per message, each marked with its version (stores/record_heads.py
    then decides which are still the newest)."""
    if definition.ordering == "latest_wins":
        marked: list[MessageRecord] = []
        for c in changes:
            item = _pending(definition, c)
            for built in build_from(definition, schema, [item], token_key):
                order = OrderMark(head=record_heads.key(definition.id, definition.object, c.record_id),
                                  key=record_heads.version_key(c.version, c.sequence_number), version=c.version)
                marked.append(built.model_copy(update={"order": order}))
        return marked
    latest: dict[str, RecordChange] = {}
    for change in changes:
        latest[change.record_id] = change
    return build_from(definition, schema, [_pending(definition, c) for c in latest.values()], token_key)


def _pending(definition: OutboundMessageDefinition, c: RecordChange) -> Pending:
    return Pending(notification_id(definition.id, c), c.record_id, c.new or {}, c.event_id,
                   "created" if c.kind == "INSERT" else "updated", c.changed_at, c.version, c.sequence_number)


def build_from(
    definition: OutboundMessageDefinition,
    schema: ObjectSchema | None,
    pending: list[Pending],
    token_key: bytes | None = None,
) -> list[MessageRecord]:
    """Pure: messages of up to 100 notifications and MAX_ENVELOPE_BYTES each, and one failed message per
    record that no message could carry; a JSON definition's messages in its own form."""
    settings = get_settings()
    types = definition.field_types(schema)
    salesforce_ids = bool(schema and schema.salesforce_ids)
    now = clock.now()
    if definition.format == "json":
        return _build_json(definition, types, salesforce_ids, pending, now)
    session_id = None
    if definition.include_session_id and token_key is not None:
        # Valid for as long as the message may be retried (the envelope is built once and resent as is).
        expires = now + timedelta(hours=settings.soap_deadline_hours + 1)
        session_id = identity_token.issue(
            token_key,
            org_id=settings.org_id,
            action_id=definition.id,
            user=definition.user_to_send_as,
            issued_at=now,
            expires_at=expires,
        )
    messages: list[MessageRecord] = []
    sized: list[tuple[Notification, int]] = []
    by_note: dict[str, Pending] = {}
    for item in pending:
        fields = sendable(types, item.record_id, item.image, salesforce_ids)  # the image holds its Id
        note = Notification(id=item.notification_id, fields=fields)
        reason, size = unsendable(note, types, salesforce_ids)
        if reason:
            messages.append(_unbuildable(definition, item, reason, now))
            continue
        sized.append((note, size))
        by_note[note.id] = item
    base = settings.public_api_url.rstrip("/")
    for notes in chunks(sized):
        envelope = build_envelope(
            organization_id=settings.org_id,
            action_id=ids.salesforce_form("04k", definition.id),
            session_id=session_id,
            # Salesforce points these at its SOAP APIs for the SessionId; ours answer with an API key:
            # GET {EnterpriseUrl}/{Id} reads the record as it is now, GET {PartnerUrl} its object's fields.
            enterprise_url=f"{base}/records/{definition.object}",
            partner_url=f"{base}/objects/{definition.object}",
            object_type=definition.object,
            field_types=types,
            notifications=notes,
        )
        note_ids = [n.id for n in notes]
        message_id = ids.deterministic_id("soap", definition.id, *sorted(note_ids))
        payload = _payload(definition, note_ids, [by_note[n].record_id for n in note_ids], envelope.decode("utf-8"))
        source = MessageSource(kind="stream", ref=by_note[note_ids[0]].cause)
        messages.append(new_record(message_id, "soap", payload, source, now, definition_id=definition.id))
    return messages


def _build_json(definition: OutboundMessageDefinition, types: dict[str, FieldType], salesforce_ids: bool,
                pending: list[Pending], now: datetime) -> list[MessageRecord]:
    """Created and updated records in separate messages (a body has one `type`), each within 100 notifications
    and the JSON body limit; its `timestamp` is the latest change it carries."""
    settings = get_settings()
    base = settings.public_api_url.rstrip("/")
    described = {"id": definition.id, "unique_name": definition.unique_name, "object": definition.object}
    messages: list[MessageRecord] = []
    for event in ("created", "updated"):
        items = [item for item in pending if item.event == event]
        if not items:
            continue
        stamp = _stamp(max((item.changed_at or now) for item in items))
        overhead = json_notifications.overhead(definition.object, stamp, described, settings.org_id)
        sized: list[tuple[dict[str, Any], int]] = []
        by_note: dict[str, Pending] = {}
        for item in items:
            fields = sendable(types, item.record_id, item.image, salesforce_ids)
            note = json_notifications.JsonNote(item.notification_id, item.record_id, fields, item.version)
            whole = json_notifications.note_object(note, types)
            size = json_notifications.sized(whole)
            if overhead + size > json_notifications.MAX_BODY_BYTES:
                whole = json_notifications.thin_object(note, f"{base}/records/{definition.object}/{item.record_id}")
                size = json_notifications.sized(whole)
            sized.append((whole, size))
            by_note[item.notification_id] = item
        for group in json_notifications.chunks(sized, overhead):
            note_ids = [str(n["id"]) for n in group]
            text = json_notifications.body(event, definition.object, stamp, described, settings.org_id, group)
            message_id = ids.deterministic_id("soap", definition.id, *sorted(note_ids))
            payload = _payload(definition, note_ids, [by_note[n].record_id for n in note_ids], text.decode("utf-8"))
            source = MessageSource(kind="stream", ref=by_note[note_ids[0]].cause)
            messages.append(new_record(message_id, "soap", payload, source, now, definition_id=definition.id))
    return messages


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Unbuildable(Exception):
    """The record still cannot be sent (or is gone): the reason says what to fix."""


def rebuild(record: MessageRecord) -> SoapPayload:
    """The payload of an `unbuildable` message, built again from its record as it is now (an operator fixed it)."""
    from chalicelib.stores import records as record_store

    payload = record.payload
    if not isinstance(payload, SoapPayload) or not payload.record_ids or not record.definition_id:
        raise Unbuildable("not a SOAP notification of a record")
    definition = config_store.get(config_store.DEFINITION, record.definition_id, OutboundMessageDefinition)
    if definition is None:
        raise Unbuildable(f"outbound message {record.definition_id} no longer exists")
    record_id = payload.record_ids[0]
    found = record_store.get_many(definition.object, [record_id]).get(record_id)
    if found is None:
        raise Unbuildable(f"{definition.object} {record_id} no longer exists")
    schema = config_store.get(config_store.SCHEMA, definition.object, ObjectSchema)
    key = session_token_key() if definition.include_session_id else None
    item = Pending(payload.notification_ids[0], record_id, {"Id": record_id, **found}, "operator retry")
    built = build_from(definition, schema, [item], key)[0]
    if built.state == MessageState.failed:
        raise Unbuildable(built.last_error or "cannot be built")
    return built.payload  # type: ignore[return-value]


def session_token_key() -> bytes:
    return str(json_parameter(get_settings().session_token_param)["key"]).encode()
