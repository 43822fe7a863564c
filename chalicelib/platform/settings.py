"""Stage configuration, read once from the environment that `.chalice/config.json` sets per stage."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field, field_validator

from chalicelib.core import ids
from chalicelib.platform import api_keys, queue_names

CHANNELS = ("soap", "sms", "whatsapp", "twitter")


class Settings(BaseModel):
    stage: str = "local"
    org_id: str = Field(
        default="00Doutboundlocal01",
        description="OrganizationId on SOAP notifications: a Salesforce org id (15 or 18 characters) is kept, "
        "anything else seeds a stable derived 18-character 00D id",
        validate_default=True,
    )
    records_table: str = "outbound-local-records"
    messages_table: str = "outbound-local-message-store"
    legacy_messages_table: str = "outbound-local-messages"
    config_table: str = "outbound-local-config"
    conversations_table: str = "outbound-local-conversations"
    timeline_table: str = "outbound-local-timeline"
    payload_bucket: str = Field(
        default="outbound-local-payloads-123456789012-us-east-1", description="S3 bucket for large payloads"
    )
    payload_inline_bytes: int = Field(
        default=8192, description="compressed payloads larger than this go to the payload bucket (claim check)"
    )
    retention_days: float = Field(default=90.0, description="messages, conversations and timeline entries expire")
    queue_prefix: str = queue_names.DEFAULT_PREFIX
    public_api_url: str = Field(default="", description="override; empty: derived from each request or the stack")
    webhook_url: str = Field(
        default="", description="where providers call back (the stack's function URL); empty: the API's /webhooks"
    )
    twilio_base_url: str = "https://api.twilio.com"
    twilio_credentials_param: str = "/outbound/local/twilio"
    telesign_base_url: str = "https://rest-api.telesign.com"
    telesign_credentials_param: str = "/outbound/local/telesign"
    x_base_url: str = "https://api.x.com"
    eum_base_url: str = Field(default="", description="End User Messaging endpoint override (empty: the region's)")
    eum_configuration_set: str = Field(default="", description="AWS End User Messaging SMS configuration set, if any")
    eum_opt_out_list: str = Field(default="Default", description="End User Messaging opt-out list kept in step "
                                  "with the consent list (empty: none)")
    eum_max_price: str = Field(default="", description="MaxPrice per message part in USD (e.g. 0.05); empty: none")
    x_credentials_param: str = Field(
        default="/outbound/local/x", description='SSM JSON {"<account>": "<OAuth 2.0 user access token>"}'
    )
    default_phone_region: str | None = Field(default=None, description="region for numbers given without +")
    session_token_param: str = Field(
        default="/outbound/local/session-token-key", description='SSM JSON {"key": ...} signing SessionId tokens'
    )
    allow_insecure_endpoints: bool = False
    api_auth: bool = Field(default=True, description="management routes need an API key (off: local stage)")
    api_keys_param: str = Field(default="/outbound/local/api-keys", description='SSM JSON {"keys": [...]}')
    http_timeout_seconds: float = 60.0
    sender_threads: int = Field(default=10, ge=1, le=10, description="a batch's deliveries run side by side")
    http_max_response_bytes: int = 1_048_576
    http_ca_bundle: str | None = Field(default=None, description="extra CA bundle (local/test HTTPS listeners)")
    send_limit_per_hour: int = Field(
        default=0, ge=0, description="messages per org per hour (instant sends); 0: none (Dynamics' is 30,000)"
    )
    soap_deadline_hours: float = 24.0
    sms_deadline_hours: float = 24.0
    retry_base_seconds: float = 30.0
    max_attempts: int = Field(default=30, description="attempts per message before it fails (24 h of backoff is ~20)")
    sweep_grace_seconds: float = Field(
        default=1200.0, description="how long past due a queued or leased record waits before the sweep re-enqueues it"
    )
    lease_margin_seconds: float = Field(
        default=30.0, description="a sending record's lease is the HTTP timeout plus this; then another sender takes it"
    )
    settle_retry_seconds: float = Field(
        default=30.0, description="how long a sender keeps trying to record an outcome while AWS does not answer"
    )
    idempotency_lease_seconds: float = Field(
        default=60.0, description="an unanswered Idempotency-Key is taken over after this (the API function's timeout)"
    )
    reference_listener: bool = False
    schedule_group: str = Field(default="outbound-local", description="the EventBridge Scheduler group of schedules")
    scheduled_send_arn: str = Field(default="", description="the scheduled-send function, the schedules' target")
    scheduler_role_arn: str = Field(default="", description="the role Scheduler assumes to invoke it")
    schedule_dlq_arn: str = Field(default="", description="where Scheduler parks a firing it could not deliver")

    @field_validator("org_id")
    @classmethod
    def _salesforce_form(cls, value: str) -> str:
        return ids.organization_id(value)

    def queue_name(self, channel: str) -> str:
        return queue_names.queue_name(channel, self.queue_prefix)

    def dlq_name(self, channel: str) -> str:
        return queue_names.dlq_name(channel, self.queue_prefix)

    def deadline_hours(self, channel: str) -> float:
        return self.soap_deadline_hours if channel == "soap" else self.sms_deadline_hours


# Each field is read from its name in upper case, except these.
ENV_NAMES = {"stage": "OUTBOUND_STAGE", "reference_listener": "ENABLE_REFERENCE_LISTENER"}
# An empty variable means "not set" for these (config.json writes "" for an optional value).
EMPTY_IS_UNSET = {"org_id", "default_phone_region", "http_ca_bundle"}


def env_name(field: str) -> str:
    return ENV_NAMES.get(field, field.upper())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The model read from the environment: each field from its variable (pydantic converts the text), absent
    ones at the model's default. `api_auth` follows API_AUTH as api/routing.py reads it at import."""
    values: dict[str, object] = {}
    for name, field in Settings.model_fields.items():
        raw = os.environ.get(env_name(name))
        if raw is None or (raw == "" and (name in EMPTY_IS_UNSET or field.annotation in (bool, "bool"))):
            continue
        values[name] = raw
    values["api_auth"] = api_keys.required()
    return Settings.model_validate(values)


def reset_settings() -> None:
    """Forget the cached settings (the local runtime and tests change the environment)."""
    get_settings.cache_clear()
