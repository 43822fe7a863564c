"""Salesforce-style outbound message definitions and the workflow rules that fire them."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chalicelib.models.records import FIELD_NAME, OBJECT_NAME, FieldType, ObjectSchema, Scalar

UNIQUE_NAME_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\S+$"), "must not contain spaces"),
    (re.compile(r"^[A-Za-z0-9_]+$"), "may contain only letters, digits and underscores"),
    (re.compile(r"^[A-Za-z]"), "must begin with a letter"),
    (re.compile(r"(?<!_)$"), "must not end with an underscore"),
    (re.compile(r"^(?!.*__)"), "must not contain two consecutive underscores"),
)


def check_unique_name(value: str) -> str:
    for pattern, rule in UNIQUE_NAME_RULES:
        if not pattern.search(value):
            raise ValueError(f"unique name {rule}")
    return value


# Salesforce's rules in one pattern (for the API document): a letter first; letters, digits, underscores; an
# underscore always followed by a letter or digit (so none at the end, never two in a row). The rules are also
# checked one by one (UNIQUE_NAME_RULES), so a refusal names the rule broken.
UNIQUE_NAME = r"^[A-Za-z](?:[A-Za-z0-9]|_(?=[A-Za-z0-9]))*$"
# What the code accepts as an endpoint (url_policy.check_url): http(s), a host, a port 1-65535, no user:password@,
# no spaces or control characters. HTTPS and public addresses are a stage's policy, checked on top.
PORT = r"(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ENDPOINT_URL = rf"^https?://{LABEL}(?:\.{LABEL})*{PORT}(?:/[!-~]*)?$"
SECRET_REFERENCE = r"^(?:/[!-~]{1,1023}|secretsmanager:[!-~]{1,512}|arn:aws:secretsmanager:[!-~]{1,512})$"  # noqa: S105


def stage_secret_reference(stage: str) -> str:
    """SECRET_REFERENCE within one stage's prefix, the only secrets its IAM policy lets it read."""
    return (
        rf"^(?:/outbound/{stage}/[!-~]{{1,1000}}|secretsmanager:outbound/{stage}/[!-~]{{1,490}}"
        rf"|arn:aws:secretsmanager:[a-z0-9-]+:[0-9]{{12}}:secret:outbound/{stage}/[!-~]{{1,450}})$"
    )


class DefinitionInput(BaseModel):
    model_config = ConfigDict(extra="forbid", regex_engine="python-re")

    object: Annotated[str, Field(pattern=OBJECT_NAME.pattern)]
    name: Annotated[str, Field(min_length=1, max_length=80)]
    unique_name: Annotated[str, Field(min_length=1, max_length=80, json_schema_extra={"pattern": UNIQUE_NAME})]
    description: Annotated[str, Field(max_length=1000)] = ""
    endpoint_url: Annotated[str, Field(min_length=1, max_length=2048, json_schema_extra={"pattern": ENDPOINT_URL})]
    user_to_send_as: Annotated[str, Field(min_length=1, max_length=80)] = "integration"
    include_session_id: bool = False
    format: Literal["soap", "json"] = Field(
        default="soap", description="soap: Salesforce's notifications message; json: Standard Webhooks, signed")
    ordering: Literal["none", "latest_wins"] = Field(default="none", description=(
        "none: as Salesforce (any order); latest_wins: per record, never an older version after a newer one, "
        "older ones superseded, one notification per message"))
    fields: list[Annotated[str, Field(pattern=FIELD_NAME.pattern)]] = Field(
        default_factory=lambda: ["Id"], json_schema_extra={"uniqueItems": True}
    )
    protected: bool = False
    client_certificate: Annotated[str, Field(json_schema_extra={"pattern": SECRET_REFERENCE})] | None = Field(
        default=None, description="SSM/Secrets Manager name, never the PEM"
    )

    _unique = field_validator("unique_name")(classmethod(lambda cls, v: check_unique_name(v)))

    @field_validator("fields")
    @classmethod
    def _id_always(cls, value: list[str]) -> list[str]:
        ordered = ["Id", *[f for f in value if f != "Id"]]
        if len(set(ordered)) != len(ordered):
            raise ValueError("fields must not repeat")
        return ordered


