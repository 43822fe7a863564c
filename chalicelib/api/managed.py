"""Objects, records, templates and outbound configurations, fully managed: list, read, update, delete.

Optimistic concurrency as HTTP has it: a read answers with `ETag: "<version>"` (and `version` in the body); an
update or delete that sends `If-Match` with an older version is refused with 412 and changes nothing. Without
If-Match the write applies to the version it read a moment before (still conditional: two racing writers never
both win silently). A delete is refused with 409 naming what still refers to the resource. An update applies to
messages created afterwards; a message keeps what it was rendered from (its payload is rendered at creation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from chalice.app import Response
from pydantic import BaseModel

from chalicelib.api import catalog
from chalicelib.api.http import (
    known_parameters,
    page_limit,
    parse,
    reply,
    sorted_page,
    versioned_reply,
    with_body_version,
)
from chalicelib.core.errors import ApiError, invalid, mismatch, require, unknown
from chalicelib.core.versions import expected_version, stale
from chalicelib.models.customer import ConfigurationInput, MessageTemplate, OutboundConfiguration, TemplateInput
from chalicelib.models.definitions import OutboundMessageDefinition, Rule, comparison_fields
from chalicelib.models.records import ObjectSchema
from chalicelib.platform.dynamo_codec import BadCursor
from chalicelib.stores import config as config_store
from chalicelib.stores import records as record_store
from chalicelib.stores import schedules as schedule_store

M = TypeVar("M", bound=BaseModel)


def _versioned(kind: str, key: str, model: type[M], what: str) -> tuple[M, int]:
    return require(config_store.get_versioned(kind, key, model), what, key)


def _delete_unused(kind: str, key: str, model: type[M], what: str, if_match: str | None,
                   users: Callable[[], list[str]], field: str, message: str) -> Response:
    """Delete at the version read (or If-Match's), unless something still needs it: 409 naming them."""
    _, version = _versioned(kind, key, model, what)
    expected = expected_version(if_match, version)
    found = users()
    if found:
        raise _conflict(field, message, found)
    try:
        config_store.delete_versioned(kind, key, expected)
    except config_store.Stale as exc:
        raise stale(exc) from exc
    return Response(body="", status_code=204)


def _filters(query: Mapping[str, str] | None, allowed: set[str]) -> dict[str, str]:
    return known_parameters(query, allowed | {"limit", "cursor"})


# --- templates -------------------------------------------------------------------------------------------------


def list_templates(query: Mapping[str, str] | None) -> Response:
    """Filters: channel_type, name (exact)."""
    wanted = _filters(query, {"channel_type", "name"})
    found = [t for t in config_store.list_all(config_store.TEMPLATE, MessageTemplate)
             if all(str(getattr(t, k)) == v for k, v in wanted.items() if k in {"channel_type", "name"})]
    return sorted_page(found, wanted, lambda t: f"{t.name}\x00{t.id}", "templates")


def get_template(template_id: str) -> Response:
    template, version = _versioned(config_store.TEMPLATE, template_id, MessageTemplate, "message template")
    return versioned_reply(200, template, version)


def update_template(template_id: str, raw: bytes | None, if_match: str | None) -> Response:
    """Full replacement; the channel type cannot change (configurations are bound to it)."""
    current, version = _versioned(config_store.TEMPLATE, template_id, MessageTemplate, "message template")
    raw, if_match = with_body_version(raw, if_match)
    expected = expected_version(if_match, version)
    data = parse(TemplateInput, raw)
    if data.channel_type != current.channel_type:
        raise mismatch("channel_type", f"cannot change after creation (this template is {current.channel_type})")
    template = catalog.checked_template(data, template_id)
    try:
        return versioned_reply(200, template, config_store.put_versioned(config_store.TEMPLATE, template_id, template,
                                                                       expected))
    except config_store.Stale as exc:
        raise stale(exc) from exc


def configurations_using(template_id: str) -> list[OutboundConfiguration]:
    return [c for c in config_store.list_all(config_store.CONFIGURATION, OutboundConfiguration)
            if c.template_id == template_id]


def _conflict(field: str, message: str, names: list[str]) -> ApiError:
    listed = ", ".join(names)
    return ApiError(409, "conflict", f"{field}: {message} {listed}", [{"field": field, "message": listed}])


def delete_template(template_id: str, if_match: str | None) -> Response:
    return _delete_unused(config_store.TEMPLATE, template_id, MessageTemplate, "message template", if_match,
                          lambda: [f"{c.name} ({c.id})" for c in configurations_using(template_id)],
                          "configurations", "the template is used by")


# --- outbound configurations -----------------------------------------------------------------------------------


def list_configurations(query: Mapping[str, str] | None) -> Response:
    """Filters: channel_type, channel, template_id, name (exact)."""
    wanted = _filters(query, {"channel_type", "channel", "template_id", "name"})
    found = [c for c in config_store.list_all(config_store.CONFIGURATION, OutboundConfiguration)
             if all(str(getattr(c, k)) == v for k, v in wanted.items()
                    if k in {"channel_type", "channel", "template_id", "name"})]
    return sorted_page(found, wanted, lambda c: f"{c.name}\x00{c.id}", "configurations")


def get_configuration(configuration_id: str) -> Response:
    configuration, version = _versioned(config_store.CONFIGURATION, configuration_id, OutboundConfiguration,
                                        "outbound configuration")
    return versioned_reply(200, configuration, version)


def update_configuration(configuration_id: str, raw: bytes | None, if_match: str | None) -> Response:
    current, version = _versioned(config_store.CONFIGURATION, configuration_id, OutboundConfiguration,
                                  "outbound configuration")
    raw, if_match = with_body_version(raw, if_match)
    expected = expected_version(if_match, version)
    data = parse(ConfigurationInput, raw)
    if data.channel_type != current.channel_type:
        raise mismatch("channel_type", f"cannot change after creation (this configuration is {current.channel_type})")
    template = config_store.get(config_store.TEMPLATE, data.template_id, MessageTemplate)
    if template is None:
        raise unknown("template_id", f"{data.template_id} does not exist")
    if template.channel_type != data.channel_type:
        raise mismatch("template_id", f"template is for {template.channel_type}, configuration is {data.channel_type}")
    catalog.check_fallback(data, configuration_id)
    configuration = OutboundConfiguration(id=configuration_id, **data.model_dump())
    try:
        new_version = config_store.put_versioned(config_store.CONFIGURATION, configuration_id, configuration, expected)
    except config_store.Stale as exc:
        raise stale(exc) from exc
    return versioned_reply(200, configuration, new_version)


def _referrers(configuration_id: str) -> list[str]:
    rules = [f"rule {r.name} ({r.id})" for r in config_store.list_all(config_store.RULE, Rule)
             if configuration_id in r.configuration_ids]
    schedules: list[Any] = []
    for state in ("active", "paused"):
        found, _ = schedule_store.page(100, None, configuration_id=configuration_id, state=state)
        schedules += found
    fallbacks = [f"configuration {c.name} ({c.id}) falls back to it"
                 for c in config_store.list_all(config_store.CONFIGURATION, OutboundConfiguration)
                 if any(step.configuration_id == configuration_id for step in c.fallback)]
    return rules + [f"schedule {s.id} ({s.state})" for s in schedules] + fallbacks


def delete_configuration(configuration_id: str, if_match: str | None) -> Response:
    return _delete_unused(config_store.CONFIGURATION, configuration_id, OutboundConfiguration,
                          "outbound configuration", if_match, lambda: _referrers(configuration_id),
                          "references", "the configuration is used by")


# --- objects (record schemas) ----------------------------------------------------------------------------------


def list_object_schemas(query: Mapping[str, str] | None) -> Response:
    wanted = _filters(query, set())
    found = list(config_store.list_all(config_store.SCHEMA, ObjectSchema))
    return sorted_page(found, wanted, lambda o: o.name, "objects")


def get_object_schema(name: str) -> Response:
    schema, version = _versioned(config_store.SCHEMA, name, ObjectSchema, "object")
    return versioned_reply(200, schema, version)


def put_object_schema(name: str, raw: bytes | None, if_match: str | None) -> Response:
    """Create or replace (PUT); over an existing one, If-Match applies as for any update. Records already
    stored keep their values; a field a definition or rule uses cannot be dropped (409 naming them)."""
    raw, if_match = with_body_version(raw, if_match)
    schema = catalog.checked_schema(name, raw)
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
        raise _conflict("fields", "fields still used by", users)
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


def delete_object_schema(name: str, if_match: str | None) -> Response:
    """Refused while a definition or rule is on it (409 naming them); its records stay in the records table."""
    return _delete_unused(config_store.SCHEMA, name, ObjectSchema, "object", if_match,
                          lambda: [label for label, _ in _object_users(name)], "object", "the object is used by")


# --- records ---------------------------------------------------------------------------------------------------


def list_records(object_type: str, query: Mapping[str, str] | None) -> Response:
    """An object's records in id order (`limit` up to 100, `cursor`)."""
    wanted = _filters(query, set())
    _versioned(config_store.SCHEMA, object_type, ObjectSchema, "object")
    try:
        records, cursor = record_store.page(object_type, page_limit(wanted.get("limit"), 100), wanted.get("cursor"))
    except BadCursor as exc:
        raise invalid("cursor", str(exc)) from exc
    return reply(200, {"object_type": object_type, "records": records, "cursor": cursor})


def delete_record(object_type: str, record_id: str) -> Response:
    """Removes the record; no rule fires on a removal, and messages already built from it stay as they are."""
    if not record_store.delete(object_type, record_id):
        raise ApiError(404, "not_found", f"{object_type} record {record_id} does not exist")
    return Response(body="", status_code=204)
