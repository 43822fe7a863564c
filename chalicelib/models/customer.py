"""Omnichannel-style customer messaging: templates, outbound configurations, contacts, sends, schedules."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from chalicelib.models.messages import Pace

ChannelType = Literal["sms", "whatsapp", "twitter"]
LOCALE = r"^[a-z]{2,3}(-[A-Z]{2})?$"
MAX_CONTACTS = 100
Provider = Literal["twilio", "telesign", "eum", "x"]
PROVIDERS: dict[str, tuple[Provider, ...]] = {
    "sms": ("twilio", "telesign", "eum"),  # eum: AWS End User Messaging SMS (pinpoint-sms-voice-v2)
    "whatsapp": ("twilio",),
    "twitter": ("x",),
}
# The longest text each channel's provider takes: Twilio refuses bodies over 1,600 characters (SMS and
# WhatsApp; TeleSign's limit is the same), X a direct message over 10,000.
MAX_BODY: dict[str, int] = {"sms": 1600, "whatsapp": 1600, "twitter": 10_000}


CONTENT_SID = r"^HX[0-9a-fA-F]{32}$"
VARIABLE_KEY = r"^[A-Za-z0-9_]{1,64}$"


class ContentTemplate(BaseModel):
    """A Twilio Content template approved for WhatsApp (one language each), and how its variables are filled:
    each is a small template over the contact's values, e.g. {"1": "{{ CustomerName }}"}."""

    model_config = ConfigDict(extra="forbid")

    content_sid: Annotated[str, Field(pattern=CONTENT_SID, description="HX followed by 32 hex digits")]
    variables: Annotated[
        dict[Annotated[str, Field(pattern=VARIABLE_KEY)], Annotated[str, Field(min_length=1, max_length=1000)]],
        Field(max_length=100),
    ] = Field(default_factory=dict)


class TemplateInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    channel_type: ChannelType
    default_locale: Annotated[str, Field(pattern=LOCALE)] = "en-US"
    bodies: Annotated[
        dict[Annotated[str, Field(pattern=LOCALE)], Annotated[str, Field(min_length=1, max_length=1600)]],
        Field(min_length=1, max_length=50, description="one body per locale; must include default_locale"),
    ]
    content: Annotated[
        dict[Annotated[str, Field(pattern=LOCALE)], ContentTemplate],
        Field(max_length=50, description="whatsapp only: the approved content template per locale, sent outside "
                                         "the 24-hour customer-service window (the body is sent inside it)"),
    ] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _default_present(self) -> TemplateInput:
        if self.default_locale not in self.bodies:
            raise ValueError(f"bodies must include the default locale {self.default_locale!r}")
        return self


class MessageTemplate(TemplateInput):
    id: str
    warnings: dict[str, str] = Field(
        default_factory=dict, description="per locale: what the operator should know (an SMS body always UCS-2)"
    )


def _provider_per_channel(schema: dict[str, Any]) -> None:
    """The API document states which providers each channel takes (JSON Schema if/then)."""
    schema["allOf"] = [
        {
            "if": {"properties": {"channel_type": {"const": channel}}, "required": ["channel_type"]},
            "then": {"properties": {"provider": {"anyOf": [{"enum": list(providers)}, {"type": "null"}]}}},
        }
        for channel, providers in PROVIDERS.items()
    ]


class FallbackStep(BaseModel):
    """The next channel when the message is not delivered: another configuration, taken on an explicit failure or
    when no `delivered` came within `after_seconds` of the message's creation."""

    model_config = ConfigDict(extra="forbid")

    configuration_id: Annotated[str, Field(min_length=1, max_length=64)]
    after_seconds: Annotated[int, Field(ge=10, le=259_200)] = 300


HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


def _iana_zone(name: str) -> str:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone") from exc
    return name


TimeZone = Annotated[str, Field(min_length=1, max_length=64, description="an IANA time zone, e.g. America/Chicago"),
                     AfterValidator(_iana_zone)]


class SendingWindow(BaseModel):
    """When messages may reach the recipient, in their local time: from `start` up to (not including) `end`."""

    model_config = ConfigDict(extra="forbid")

    start: Annotated[str, Field(pattern=HHMM)]
    end: Annotated[str, Field(pattern=HHMM)]

    @model_validator(mode="after")
    def _not_empty(self) -> SendingWindow:
        if self.start == self.end:
            raise ValueError("start and end are the same: the window would be empty")
        return self


