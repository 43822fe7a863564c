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
from typing import Any

from chalicelib.core import clock
from chalicelib.core.errors import ApiError
from chalicelib.core.rules import fires
from chalicelib.models.definitions import OutboundMessageDefinition, Rule
from chalicelib.models.messages import MessageRecord
from chalicelib.models.records import ObjectSchema, RecordChange
from chalicelib.platform.logs import log
from chalicelib.platform.settings import get_settings
from chalicelib.soap.notifications import build_messages, session_token_key
from chalicelib.stores import config as config_store
from chalicelib.stores import record_heads
from chalicelib.triggers.dispatch import dispatch
from chalicelib.triggers.stream_records import parse, table_name


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
            built = build_messages(definition, schemas[definition.object], group, key)
            dispatch(_newest_only(built) if definition.ordering == "latest_wins" else built)
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


def _newest_only(messages: list[MessageRecord]) -> list[MessageRecord]:
    """Latest-wins: each version's message advances its record's head (one conditional write) and learns the
    message of the version before it; one older than the head is not made at all (a newer one is known)."""
    now = clock.now()
    kept: list[MessageRecord] = []
    for message in messages:
        order = message.order
        if order is None:
            kept.append(message)
            continue
        newest, other = record_heads.advance(order.head, order.key, message.message_id, now)
        if not newest:
            log("stream.older_version_dropped", message_id=message.message_id, head=order.head, newer=other)
            continue
        previous = other if other and other != message.message_id else None
        kept.append(message.model_copy(update={"order": order.model_copy(update={"previous": previous})}))
    return kept


def feeds(raw_records: list[dict[str, Any]]) -> dict[str, list[ObjectSchema]]:
    """Table name -> the objects it feeds, read only when a batch comes from a table other than ours."""
    ours = get_settings().records_table
    if all(table_name(raw) in {ours, ""} for raw in raw_records):
        return {}
    fed: dict[str, list[ObjectSchema]] = defaultdict(list)
    for schema in config_store.list_all(config_store.SCHEMA, ObjectSchema):
        if schema.table is not None:
            fed[schema.table.name].append(schema)
    return dict(fed)


def _parsed(raw_records: list[dict[str, Any]]) -> tuple[list[RecordChange], list[tuple[str, str]]]:
    """Each record parsed on its own: one that cannot be read (an attribute shape nothing expected) is kept as
    a stream failure an operator lists and replays, and its neighbours go on. Only a failure to keep it (AWS)
    is reported, so Lambda retries from that record."""
    from chalicelib.triggers import stream_failures

    changes: list[RecordChange] = []
    failed: list[tuple[str, str]] = []
    fed = feeds(raw_records)
    for raw in raw_records:
        try:
            change = parse(raw, fed)
            if change is not None:  # an item of a fed table that no object takes
                changes.append(change)
        except Exception as exc:  # noqa: BLE001 - this record alone: recorded below, the batch goes on
            try:
                stream_failures.record_unreadable(raw, f"{type(exc).__name__}: {exc}")
            except Exception as keep_error:  # noqa: BLE001 - not kept: Lambda retries from here
                failed.append((str(raw["dynamodb"]["SequenceNumber"]), f"{type(keep_error).__name__}: {keep_error}"))
    return changes, failed


def handle(raw_records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    changes, failed = _parsed(list(raw_records))
    failed += process(changes)
    if not failed:
        return {"batchItemFailures": []}
    first = min((sequence for sequence, _ in failed), key=int)
    return {"batchItemFailures": [{"itemIdentifier": first}]}
