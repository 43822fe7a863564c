"""Objects: the record types the service knows, their fields, and who uses them."""

from __future__ import annotations

from collections.abc import Mapping

from chalice.app import Response

from chalicelib.api.http import parse, sorted_page, versioned_reply, with_body_version
from chalicelib.api.routing import Routes
from chalicelib.api.versioned import conflict, delete_unused, filters, versioned
from chalicelib.core.errors import ApiError, invalid, mismatch, require
from chalicelib.core.versions import expected_version, stale
from chalicelib.models.definitions import OutboundMessageDefinition, Rule, comparison_fields
from chalicelib.models.records import OBJECT_NAME, ObjectSchema, ObjectSchemaInput
from chalicelib.platform.settings import get_settings
from chalicelib.stores import config as config_store

routes = Routes(__name__)


def checked_schema(name: str, raw: bytes | None) -> ObjectSchema:
    if not OBJECT_NAME.match(name):
        raise invalid("name", "must start with a letter and hold letters, digits, underscores (at most 80)")
    data = parse(ObjectSchemaInput, raw)
    if data.name is not None and data.name != name:
        raise mismatch("name", f"must match the path ({name}) when given")
    if data.table is not None and data.table.name == get_settings().records_table:
        raise invalid("table.name", "is the stack's own records table: write its records through /records")
    return ObjectSchema(name=name, fields=data.fields, salesforce_ids=data.salesforce_ids, events=data.events,
                        table=data.table)


def get_schema(name: str) -> ObjectSchema:
    return require(config_store.get(config_store.SCHEMA, name, ObjectSchema), "object", name)


@routes.management("/objects", methods=["GET"], name="list_objects")
def list_object_schemas(query: Mapping[str, str] | None) -> Response:
    wanted = filters(query, set())
    found = list(config_store.list_all(config_store.SCHEMA, ObjectSchema))
    return sorted_page(found, wanted, lambda o: o.name, "objects")


@routes.management("/objects/{name}", methods=["GET"], name="get_object")
def get_object_schema(name: str) -> Response:
    schema, version = versioned(config_store.SCHEMA, name, ObjectSchema, "object")
    return versioned_reply(200, schema, version)


@routes.management("/objects/{name}", methods=["PUT"], name="put_object")
def put_object_schema(name: str, raw: bytes | None, if_match: str | None) -> Response:
    """Create or replace (PUT); over an existing one, If-Match applies as for any update. Records already
    stored keep their values; a field a definition or rule uses cannot be dropped (409 naming them)."""
    raw, if_match = with_body_version(raw, if_match)
    schema = checked_schema(name, raw)
    current = config_store.get_versioned(config_store.SCHEMA, name, ObjectSchema)
    if current is None:
        if if_match and if_match.strip() != "*":
            raise ApiError(412, "precondition_failed", f"If-Match: object {name} does not exist",
                           [{"field": "If-Match", "message": "no such object"}])
        try:
            config_store.put(config_store.SCHEMA, name, schema, new=True)
        except config_store.AlreadyExists as exc:
            raise stale(exc) from exc
        return versioned_reply(200, schema, 1)
    expected = expected_version(if_match, current[1])
    dropped = set(current[0].fields) - set(schema.fields)
    users = [f"{label} ({used})" for label, used in _object_users(name) if set(used.split(", ")) & dropped]
    if users:
        raise conflict("fields", "fields still used by", users)
    try:
        return versioned_reply(200, schema, config_store.put_versioned(config_store.SCHEMA, name, schema, expected))
    except config_store.Stale as exc:
        raise stale(exc) from exc


def _object_users(name: str) -> list[tuple[str, str]]:
    """(who, the fields it uses) for each definition and rule on the object."""
    users = [(f"outbound message {d.name} {d.id}", ", ".join(d.fields))
             for d in config_store.list_all(config_store.DEFINITION, OutboundMessageDefinition) if d.object == name]
    users += [(f"rule {r.name} {r.id}", ", ".join(sorted(_rule_fields(r))) or "-")
              for r in config_store.list_all(config_store.RULE, Rule) if r.object == name]
    return users


def _rule_fields(rule: Rule) -> set[str]:
    fields = comparison_fields(rule.criteria)
    if rule.recipients is not None:
        fields |= set(rule.recipients.via)
        if rule.recipients.case_name_field:
            fields.add(rule.recipients.case_name_field)
    return fields


@routes.management("/objects/{name}", methods=["DELETE"], name="delete_object")
def delete_object_schema(name: str, if_match: str | None) -> Response:
    """Refused while a definition or rule is on it (409 naming them); its records stay in the records table."""
    return delete_unused(config_store.SCHEMA, name, ObjectSchema, "object", if_match,
                         lambda: [label for label, _ in _object_users(name)], "object", "the object is used by")

