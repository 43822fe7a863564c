"""Entity records (Case, Contact, ...) and the changes the records stream reports about them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

OBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")  # Salesforce API names: `Case`, `gwestr__Shipment__c`
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
# Field names a record may set: `Id` is the record's key, `id` and `object_type` are the table's.
SETTABLE_FIELD = r"^(?!(?:Id|id|object_type)$)[A-Za-z][A-Za-z0-9_]{0,79}$"
# Record ids: Salesforce ids, UUIDs, slugs, keys such as `order:42` or `a@b.example`; nothing a path, a SOAP
# envelope or a log line must escape.
RECORD_ID = r"^[A-Za-z0-9_.:@+-]{1,64}$"
MAX_TEXT_VALUE = 131_072  # characters of a string field: Salesforce's long text area maximum
# Strings XML 1.0 can carry, for the API document; checked in code by core/texts.xml_problem (a test keeps the
# two equal: models import nothing of ours).
XML_TEXT = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\ud800-\\udfff\\ufffe\\uffff]*$"
DYNAMODB_INT = 10**38 - 1  # DynamoDB numbers have 38 digits of precision

Text = Annotated[str, Field(max_length=MAX_TEXT_VALUE, json_schema_extra={"pattern": XML_TEXT})]


def _exact(value: Any) -> Any:
    """An integer a double would round is refused, not stored rounded without a word."""
    if isinstance(value, int) and not isinstance(value, bool) and float(value) != value:
        raise ValueError("has more digits than a double holds exactly; send at most 15 significant digits")
    return value


# DynamoDB's number range
Number = Annotated[float, BeforeValidator(_exact), Field(allow_inf_nan=False, ge=-1e125, le=1e125)]
Integer = Annotated[int, Field(ge=-DYNAMODB_INT, le=DYNAMODB_INT)]
Scalar = Text | Integer | Number | bool | None


class FieldType(StrEnum):
    """The XML Schema types a SOAP listener sees for each field."""

    string = "string"
    id = "id"
    boolean = "boolean"
    int = "int"
    double = "double"
    date = "date"
    datetime = "dateTime"


INT_RANGE = (-(2**31), 2**31 - 1)  # xsd:int, what the WSDL promises listeners
# The lexical forms a record may hold, checked at the record API: xsd:date without a zone, and xsd:dateTime in
# ISO 8601's extended format (no basic `20261124T100000`, no week or ordinal dates). A dateTime without a zone
# is taken as UTC, as Salesforce's API takes it.
DATE_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_FORM = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:[0-5]\d)?$"
)
DATE_PATTERN = DATE_FORM.pattern
DATETIME_PATTERN = DATETIME_FORM.pattern


def canonical_datetime(value: str) -> str | None:
    """A dateTime as Salesforce sends it (UTC, milliseconds: `2026-11-24T08:00:00.000Z`), or None if `value` is
    not one. Stored this way, so rules compare instants, not spellings."""
    if not DATETIME_FORM.match(value):
        return None
    zone = re.search(r"[+-](\d{2}):(\d{2})$", value)
    if zone and (int(zone[1]), int(zone[2])) > (14, 0):
        return None  # XML Schema's zones stop at ±14:00
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    head, dot, rest = text.partition(".")
    if dot:  # Python reads at most 6 fraction digits; Salesforce keeps 3
        digits = re.match(r"\d+", rest)
        fraction = digits.group(0) if digits else ""
        text = f"{head}.{fraction[:6].ljust(6, '0')}{rest[len(fraction):]}"
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    # The year padded to four digits (xs:dateTime's lexical form): strftime's %Y writes year 1 as "1".
    return f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def canonical_date(value: str) -> str | None:
    if not DATE_FORM.match(value):
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return None


def value_problem(kind: FieldType, value: Any) -> str | None:
    """Why a stored value cannot be sent as its field's XML Schema type, or None when it can."""
    if value is None:
        return None
    match kind:
        case FieldType.string | FieldType.id:
            ok = isinstance(value, str)
        case FieldType.boolean:
            ok = isinstance(value, bool)
        case FieldType.int:
            ok = isinstance(value, int) and not isinstance(value, bool) and INT_RANGE[0] <= value <= INT_RANGE[1]
            if not ok:
                return "must be an integer between -2147483648 and 2147483647"
        case FieldType.double:
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value == value  # noqa: PLR0124
            ok = ok and abs(value) != float("inf")
            if ok and isinstance(value, int) and float(value) != value:
                return "has more digits than a double holds exactly; send at most 15 significant digits"
        case FieldType.date:
            if not (isinstance(value, str) and canonical_date(value)):
                return "must be a date as YYYY-MM-DD"
            ok = True
        case FieldType.datetime:
            if not (isinstance(value, str) and canonical_datetime(value)):
                return ("must be an ISO 8601 date-time in extended format with an optional zone Z or +hh:mm, "
                        "such as 2026-11-24T10:00:00Z")
            ok = True
    return None if ok else f"must be a {kind.value}"


