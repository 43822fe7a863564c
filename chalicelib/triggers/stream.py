"""Records stream -> workflow rules -> SOAP notifications (up to 100 per message, per definition).

A record that can never be sent (a character XML forbids, a notification larger than a message may hold) is
isolated: it becomes its own `failed` message (code `unbuildable`, listed and retryable), and the records around
it are sent. Only what may succeed later (AWS errors) fails a group: it reports the lowest sequence number among
its records, so Lambda (ReportBatchItemFailures) checkpoints just before it and retries from there. Message ids
are derived from the notification ids, so the retried groups that had already been written are recognised.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock, config_store, identity_token, ids
from chalicelib.dispatch import dispatch, new_record
from chalicelib.errors import ApiError
from chalicelib.logs import log
from chalicelib.models.definitions import OutboundMessageDefinition, Rule
from chalicelib.models.messages import MessageRecord, MessageSource, MessageState, SoapPayload, StateChange
from chalicelib.models.records import FieldType, ObjectSchema, RecordChange, value_problem
from chalicelib.rules import fires
from chalicelib.secrets import json_parameter
from chalicelib.settings import get_settings
from chalicelib.soap_envelope import (
    ENVELOPE_OVERHEAD_BYTES,
    MAX_ENVELOPE_BYTES,
    MAX_NOTIFICATIONS,
    Notification,
    build_envelope,
    notification_bytes,
    xml_problem,
)
from chalicelib.stream_records import parse


def notification_id(definition_id: str, change: RecordChange) -> str:
    return ids.sf_id("04l", definition_id, change.event_id)


UNBUILDABLE = "unbuildable"


@dataclass(frozen=True)
class Pending:
    """One record's notification waiting to be put in a message: its id, the record and the values to send."""

    notification_id: str
    record_id: str
    image: dict[str, Any]
    cause: str  # the stream event id (or "operator retry")


def sendable(types: dict[str, FieldType], record_id: str, image: dict[str, Any]) -> dict[str, Any]:
    """The selected fields whose values fit their declared type. A record written around the API with a wrong
    type loses that field (logged), rather than blocking the stream or sending what the WSDL forbids."""
    kept: dict[str, Any] = {}
    for name, kind in types.items():
        value = image.get(name)
        problem = None if name == "Id" else value_problem(kind, value)
        if problem:
            log("stream.field_dropped", logging.WARNING, record_id=record_id, field=name, problem=problem)
            continue
        kept[name] = value
    return kept


def unsendable(note: Notification, types: dict[str, FieldType]) -> tuple[str | None, int]:
    """(why this notification can never be sent, or None; its size bound). Pure, checked per record, so one
    such record becomes its own failed message instead of failing every record grouped with it."""
    for name, value in note.fields.items():
        if isinstance(value, str):
            problem = xml_problem(value)
            if problem:
                return f"field {name} {problem}", 0
    size = notification_bytes(note, types)
    if size + ENVELOPE_OVERHEAD_BYTES > MAX_ENVELOPE_BYTES:
        return f"its notification needs about {size} bytes, more than a message may hold ({MAX_ENVELOPE_BYTES})", 0
    return None, size


def chunks(sized: list[tuple[Notification, int]]) -> list[list[Notification]]:
    """Pure: consecutive groups of at most 100 notifications whose envelope stays within MAX_ENVELOPE_BYTES."""
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
    return record.model_copy(
        update={
            "state": MessageState.failed,
            "last_error": detail,
            "error_code": UNBUILDABLE,
            "history": [*record.history, StateChange(state=MessageState.failed, at=now, detail=detail)],
        }
    )


def build_messages(
    definition: OutboundMessageDefinition,
    schema: ObjectSchema | None,
    changes: list[RecordChange],
    token_key: bytes | None = None,
) -> list[MessageRecord]:
    """Pure: the SOAP message records for one definition's changes, the latest image per record only."""
    latest: dict[str, RecordChange] = {}
    for change in changes:
        latest[change.record_id] = change
    pending = [
        Pending(notification_id(definition.id, c), c.record_id, c.new or {}, c.event_id) for c in latest.values()
    ]
    return build_from(definition, schema, pending, token_key)


