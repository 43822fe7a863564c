"""Customer-message rendering shared by instant and scheduled sends: contacts -> message records."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime

from chalicelib.core import pacing, phone_numbers, sending_window, whatsapp
from chalicelib.core.errors import invalid, require
from chalicelib.core.rendering import RenderFailed, render, render_body
from chalicelib.models.customer import MAX_BODY, Contact, MessageTemplate, OutboundConfiguration
from chalicelib.models.messages import (
    DirectMessagePayload,
    FallbackMark,
    MessageRecord,
    MessageSource,
    MessageState,
    SendRules,
    SmsPayload,
    StateChange,
)
from chalicelib.platform.settings import get_settings
from chalicelib.stores import config as config_store
from chalicelib.stores.messages import new_record

PHONE_CHANNELS = ("sms", "whatsapp")
X_RECIPIENT = re.compile(r"^(@?[A-Za-z0-9_]{1,15}|[0-9]{1,19})$")


def contact_address(channel_type: str, raw: str, index: int) -> str:
    """E.164 for SMS and WhatsApp, an @handle or numeric user id for X; a 400 naming the contact otherwise."""
    if channel_type not in PHONE_CHANNELS:
        address = raw.strip()
        if not X_RECIPIENT.match(address):
            raise invalid(f"contacts.{index}.tocontactid", f"{raw!r} is not an X @handle or numeric user id")
        return address if address.isdigit() or address.startswith("@") else "@" + address
    try:
        return phone_numbers.to_e164(raw, get_settings().default_phone_region)
    except phone_numbers.InvalidNumber as exc:
        raise invalid(f"contacts.{index}.tocontactid", str(exc)) from exc


def check_contacts(configuration: OutboundConfiguration, contacts: Sequence[Contact]) -> list[str]:
    """What a send or a schedule is refused for before anything is stored; returns the normalised addresses."""
    addresses = []
    for index, contact in enumerate(contacts):
        addresses.append(contact_address(configuration.channel_type, contact.tocontactid, index))
        if configuration.show_in_timeline and not contact.entityrelationshipname:
            raise invalid(
                f"contacts.{index}.entityrelationshipname", "required when the configuration shows in timeline"
            )
        if configuration.channel_type != "whatsapp":
            for name in ("sendastemplate", "templateparameters"):
                if getattr(contact, name) is not None:
                    raise invalid(f"contacts.{index}.{name}", "applies to whatsapp configurations only")
    return addresses


def content_for(template: MessageTemplate, contact: Contact, index: int) -> tuple[str | None, dict[str, str] | None]:
    """The WhatsApp content template for this contact and its variables filled, or (None, None) without one.
    A variable that renders empty or in a form WhatsApp refuses is this contact's 400 (or failed record)."""
    picked = whatsapp.pick_content(template, contact.locale)
    if picked is None:
        if contact.sendastemplate:
            raise invalid(f"contacts.{index}.sendastemplate",
                          f"template {template.id} has no content template for {contact.locale or 'its locale'}")
        return None, None
    _, content = picked
    values = contact.template_values()
    filled: dict[str, str] = {}
    for key, expression in content.variables.items():
        try:
            filled[key] = render_body(expression, values, 1024)
        except RenderFailed as exc:
            raise invalid(f"contacts.{index}", f"content variable {key} cannot be filled: {exc}") from exc
    filled.update(whatsapp.parameters(contact.templateparameters))
    for key, value in filled.items():
        if problem := whatsapp.parameter_problem(value):
            raise invalid(f"contacts.{index}", f"content variable {key} {problem}")
    return content.content_sid, filled


def rules_for(configuration: OutboundConfiguration, contact: Contact, address: str, now: datetime,
              critical: bool = False) -> SendRules | None:
    window = configuration.sending_window
    return sending_window.rules_for(
        scope=configuration.consent_scope, purpose=configuration.purpose,
        window=(window.start, window.end) if window else None, fallback_zone=configuration.fallback_timezone,
        address=address, contact_zone=contact.timezone, phone=configuration.channel_type in PHONE_CHANNELS,
        subject=configuration.id, now=now, critical=critical)


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
    public_url: str = "",
    critical: bool = False,
) -> list[MessageRecord]:
    """Render every contact first, so one bad contact refuses the whole request before anything is written.
    `public_url`: the API's URL, for status callbacks when the stack has no webhook function URL (default: the
    PUBLIC_API_URL setting; no callbacks if neither is known). `critical`: a transactional send that may go
    outside the recipient's sending window."""
    if critical and configuration.purpose == "marketing":
        raise invalid("critical", "only a transactional configuration's messages may be critical")
    addresses = check_contacts(configuration, contacts)
    settings = get_settings()
    callback_base = (settings.webhook_url or public_url or settings.public_api_url).rstrip("/")
    pace = configuration.pace
    buckets = pacing.buckets(configuration.channel_type, configuration.provider or "", configuration.channel,
                             pace.per_second if pace else None, pace.burst if pace else 1)
    records = []
    for index, (contact, address) in enumerate(zip(contacts, addresses, strict=True)):
        try:
            body = render(template, contact.locale, contact.template_values(), MAX_BODY[configuration.channel_type])
        except RenderFailed as exc:
            raise invalid(f"contacts.{index}", f"template cannot be filled: {exc}") from exc
        message_id = message_id_for(index)
        payload: SmsPayload | DirectMessagePayload
        if configuration.channel_type == "twitter":
            payload = DirectMessagePayload(account=configuration.channel, recipient=address, text=body)
        else:
            callback = None
            if configuration.provider == "twilio" and callback_base:
                # message_id in the URL: the callback finds its record even before the sender stored Twilio's sid
                callback = f"{callback_base}/webhooks/twilio/status?message_id={message_id}"
            elif configuration.provider == "telesign" and callback_base:
                callback = f"{callback_base}/webhooks/telesign/status"  # the report names our external_id
            provider = configuration.provider if configuration.provider in ("telesign", "eum") else "twilio"
            content_sid, variables = (
                content_for(template, contact, index) if configuration.channel_type == "whatsapp" else (None, None)
            )
            payload = SmsPayload(
                to=address, sender=configuration.channel, body=body, status_callback=callback, provider=provider,
                content_sid=content_sid, content_variables=variables, template_only=bool(contact.sendastemplate),
                messaging_service_sid=configuration.messaging_service_sid,
            )
        record = new_record(
            message_id, configuration.channel_type, payload, source, now, configuration_id=configuration.id
        ).model_copy(
            update={
                "contact_key": f"{configuration.channel_type}#{address}",
                "pace": buckets,
                "timeline_entity": f"{contact.entityrelationshipname}#{address}"
                if configuration.show_in_timeline
                else None,
            }
        )
        rules = rules_for(configuration, contact, address, now, critical)
        if rules is not None:
            record = record.model_copy(update={"rules": rules})
            if rules.waived:
                record = record.model_copy(update={"history": [*record.history, StateChange(
                    state=MessageState.queued, at=now, detail="critical: the sending window does not apply")]})
        if configuration.fallback:
            mark = FallbackMark(logical=message_id, plan=[step.model_dump() for step in configuration.fallback],
                                contact=contact.model_dump(mode="json", exclude_none=True))
            record = record.model_copy(update={"fallback": mark})
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
