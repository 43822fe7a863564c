"""End User Messaging's opt-out list, kept in step with the consent list: AWS refuses a number on it before any
send, so a person's STOP heard through Twilio also stops End User Messaging at its own door."""

from __future__ import annotations

import logging

from chalicelib.models.customer import OutboundConfiguration
from chalicelib.platform import aws
from chalicelib.platform.logs import log, mask_address
from chalicelib.platform.settings import get_settings
from chalicelib.stores import config as config_store

EUM_TIMEOUT_SECONDS = 5.0


def sync(address: str, opted_out: bool) -> None:
    """End User Messaging refuses numbers on its opt-out list before any send: keep it saying what ours says,
    when a configuration sends through it. A failure is logged: our own list already blocks the sends."""
    settings = get_settings()
    if not settings.eum_opt_out_list or address.startswith("@") or not any(
            c.provider == "eum" for c in config_store.list_all(config_store.CONFIGURATION, OutboundConfiguration)):
        return
    client = aws.provider_client("pinpoint-sms-voice-v2", EUM_TIMEOUT_SECONDS, settings.eum_base_url)
    try:
        if opted_out:
            client.put_opted_out_number(OptOutListName=settings.eum_opt_out_list, OptedOutNumber=address)
        else:
            client.delete_opted_out_number(OptOutListName=settings.eum_opt_out_list, OptedOutNumber=address)
    except Exception as exc:  # noqa: BLE001 - the consent list is the source of truth
        log("consent.eum_sync_failed", logging.WARNING, contact=mask_address(address),
            error=f"{type(exc).__name__}: {exc}")


