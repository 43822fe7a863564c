"""A customer's reply becomes an inbound entry of the conversation of the last message we sent them."""

from __future__ import annotations

from typing import Literal

from chalicelib.core import clock, ids
from chalicelib.models.conversations import ConversationEntry
from chalicelib.models.messages import MessageState, SmsPayload
from chalicelib.operations import consent as consent_writer
from chalicelib.operations.consent import InboundResult
from chalicelib.platform.logs import log, mask_address
from chalicelib.stores import contact_windows, conversations
from chalicelib.stores import messages as message_store

REPLIED_TO = frozenset({MessageState.sending, MessageState.sent, MessageState.delivered})
WHATSAPP = "whatsapp:"


def record_twilio_reply(sid: str, sender: str, recipient: str, body: str) -> InboundResult:
    """A reply through Twilio's inbound webhook (its signature checked before)."""
    return record_reply("twilio", sid, sender, recipient, body)


def record_reply(provider: Literal["twilio", "telesign", "eum"], sid: str, sender: str, recipient: str, body: str,
                 verified: bool = True) -> InboundResult:
    """The reply joins its conversation; a consent keyword in it changes the consent list too (what it said is
    returned, for the keyword's answer)."""
    entry = _conversation_entry(sid, sender, recipient, body)
    return consent_writer.from_inbound(provider, sender, recipient, body, sid, verified, entry.at)


def _conversation_entry(sid: str, sender: str, recipient: str, body: str) -> ConversationEntry:
    channel = "whatsapp" if sender.startswith(WHATSAPP) else "sms"
    contact, ours = sender.removeprefix(WHATSAPP), recipient.removeprefix(WHATSAPP)
    last = message_store.last_to_contact(f"{channel}#{contact}", REPLIED_TO)
    conversation_id = (last.conversation_id if last else None) or ids.deterministic_id("conv", channel, contact, ours)
    if last is not None:
        if last.conversation_id != conversation_id:
            message_store.set_fields(last.message_id, conversation_id=conversation_id)
        sent_body = last.payload.body if isinstance(last.payload, SmsPayload) else ""
        conversations.add(
            ConversationEntry(
                conversation_id=conversation_id,
                direction="outbound",
                message_id=last.message_id,
                channel=channel,
                contact=contact,
                our_address=ours,
                body=sent_body,
                at=last.created_at,
                provider_message_id=last.provider_message_id,
            )
        )
    entry = ConversationEntry(
        conversation_id=conversation_id,
        direction="inbound",
        message_id=f"in_{sid}",
        channel=channel,
        contact=contact,
        our_address=ours,
        body=body,
        at=clock.now(),
        provider_message_id=sid,
        in_reply_to=last.message_id if last else None,
    )
    stored = conversations.add(entry)
    if stored:  # a webhook redelivered hours later must not reopen the window; missing one only errs to a template
        contact_windows.note_inbound(channel, ours, contact, entry.at)
    log(
        "reply.received" if stored else "reply.duplicate",
        conversation_id=conversation_id,
        message_id=last.message_id if last else None,
        contact=mask_address(contact),
    )
    return entry
