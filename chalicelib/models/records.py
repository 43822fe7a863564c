"""Entity records (Case, Contact, ...) and the changes the records stream reports about them."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

OBJECT_NAME = re.compile(r"^[A-Z][A-Za-z0-9_]{0,39}$")
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")

Scalar = str | int | float | bool | None


class FieldType(StrEnum):
    """The XML Schema types a SOAP listener sees for each field."""

    string = "string"
    id = "id"
    boolean = "boolean"
    int = "int"
    double = "double"
    date = "date"
    datetime = "dateTime"


class ObjectSchema(BaseModel):
    """Declares an object type and its fields; `Id` is implicit and always of type id."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=OBJECT_NAME.pattern)]
    fields: dict[str, FieldType] = Field(default_factory=dict)

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


class RecordInput(BaseModel):
    """Body of PUT /records/{type}/{id}."""

    model_config = ConfigDict(extra="forbid")

    fields: dict[str, Scalar]


class EntityRecord(BaseModel):
    object_type: str
    id: str
    fields: dict[str, Any] = Field(default_factory=dict)


class RecordChange(BaseModel):
    """One record of the records table's stream, with both images already deserialised."""

    event_id: str
    sequence_number: str
    kind: Literal["INSERT", "MODIFY", "REMOVE"]
    object_type: str
    record_id: str
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
