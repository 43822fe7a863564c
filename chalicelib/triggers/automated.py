"""Automated customer sends: a rule that fires on a record change sends a configuration's message to the contacts
related to that record (Dynamics' "case created" / "case resolved" outbound messages).

Message ids derive from (configuration, stream event, contact record), so a redelivered stream batch finds its
records already written. A contact that cannot be messaged (missing record, bad address) still gets a record, in
`failed` with the reason, rather than vanishing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.core import clock, ids
from chalicelib.core.errors import ApiError
from chalicelib.core.rendering import TooLong
from chalicelib.models.customer import Contact, MessageTemplate, OutboundConfiguration
from chalicelib.models.definitions import Recipients
from chalicelib.models.messages import (
    DirectMessagePayload,
    MessageRecord,
    MessageSource,
    MessageState,
    SmsPayload,
    transition,
)
from chalicelib.models.records import RecordChange
from chalicelib.platform.logs import log
from chalicelib.stores import records as record_store
from chalicelib.triggers.customer import build_records

SCALARS = (str, int, float, bool)


def related_ids(recipients: Recipients, image: dict[str, Any]) -> list[str]:
    """Pure: the related record ids the `via` fields hold (one id or a list each), in order, once."""
    found: list[str] = []
    for name in recipients.via:
        value = image.get(name)
        values = value if isinstance(value, list) else [value]
        found.extend(str(v) for v in values if isinstance(v, str | int) and str(v))
    return list(dict.fromkeys(found))


def contact_entry(recipients: Recipients, change: RecordChange, related: dict[str, Any]) -> Contact:
    """Pure: the contact entry for one related record, with the firing record's fields as context items."""
    image = change.new or {}
    context = {k: v for k, v in image.items() if isinstance(v, SCALARS)}
    optin = related.get(recipients.optin_field) if recipients.optin_field else None
    locale = related.get(recipients.locale_field) if recipients.locale_field else None
    name = related.get(recipients.name_field) if recipients.name_field else None
    case_name = image.get(recipients.case_name_field) if recipients.case_name_field else None
    return Contact.model_validate(
        {
            "tocontactid": str(related.get(recipients.address_field) or ""),
            "optin": optin is not False,
            "locale": locale or None,
            "contextitems": context,
            "entityrelationshipname": change.object_type,
            "CustomerName": str(name) if name is not None else None,
            "CaseName": str(case_name) if case_name is not None else change.record_id,
        }
    )


def _failed(
    configuration: OutboundConfiguration,
    message_id: str,
    address: str,
    source: MessageSource,
    now: datetime,
    reason: str,
    code: str = "invalid_contact",
) -> MessageRecord:
    from chalicelib.stores.messages import new_record

    payload: SmsPayload | DirectMessagePayload
    if configuration.channel_type == "twitter":
        payload = DirectMessagePayload(account=configuration.channel, recipient=address or "-", text="")
    else:
        payload = SmsPayload(to=address or "-", sender=configuration.channel, body="")
    record = new_record(message_id, configuration.channel_type, payload, source, now, configuration_id=configuration.id)
    failed = transition(record, MessageState.failed, now, reason)
    return failed.model_copy(update={"last_error": reason, "error_code": code})


def _constant(message_id: str) -> Callable[[int], str]:
    return lambda _index: message_id


def build(
    recipients: Recipients,
    configuration: OutboundConfiguration,
    template: MessageTemplate,
    changes: list[RecordChange],
) -> list[MessageRecord]:
    now = clock.now()
    wanted = {change.event_id: related_ids(recipients, change.new or {}) for change in changes}
    contacts = record_store.get_many(recipients.contact_object, [i for ids_ in wanted.values() for i in ids_])
    records: list[MessageRecord] = []
    for change in changes:
        source = MessageSource(kind="stream", ref=change.event_id)
        # With "show in timeline", every message (failed ones too) is an activity on the record that fired the rule.
        entity = f"{change.object_type}#{change.record_id}" if configuration.show_in_timeline else None
        first = len(records)
        for contact_id in wanted[change.event_id]:
            message_id = ids.deterministic_id("auto", configuration.id, change.event_id, contact_id)
            related = contacts.get(contact_id)
            if related is None:
                reason = f"{recipients.contact_object} {contact_id} does not exist"
                records.append(_failed(configuration, message_id, "", source, now, reason))
                continue
            try:
                entry = contact_entry(recipients, change, related)
                built = build_records(configuration, template, [entry], source, now, _constant(message_id))
            except Exception as exc:  # noqa: BLE001 - any contact that cannot be messaged fails alone, visibly
                detail = str(exc) if isinstance(exc, ApiError | ValueError) else f"{type(exc).__name__}: {exc}"
                reason = f"{recipients.contact_object} {contact_id}: {detail}"
                address = str(related.get(recipients.address_field) or "")
                code = "too_long" if isinstance(exc.__cause__, TooLong) else "invalid_contact"
                records.append(_failed(configuration, message_id, address, source, now, reason, code))
                continue
            records.extend(built)
        records[first:] = [r.model_copy(update={"timeline_entity": entity}) for r in records[first:]]
        if not wanted[change.event_id]:
            log(
                "automated.no_recipients",
                logging.WARNING,
                object=change.object_type,
                record_id=change.record_id,
                configuration_id=configuration.id,
            )
    return records
