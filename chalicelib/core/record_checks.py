"""The checks every record passes before it is stored, whichever door it came through (the record API, an
EventBridge event): a value that would make a later notification unsendable is refused here, naming its field."""

from __future__ import annotations

import re
from typing import Any

from chalicelib.core import ids
from chalicelib.core.errors import invalid, mismatch
from chalicelib.core.texts import xml_problem
from chalicelib.models.records import FIELD_NAME, RECORD_ID, FieldType, ObjectSchema, canonical_value, value_problem

RECORD_ID_FORM = re.compile(RECORD_ID)


def check_id(schema: ObjectSchema, record_id: str) -> None:
    if not RECORD_ID_FORM.match(record_id):
        raise invalid("id", "must be 1 to 64 letters, digits or . _ : @ + -")
    if schema.salesforce_ids and (id_problem := ids.salesforce_id_problem(record_id)):
        raise invalid("id", f"{id_problem} ({schema.name} ids are Salesforce-form)")


def checked_fields(schema: ObjectSchema, values: dict[str, Any], prefix: str = "fields") -> dict[str, Any]:
    """The values as stored (dateTimes in UTC with milliseconds), or an ApiError naming the first bad field."""
    fields: dict[str, Any] = {}
    for name, value in values.items():
        if not FIELD_NAME.match(name) or name in {"Id", "id", "object_type"}:
            raise invalid(f"{prefix}.{name}", "is not a settable field name")
        kind = schema.field_type(name)
        if kind is None:
            raise mismatch(f"{prefix}.{name}", f"is not a field of {schema.name}")
        if isinstance(value, str) and xml_problem(value):
            # A character XML forbids would make every SOAP notification of this record unsendable.
            raise invalid(f"{prefix}.{name}", str(xml_problem(value)))
        problem = value_problem(kind, value)
        if problem:  # a value Salesforce could not send is refused here, never when the envelope is built
            raise invalid(f"{prefix}.{name}", problem)
        if schema.salesforce_ids and kind == FieldType.id and isinstance(value, str):
            id_problem = ids.salesforce_id_problem(value)
            if id_problem:
                raise invalid(f"{prefix}.{name}", f"{id_problem} ({schema.name} ids are Salesforce-form)")
        fields[name] = canonical_value(kind, value)
    return fields
