"""Erasure on request: a person's address, values and the texts rendered for them leave every store; the consent
list keeps only its keyed hash and entries, so a person who said STOP and was erased is never texted again."""

from __future__ import annotations

from typing import Any

from chalicelib.core import clock, consent, ids
from chalicelib.models.customer import OutboundConfiguration
from chalicelib.platform.logs import log, mask_address
from chalicelib.stores import config as config_store
from chalicelib.stores import consent as consent_store
from chalicelib.stores import contact_windows, conversations, message_erasure, timeline

CHANNELS = ("sms", "whatsapp", "twitter")


def erase_contact(address: str) -> dict[str, Any]:
    """What was erased, by store."""
    now = clock.now()
    person = consent.address_of(address)
    secrets = [person, person.lstrip("+"), "whatsapp:" + person]
    messages, conversation_ids, entities = 0, set(), set()
    for channel in CHANNELS:
        for message_id in list(message_erasure.ids_to_contact(f"{channel}#{person}")):
            taken = message_erasure.erase(message_id, secrets, now)
            if taken is None:
                continue
            messages += 1
            if taken.get("conversation_id"):
                conversation_ids.add(str(taken["conversation_id"]))
            if taken.get("timeline_entity"):
                entities.add(str(taken["timeline_entity"]))
    # Conversations a person started without a message of ours before: their ids derive from the number pair.
    for configuration in config_store.list_all(config_store.CONFIGURATION, OutboundConfiguration):
        ours = consent.address_of(configuration.channel)
        for channel in ("sms", "whatsapp"):
            conversation_ids.add(ids.deterministic_id("conv", channel, person, ours))
    entries = sum(conversations.delete(c) for c in sorted(conversation_ids))
    activities = sum(timeline.delete_entity(e) for e in sorted(entities))
    windows = contact_windows.forget_contact(person)
    kept = consent_store.forget_address(person)
    answer = {"messages": messages, "conversation_entries": entries, "timeline_entries": activities,
              "contact_windows": windows,
              "consent": "kept as a keyed hash: the person stays opted out" if kept or consent_store.get(person)
              else "none"}
    log("contact.erased", contact=mask_address(person), messages=messages, conversation_entries=entries,
        timeline_entries=activities, contact_windows=windows)
    return answer
