"""Customer-message rendering shared by instant and scheduled sends: contacts -> message records."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from jinja2 import TemplateError

from chalicelib import config_store
from chalicelib.dispatch import new_record
from chalicelib.errors import invalid, require
from chalicelib.models.customer import Contact, MessageTemplate, OutboundConfiguration
from chalicelib.models.messages import MessageRecord, MessageSource, MessageState, SmsPayload, StateChange
from chalicelib.rendering import render


def load_configuration(configuration_id: str) -> tuple[OutboundConfiguration, MessageTemplate]:
    configuration = require(
        config_store.get(config_store.CONFIGURATION, configuration_id, OutboundConfiguration),
        "outbound configuration",
        configuration_id,
    )
    template = require(
        config_store.get(config_store.TEMPLATE, configuration.template_id, MessageTemplate),
        "message template",
        configuration.template_id,
    )
    return configuration, template


def build_records(
    configuration: OutboundConfiguration,
    template: MessageTemplate,
    contacts: Sequence[Contact],
    source: MessageSource,
    now: datetime,
    message_id_for: Callable[[int], str],
) -> list[MessageRecord]:
    """Render every contact first, so one bad contact refuses the whole request before anything is written."""
    records = []
    for index, contact in enumerate(contacts):
        if configuration.show_in_timeline and not contact.entityrelationshipname:
            raise invalid(
                f"contacts.{index}.entityrelationshipname", "required when the configuration shows in timeline"
            )
        try:
            body = render(template, contact.locale, contact.template_values())
        except TemplateError as exc:
            raise invalid(f"contacts.{index}", f"template cannot be filled: {exc}") from exc
        payload = SmsPayload(to=contact.tocontactid, sender=configuration.channel, body=body)
        record = new_record(
            message_id_for(index), configuration.channel_type, payload, source, now, configuration_id=configuration.id
        )
        if not contact.optin:
            record = record.model_copy(
                update={
                    "state": MessageState.opted_out,
                    "history": [
                        *record.history,
                        StateChange(state=MessageState.opted_out, at=now, detail="optin false"),
                    ],
                }
            )
        records.append(record)
    return records