class OutboundMessageDefinition(DefinitionInput):
    id: str

    def field_types(self, schema: ObjectSchema | None) -> dict[str, FieldType]:
        """Selected fields in Salesforce's order - `Id`, then the rest sorted by code point as Salesforce sorts
        them (`SystemModstamp` before `gwestr__Status__c`) - with their types. The envelope's elements and the
        WSDL's `xsd:sequence` both follow it, so a sequence-validating listener sees them where it expects."""
        types: dict[str, FieldType] = {"Id": FieldType.id}
        for name in sorted(f for f in self.fields if f != "Id"):
            found = schema.field_type(name) if schema else None
            types[name] = found or FieldType.string
        return types


class EvaluationCriteria(StrEnum):
    created = "created"
    created_and_every_edit = "created_and_every_edit"
    created_and_edited_to_meet_criteria = "created_and_edited_to_meet_criteria"


class Operator(StrEnum):
    equals = "equals"
    not_equals = "not_equals"
    greater_than = "greater_than"
    less_than = "less_than"
    greater_or_equal = "greater_or_equal"
    less_or_equal = "less_or_equal"
    contains = "contains"
    is_changed = "is_changed"
    is_null = "is_null"


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: Annotated[str, Field(pattern=FIELD_NAME.pattern)]
    op: Operator
    value: Scalar = None


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")

    logic: Literal["and", "or"] = "and"
    conditions: list[Comparison | Group] = Field(min_length=1)


FieldName = Annotated[str, Field(pattern=FIELD_NAME.pattern)]
MAX_CRITERIA_DEPTH = 10  # each group is two DynamoDB nesting levels (map, list); the item adds two more


def group_depth(group: Group) -> int:
    return 1 + max((group_depth(c) for c in group.conditions if isinstance(c, Group)), default=0)


class Recipients(BaseModel):
    """Where an automated customer send finds its contacts: related records named by fields of the record that
    fired the rule (a field may hold one id or a list of ids), and which of their fields fill the contact entry."""

    model_config = ConfigDict(extra="forbid")

    via: Annotated[
        list[FieldName], Field(min_length=1, description="fields of the record holding related record ids")
    ]
    contact_object: Annotated[str, Field(pattern=OBJECT_NAME.pattern)] = "Contact"
    address_field: FieldName = Field(default="MobilePhone", description="phone number, or X handle / user id")
    name_field: FieldName | None = Field(default="FullName", description="becomes CustomerName")
    locale_field: FieldName | None = "Locale"
    optin_field: FieldName | None = Field(default="OptIn", description="false: the message is recorded opted_out")
    case_name_field: FieldName | None = Field(default=None, description="field of the firing record used as CaseName")


class RuleInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    object: Annotated[str, Field(pattern=OBJECT_NAME.pattern)]
    name: Annotated[str, Field(min_length=1, max_length=80)]
    evaluation: EvaluationCriteria = EvaluationCriteria.created
    criteria: Group | None = None
    active: bool = True
    definition_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list)
    configuration_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, description="automated customer sends fired by this rule"
    )
    recipients: Recipients | None = Field(default=None, description="required with configuration_ids")


    @field_validator("criteria")
    @classmethod
    def _bounded_depth(cls, value: Group | None) -> Group | None:
        if value is not None and group_depth(value) > MAX_CRITERIA_DEPTH:
            raise ValueError(f"groups nest at most {MAX_CRITERIA_DEPTH} deep (stored rules are DynamoDB documents, "
                             "which stop at 32 levels)")
        return value


class Rule(RuleInput):
    id: str


def comparison_fields(group: Group | None) -> set[str]:
    if group is None:
        return set()
    found: set[str] = set()
    for condition in group.conditions:
        found |= {condition.field} if isinstance(condition, Comparison) else comparison_fields(condition)
    return found