class ConfigurationInput(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_provider_per_channel)

    name: Annotated[str, Field(min_length=1, max_length=100)]
    show_in_timeline: bool = False
    channel_type: ChannelType
    channel: Annotated[str, Field(min_length=1, max_length=64, description="sending number, sender or account")]
    template_id: Annotated[str, Field(min_length=1, max_length=64)]
    provider: Provider | None = Field(
        default=None,
        validate_default=True,
        description="sms: twilio (default), telesign or eum; whatsapp: twilio; twitter: x",
    )
    pace: Pace | None = Field(
        default=None,
        description="throughput of the sending number or account, shared by every configuration that uses it; "
        "X's documented DM limits apply to twitter without it",
    )
    fallback: Annotated[list[FallbackStep], Field(max_length=3)] = Field(
        default_factory=list, description="ordered: the channels tried next, each once, when this one fails")
    purpose: Literal["transactional", "marketing"] = Field(
        default="transactional", description="marketing: sent only inside the recipient's sending window (08:00-21:00 "
        "by default, narrower where a region's law says so) and under its frequency caps")
    sending_window: SendingWindow | None = Field(
        default=None, description="local time in the recipient's zone; marketing defaults to 08:00-21:00")
    fallback_timezone: TimeZone | None = Field(
        default=None, description="IANA zone used when the recipient's is unknown (else an operator decides)")
    consent_scope: Annotated[str, Field(pattern=r"^(global|[a-z0-9][a-z0-9-]{0,39})$")] = Field(
        default="global", description="where a STOP to this configuration's sender applies: global, or a brand / "
        "sender group shared by configurations")
    messaging_service_sid: Annotated[str, Field(pattern=r"^MG[0-9a-fA-F]{32}$")] | None = Field(
        default=None, description="twilio: send through this Messaging Service (MessagingServiceSid instead of "
        "From; its Advanced Opt-Out applies); `channel` stays the number replies arrive at")
    help_text: Annotated[str, Field(min_length=1, max_length=320)] | None = Field(
        default=None, description="sent to a person who texts HELP or INFO to this configuration's number (CTIA: "
        "who you are and how to reach you); none: the provider's own keyword answer")
    opt_out_confirmation: Annotated[str, Field(min_length=1, max_length=320)] | None = Field(
        default=None, description="sent once after a STOP that opts the person out (FCC: one confirmation, no "
        "marketing, within 5 minutes); none when the provider confirms (Twilio's default opt-out handling does)")
    revocation_phrases: bool = Field(
        default=False, description="also honour short texts that revoke consent (\"stop texting me\"), as the FCC "
        "asks, besides the exact keywords")

    @model_validator(mode="after")
    def _service_is_twilios(self) -> ConfigurationInput:
        if self.messaging_service_sid and self.provider != "twilio":
            raise ValueError("messaging_service_sid: a Twilio Messaging Service sends through twilio only")
        return self

    @field_validator("provider")
    @classmethod
    def _provider_fits_channel(cls, provider: Provider | None, info: ValidationInfo) -> Provider | None:
        channel_type = info.data.get("channel_type")
        if channel_type is None:  # already reported as its own error
            return provider
        allowed = PROVIDERS[channel_type]
        if provider is None:
            return allowed[0]
        if provider not in allowed:
            raise ValueError(f"{provider} cannot send {channel_type} (use {', '.join(allowed)})")
        return provider


class OutboundConfiguration(ConfigurationInput):
    id: str


CONTEXT_KEY = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_VALUE = 1_000  # characters of one contact value: a name, a case name, a context item
ContextValue = Annotated[str, Field(max_length=MAX_VALUE)] | int | Annotated[float, Field(allow_inf_nan=False)] | bool


class Contact(BaseModel):
    """One recipient of a send, with the field names the Omnichannel contact entry uses. Every value is bounded,
    so a contact that passes validation always fits in the message record written for it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    tocontactid: Annotated[str, Field(min_length=1, max_length=64)]
    channelid: Annotated[str, Field(max_length=64)] | None = None
    optin: bool = True
    locale: Annotated[str, Field(pattern=LOCALE)] | None = None
    timezone: TimeZone | None = Field(default=None, description="where the person is (their sending window's zone)")
    contextitems: Annotated[
        dict[Annotated[str, Field(pattern=CONTEXT_KEY)], ContextValue], Field(max_length=50)
    ] = Field(default_factory=dict)
    entityrelationshipname: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    CustomerName: Annotated[str, Field(max_length=MAX_VALUE)] | None = None
    CaseName: Annotated[str, Field(max_length=MAX_VALUE)] | None = None
    # WhatsApp (Dynamics' names): true sends the content template even inside the 24-hour window; the parameters
    # fill its variables by key ("1", "2", ... or a list for 1..n), over the template's own bindings.
    sendastemplate: bool | None = None
    templateparameters: (
        Annotated[dict[Annotated[str, Field(pattern=VARIABLE_KEY)], ContextValue], Field(max_length=100)]
        | Annotated[list[ContextValue], Field(max_length=100)]
        | None
    ) = None

    def template_values(self) -> dict[str, Any]:
        values: dict[str, Any] = dict(self.contextitems)
        for name in ("CustomerName", "CaseName"):
            if getattr(self, name) is not None:
                values[name] = getattr(self, name)
        return values


class PreviewRequest(BaseModel):
    """POST /templates/{id}/preview: the contact to render for; `locale` overrides the contact's."""

    model_config = ConfigDict(extra="forbid")

    contact: Contact
    locale: Annotated[str, Field(pattern=LOCALE)] | None = None
    channel: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="whatsapp: the sending number, to tell whether the contact's window is open"
    )


class InstantSendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    configuration_id: Annotated[str, Field(min_length=1)]
    contacts: Annotated[list[Contact], Field(min_length=1, max_length=MAX_CONTACTS)]
    critical: bool = Field(default=False, description="transactional configurations only: send outside the "
                           "recipient's sending window (recorded in each message's history); consent still applies")