def canonical_value(kind: FieldType, value: Any) -> Any:
    """The value as it is stored and sent: dateTimes in UTC with milliseconds, the rest as given."""
    if kind == FieldType.datetime and isinstance(value, str):
        return canonical_datetime(value) or value
    return value


SALESFORCE_IDS = (
    "record ids and id-typed (reference) fields are 18-character Salesforce ids: the record API refuses others, "
    "and the WSDL types them ID as Salesforce's does"
)


# RFC 6901 JSON pointers into an event's `detail`: "" is the whole detail, "/order/id" a member of a member.
JSON_POINTER = r"^(/([^~/]|~[01])*)*$"
Pointer = Annotated[str, Field(max_length=256, pattern=JSON_POINTER)]
EVENT_TEXT = r"^[\x21-\x7e](?:[\x20-\x7e]{0,254}[\x21-\x7e])?$"  # EventBridge's source and detail-type


class EventSource(BaseModel):
    """EventBridge events that are this object's record changes: each matching event is written as the record
    (the record API's checks), so rules, definitions and automated sends see an ordinary change."""

    model_config = ConfigDict(extra="forbid")

    source: Annotated[str, Field(pattern=EVENT_TEXT, description="the events' `source`, e.g. com.acme.orders")]
    detail_type: Annotated[str, Field(pattern=EVENT_TEXT, description="the events' `detail-type`")]
    id_pointer: Pointer = Field(description="where the record id is in `detail` (a JSON pointer such as /orderId)")
    fields_pointer: Pointer = Field(default="", description="where the fields are in `detail` (\"\": detail itself); "
                                    "members that are not fields of the object are ignored")
    previous_pointer: Pointer | None = Field(default=None, description=(
        "where the values before the change are (for `edited to meet criteria` and `is changed`); an event "
        "without them is a creation, or an edit of the record as the previous event left it; no pointer: always "
        "the record as the previous event left it"))
    order_pointer: Pointer | None = Field(default=None, description=(
        "a number or a sortable text in `detail` (a version, an updatedAt) that orders one record's events; none: "
        "the event's `time` (whole seconds), then its id"))

    @field_validator("source")
    @classmethod
    def _not_aws(cls, value: str) -> str:
        if value.startswith("aws."):
            raise ValueError("sources starting with aws. are AWS's own; the stack's rule does not take them")
        return value


class SourceTable(BaseModel):
    """An existing DynamoDB table whose stream feeds this object (the stack's SourceTableStreamArn)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{3,255}$", description="the table's name")]
    id_attributes: Annotated[list[Annotated[str, Field(min_length=1, max_length=255)]],
                             Field(min_length=1, max_length=2, description=(
                                 "the key attributes whose values, joined by ':', are the record id"))]
    type_attribute: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        default=None, description="single-table designs: only items whose this attribute equals type_value")
    type_value: Annotated[str, Field(min_length=1, max_length=1024)] | None = None

    @model_validator(mode="after")
    def _type_pair(self) -> SourceTable:
        if (self.type_attribute is None) != (self.type_value is None):
            raise ValueError("type_attribute and type_value go together")
        return self


class ObjectSchema(BaseModel):
    """Declares an object type and its fields; `Id` is implicit and always of type id."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=OBJECT_NAME.pattern)]
    fields: dict[str, FieldType] = Field(default_factory=dict)
    salesforce_ids: bool = Field(default=False, description=SALESFORCE_IDS)
    events: EventSource | None = None
    table: SourceTable | None = None

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: dict[str, FieldType]) -> dict[str, FieldType]:
        for name in value:
            if not FIELD_NAME.match(name):
                raise ValueError(f"field name {name!r} must be letters, digits, underscores, starting with a letter")
        value.pop("Id", None)
        return value

    def field_type(self, name: str) -> FieldType | None:
        return FieldType.id if name == "Id" else self.fields.get(name)


class ObjectSchemaInput(BaseModel):
    """Body of PUT /objects/{name}: the path names the object; `name`, if given, must say the same."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=OBJECT_NAME.pattern)] | None = None
    fields: dict[Annotated[str, Field(pattern=FIELD_NAME.pattern)], FieldType] = Field(default_factory=dict)
    salesforce_ids: bool = Field(default=False, description=SALESFORCE_IDS)
    events: EventSource | None = Field(default=None, description="EventBridge events that are its record changes")
    table: SourceTable | None = Field(default=None, description="an existing table whose stream feeds it")


class RecordInput(BaseModel):
    """Body of PUT /records/{type}/{id}."""

    model_config = ConfigDict(extra="forbid", regex_engine="python-re")

    fields: dict[Annotated[str, Field(pattern=SETTABLE_FIELD)], Scalar]


class RecordChange(BaseModel):
    """One record of the records table's stream, with both images already deserialised."""

    event_id: str
    sequence_number: str
    kind: Literal["INSERT", "MODIFY", "REMOVE"]
    object_type: str
    record_id: str
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
    changed_at: datetime | None = None  # the stream's ApproximateCreationDateTime
    version: int = 0  # the record's version (the record API counts its writes; 0: written around it)
