"""The consent list: one item per person (under a keyed hash of their address), its entries per scope, and
the evidence behind each; the operator API's inputs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SCOPE = r"^(global|[a-z0-9][a-z0-9-]{0,39})$"
Scope = Annotated[str, Field(pattern=SCOPE, description="`global`, or a configuration's consent scope")]
AppliesTo = Literal["all", "whatsapp_marketing"]


class ConsentEvidence(BaseModel):
    """Why an entry says what it says: who or what said it, through which provider, and whether the webhook
    that carried it was signed by that provider."""

    source: Literal["twilio", "telesign", "eum", "operator", "import"]
    actor: Literal["person", "operator", "import", "provider"]
    at: datetime
    keyword: str | None = None
    code: str | None = None  # a provider's error code that is the person's word (21610, 63014, 131050)
    provider_message_id: str | None = None
    verified: bool = False  # the webhook's signature was checked
    note: str | None = None


class ConsentEntry(BaseModel):
    id: str
    scope: str
    applies_to: AppliesTo = "all"
    status: Literal["opted_out", "opted_in", "removed"]
    evidence: ConsentEvidence


class ConsentItem(BaseModel):
    """Everything the list knows of one person. `address` is dropped on erasure; the keyed hash stays."""

    key: str
    address: str | None = None
    entries: dict[str, ConsentEntry] = Field(default_factory=dict)  # "<scope>|<applies_to>" -> entry
    history: list[ConsentEntry] = Field(default_factory=list)
    version: int = 0


class ConsentInput(BaseModel):
    """PUT /consent/{address}: an operator records an opt-out (or an opt-in) for a person."""

    model_config = ConfigDict(extra="forbid")

    scope: Scope = "global"
    applies_to: AppliesTo = "all"
    status: Literal["opted_out", "opted_in"] = "opted_out"
    note: Annotated[str, Field(max_length=500)] | None = None
