"""Records stream -> workflow rules -> SOAP notifications (up to 100 per message, per definition).

Partial failure: a definition group that cannot be written reports the lowest sequence number among its
records, so Lambda (ReportBatchItemFailures) checkpoints just before it and retries from there. Message ids are
derived from the notification ids, so the retried groups that had already been written are recognised.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from chalicelib import clock, config_store, identity_token, ids
from chalicelib.dispatch import dispatch, new_record
from chalicelib.errors import ApiError
from chalicelib.logs import log
from chalicelib.models.definitions import OutboundMessageDefinition, Rule
from chalicelib.models.messages import MessageRecord, MessageSource, SoapPayload
from chalicelib.models.records import FieldType, ObjectSchema, RecordChange, value_problem
from chalicelib.rules import fires
from chalicelib.secrets import json_parameter
from chalicelib.settings import get_settings
from chalicelib.soap_envelope import MAX_NOTIFICATIONS, Notification, build_envelope
from chalicelib.stream_records import parse


def notification_id(definition_id: str, change: RecordChange) -> str:
    return ids.sf_id("04l", definition_id, change.event_id)


def sendable(types: dict[str, FieldType], change: RecordChange) -> dict[str, Any]:
    """The selected fields whose values fit their declared type. A record written around the API with a wrong
    type loses that field (logged), rather than blocking the stream or sending what the WSDL forbids."""
    image = change.new or {}
    kept: dict[str, Any] = {}
    for name, kind in types.items():
        value = image.get(name)
        problem = None if name == "Id" else value_problem(kind, value)
        if problem:
            log("stream.field_dropped", logging.WARNING, record_id=change.record_id, field=name, problem=problem)
            continue
        kept[name] = value
    return kept


def build_messages(
    definition: OutboundMessageDefinition,
    schema: ObjectSchema | None,
    changes: list[RecordChange],
    token_key: bytes | None = None,
) -> list[MessageRecord]:
    """Pure: the SOAP message records for one definition's changes, the latest image per record only."""
    settings = get_settings()
    latest: dict[str, RecordChange] = {}
    for change in changes:
        latest[change.record_id] = change
    ordered = list(latest.values())
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
    messages = []
    for start in range(0, len(ordered), MAX_NOTIFICATIONS):
        chunk = ordered[start : start + MAX_NOTIFICATIONS]
        notes = [Notification(id=notification_id(definition.id, c), fields=sendable(types, c)) for c in chunk]
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
        payload = SoapPayload(
            endpoint_url=definition.endpoint_url,
            envelope=envelope.decode("utf-8"),
            notification_ids=note_ids,
            object_type=definition.object,
            record_ids=[c.record_id for c in chunk],
            client_certificate=definition.client_certificate,
        )
        source = MessageSource(kind="stream", ref=chunk[0].event_id)
        messages.append(new_record(message_id, "soap", payload, source, now, definition_id=definition.id))
    return messages


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


def handle(raw_records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    changes = [parse(r) for r in raw_records]
    if not changes:
        return {"batchItemFailures": []}
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
    failed_sequences: list[str] = []
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
            log("stream.group_failed", logging.ERROR, definition_id=definition_id, error=f"{type(exc).__name__}: {exc}")
            failed_sequences.append(min((c.sequence_number for c in group), key=int))
    for (rule_id, configuration_id), grouped in automated.items():
        group = list(grouped.values())
        try:
            _send_automated(rules_by_id[rule_id], configuration_id, group)
        except Exception as exc:  # noqa: BLE001 - as above: checkpoint before this group
            log(
                "stream.automated_failed",
                logging.ERROR,
                rule_id=rule_id,
                configuration_id=configuration_id,
                error=f"{type(exc).__name__}: {exc}",
            )
            failed_sequences.append(min((c.sequence_number for c in group), key=int))
    if not failed_sequences:
        return {"batchItemFailures": []}
    first = min(failed_sequences, key=int)
    return {"batchItemFailures": [{"itemIdentifier": first}]}
