"""The answers to a person's keywords: HELP gets the configuration's help text; a STOP that opted them out gets
the configuration's confirmation, once (its id derives from the inbound message, so a webhook Twilio delivers
again sends nothing more). Neither carries marketing; both go through the one message lifecycle, marked as a
keyword's answer so the consent list they answer does not block them. A configuration without the text leaves
the answer to the provider (Twilio's default opt-out handling and End User Messaging's keywords answer)."""

from __future__ import annotations

from chalicelib.core import clock, consent, ids
from chalicelib.models.customer import OutboundConfiguration
from chalicelib.models.messages import MessageSource, SendRules, SmsPayload
from chalicelib.operations.consent import InboundResult
from chalicelib.platform.logs import log, mask_address
from chalicelib.stores.messages import new_record
from chalicelib.triggers.dispatch import dispatch


def _text(configuration: OutboundConfiguration, result: InboundResult) -> str | None:
    if result.kind == "help":
        return configuration.help_text
    if result.kind == "opt_out" and result.changed:
        return configuration.opt_out_confirmation
    return None


def answer(result: InboundResult, contact: str, inbound_id: str) -> str | None:
    """The answer's message id, or None when nothing is to be sent."""
    if result.kind not in ("help", "opt_out"):
        return None
    channel = "whatsapp" if contact.startswith("whatsapp:") else "sms"
    for configuration in result.configurations:  # those sending from `ours`
        if configuration.channel_type != channel or configuration.provider != "twilio":
            continue
        text = _text(configuration, result)
        if text is None:
            continue
        message_id = ids.deterministic_id("keyword", inbound_id)
        payload = SmsPayload(to=consent.address_of(contact), sender=configuration.channel, body=text,
                             messaging_service_sid=configuration.messaging_service_sid)
        record = new_record(message_id, configuration.channel_type, payload,
                            MessageSource(kind="keyword", ref=inbound_id), clock.now(),
                            configuration_id=configuration.id)
        record = record.model_copy(update={"rules": SendRules(scope=configuration.consent_scope,
                                                              keyword_answer=True)})
        dispatch([record])
        log("consent.keyword_answered", message_id=message_id, kind=result.kind, contact=mask_address(contact))
        return message_id
    return None
