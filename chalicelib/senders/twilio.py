"""Twilio Messages API (SMS and WhatsApp): form-encoded POST with basic auth, JSON answer."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from chalicelib.core import clock, whatsapp
from chalicelib.core.lifecycle import bound_to
from chalicelib.models.messages import SmsPayload
from chalicelib.platform.secrets import json_parameter
from chalicelib.platform.settings import get_settings
from chalicelib.senders import provider_call
from chalicelib.senders.outcomes import Accepted, Outcome, Permanent, Transient, parse_retry_after
from chalicelib.stores import contact_windows

# Twilio error codes that no retry can fix; 21610 means the recipient sent STOP.
PERMANENT_CODES = {21211, 21614, 21610, 21608, 21635, 63016, 21408, 21612}
OPTED_OUT_CODES = {21610}
FAILED_ON_CREATE = {"failed", "undelivered", "canceled"}


def _address(channel: str, number: str) -> str:
    return f"whatsapp:{number}" if channel == "whatsapp" and not number.startswith("whatsapp:") else number


def build_request(
    channel: str, payload: SmsPayload, account_sid: str, auth_token: str, as_template: bool = False,
    attempt: int | None = None,
) -> tuple[str, bytes, dict[str, str]]:
    """Twilio's form; `as_template`: the WhatsApp content template (ContentSid + ContentVariables, no Body)."""
    base = get_settings().twilio_base_url.rstrip("/")
    url = f"{base}/2010-04-01/Accounts/{account_sid}/Messages.json"
    fields = {"To": _address(channel, payload.to)}
    if payload.messaging_service_sid:  # Twilio picks the sender from the service's pool, its Advanced Opt-Out applies
        fields["MessagingServiceSid"] = payload.messaging_service_sid
    else:
        fields["From"] = _address(channel, payload.sender)
    if as_template and payload.content_sid:
        fields["ContentSid"] = payload.content_sid
        if payload.content_variables:
            fields["ContentVariables"] = json.dumps(payload.content_variables, ensure_ascii=False)
    else:
        fields["Body"] = payload.body
    if payload.status_callback:
        callback = payload.status_callback
        fields["StatusCallback"] = bound_to(callback, attempt) if attempt is not None else callback
    return url, urlencode(fields).encode("utf-8"), provider_call.form_headers(account_sid, auth_token)


def interpret(status: int, body: bytes, retry_after: str | None) -> Outcome:
    data = provider_call.json_object(body)
    code = data.get("code") or data.get("error_code")
    if status in (200, 201) and data.get("sid"):
        if data.get("status") in FAILED_ON_CREATE:
            # Created, and failed at once (Twilio's answer says so): nothing was sent, and nothing will be.
            detail = data.get("error_message") or f"status {data.get('status')}"
            return Permanent(reason=f"Twilio created {data['sid']} as {data.get('status')}: {detail}",
                             code=str(code or data.get("status")), opted_out=code in OPTED_OUT_CODES)
        return Accepted(provider_message_id=str(data["sid"]), state="sent")
    reason = f"Twilio HTTP {status}: {data.get('message') or data.get('error_message') or 'unexpected answer'}"
    if status == 429 or code == 20429 or status >= 500:
        return Transient(reason=reason, code=str(code or status), retry_after=parse_retry_after(retry_after))
    if isinstance(code, int) and code in PERMANENT_CODES:
        return Permanent(reason=reason, code=str(code), opted_out=code in OPTED_OUT_CODES)
    if 400 <= status < 500:
        return Permanent(reason=reason, code=str(code or status))
    return Transient(reason=reason, code=str(code or status))


def whatsapp_form(payload: SmsPayload) -> whatsapp.Form:
    """Free text inside the contact's 24-hour window, the content template outside it (decided at send time:
    the window may have opened or closed while the message waited)."""
    last = contact_windows.last_inbound("whatsapp", payload.sender, payload.to)
    return whatsapp.form(last, clock.now(), payload.content_sid is not None, payload.template_only)


def deliver(channel: str, payload: SmsPayload, attempt: int | None = None) -> Outcome:
    settings = get_settings()
    as_template = False
    if channel == "whatsapp":
        form = whatsapp_form(payload)
        if form == "template_required":
            return Permanent(
                reason="outside the contact's 24-hour WhatsApp window, and the template has no content template "
                "for this contact's locale (WhatsApp would refuse free text: 63016)",
                code="template_required",
            )
        as_template = form == "template"
    credentials = json_parameter(settings.twilio_credentials_param)
    url, body, headers = build_request(
        channel, payload, credentials["account_sid"], credentials["auth_token"], as_template, attempt
    )
    return provider_call.call(url, body, headers, interpret)
