"""Conversations: a customer's replies, linked to the outbound message they answer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class ConversationEntry(BaseModel):
    conversation_id: str
    direction: Literal["outbound", "inbound"]
    message_id: str  # ours for outbound; "in_<provider id>" for inbound
    channel: Literal["sms", "whatsapp", "twitter"]
    contact: str
    our_address: str
    body: str
    at: datetime
    provider_message_id: str | None = None
    in_reply_to: str | None = None  # for inbound: the last outbound message to the contact, if any