def build_from(
    definition: OutboundMessageDefinition,
    schema: ObjectSchema | None,
    pending: list[Pending],
    token_key: bytes | None = None,
) -> list[MessageRecord]:
    """Pure: messages of up to 100 notifications and MAX_ENVELOPE_BYTES each, and one failed message per
    record that no message could carry."""
    settings = get_settings()
    types = definition.field_types(schema)
    now = clock.now()
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
        note = Notification(id=item.notification_id, fields=sendable(types, item.record_id, item.image))
        reason, size = unsendable(note, types)
        if reason:
            messages.append(_unbuildable(definition, item, reason, now))
            continue
        sized.append((note, size))
        by_note[note.id] = item
    for notes in chunks(sized):
        envelope = build_envelope(
            organization_id=settings.org_id,
            action_id=definition.id,
            session_id=session_id,
            enterprise_url=f"{settings.public_api_url}/services/Soap/c/60.0/{settings.org_id}",
            partner_url=f"{settings.public_api_url}/services/Soap/u/60.0/{settings.org_id}",
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


class Unbuildable(Exception):
    """The record still cannot be sent (or is gone): the reason says what to fix."""


def rebuild(record: MessageRecord) -> SoapPayload:
    """The payload of an `unbuildable` message, built again from its record as it is now (an operator fixed it)."""
    from chalicelib import record_store

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


def _send_automated(rule: Rule, configuration_id: str, changes: list[RecordChange]) -> None:
    from chalicelib.triggers import automated
    from chalicelib.triggers.customer import load_configuration

    if rule.recipients is None:
        log("rule.no_recipients", logging.WARNING, rule_id=rule.id)
        return
    try:
        configuration, template = load_configuration(configuration_id)
    except ApiError:
        log("rule.missing_configuration", logging.WARNING, rule_id=rule.id, configuration_id=configuration_id)
        return
    dispatch(automated.build(rule.recipients, configuration, template, changes))


def process(changes: list[RecordChange]) -> list[tuple[str, str]]:
    """Rules -> messages for a batch of changes; returns (lowest sequence number, reason) per group that could
    not be written (an AWS error: worth retrying). Records that can never be sent fail on their own, inside
    build_from and automated.build, and do not appear here."""
    if not changes:
        return []
    object_types = {c.object_type for c in changes}
    rules = [r for r in config_store.list_all(config_store.RULE, Rule) if r.object in object_types and r.active]
    # dict keys keep first-seen order and make "two rules fire the same definition" one notification
    groups: dict[str, dict[str, RecordChange]] = defaultdict(dict)
    automated: dict[tuple[str, str], dict[str, RecordChange]] = defaultdict(dict)
    rules_by_id = {rule.id: rule for rule in rules}
    for change in changes:
        for rule in rules:
            if fires(rule, change):
                for definition_id in rule.definition_ids:
                    groups[definition_id][change.event_id] = change
                for configuration_id in rule.configuration_ids:
                    automated[(rule.id, configuration_id)][change.event_id] = change
    failed: list[tuple[str, str]] = []
    schemas: dict[str, ObjectSchema | None] = {}
    for definition_id, grouped in groups.items():
        group = list(grouped.values())
        try:
            definition = config_store.get(config_store.DEFINITION, definition_id, OutboundMessageDefinition)
            if definition is None:
                log("rule.missing_definition", logging.WARNING, definition_id=definition_id)
                continue
            if definition.object not in schemas:
                schemas[definition.object] = config_store.get(config_store.SCHEMA, definition.object, ObjectSchema)
            key = session_token_key() if definition.include_session_id else None
            dispatch(build_messages(definition, schemas[definition.object], group, key))
        except Exception as exc:  # noqa: BLE001 - checkpoint before the failed group, keep the others
            error = f"{type(exc).__name__}: {exc}"
            log("stream.group_failed", logging.ERROR, definition_id=definition_id, error=error)
            failed.append((min((c.sequence_number for c in group), key=int), error))
    for (rule_id, configuration_id), grouped in automated.items():
        group = list(grouped.values())
        try:
            _send_automated(rules_by_id[rule_id], configuration_id, group)
        except Exception as exc:  # noqa: BLE001 - as above: checkpoint before this group
            error = f"{type(exc).__name__}: {exc}"
            log("stream.automated_failed", logging.ERROR, rule_id=rule_id, configuration_id=configuration_id,
                error=error)
            failed.append((min((c.sequence_number for c in group), key=int), error))
    return failed


def handle(raw_records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    failed = process([parse(r) for r in raw_records])
    if not failed:
        return {"batchItemFailures": []}
    first = min((sequence for sequence, _ in failed), key=int)
    return {"batchItemFailures": [{"itemIdentifier": first}]}
