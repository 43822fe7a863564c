"""Rules: which record changes fire which outbound messages and customer sends."""

from __future__ import annotations

from chalice.app import Response

from chalicelib.api.http import parse, reply, sorted_page, versioned_reply
from chalicelib.api.routing import Routes
from chalicelib.api.versioned import replace, versioned
from chalicelib.core import ids
from chalicelib.core.errors import invalid, mismatch, unknown
from chalicelib.core.versions import expected_version, stale
from chalicelib.models.customer import OutboundConfiguration
from chalicelib.models.definitions import OutboundMessageDefinition, Recipients, Rule, RuleInput, comparison_fields
from chalicelib.models.records import ObjectSchema
from chalicelib.stores import config as config_store

routes = Routes(__name__)


@routes.management("/rules", methods=["POST"])
def create_rule(raw: bytes | None) -> Response:
    rule = checked_rule(parse(RuleInput, raw), ids.random_sf_id("01Q"))
    config_store.put(config_store.RULE, rule.id, rule, new=True)
    return reply(201, rule)


def checked_rule(data: RuleInput, rule_id: str) -> Rule:
    """The object, the fields its criteria compare, the definitions and configurations it fires all exist."""
    schema = config_store.get(config_store.SCHEMA, data.object, ObjectSchema)
    if schema is None:
        raise unknown("object", f"{data.object} is not a known object")
    for name in sorted(comparison_fields(data.criteria)):
        if schema.field_type(name) is None:
            raise mismatch("criteria", f"{name} is not a field of {data.object}")
    for index, definition_id in enumerate(data.definition_ids):
        definition = config_store.get(config_store.DEFINITION, definition_id, OutboundMessageDefinition)
        if definition is None:
            raise unknown(f"definition_ids.{index}", f"{definition_id} is not an outbound message")
        if definition.object != data.object:
            raise mismatch(f"definition_ids.{index}", f"{definition_id} is an outbound message on {definition.object}")
    for index, configuration_id in enumerate(data.configuration_ids):
        if config_store.get(config_store.CONFIGURATION, configuration_id, OutboundConfiguration) is None:
            raise unknown(f"configuration_ids.{index}", f"{configuration_id} is not an outbound configuration")
    if data.configuration_ids:
        _check_recipients(data.recipients, schema)
    return Rule(id=rule_id, **data.model_dump())


def _check_recipients(recipients: Recipients | None, schema: ObjectSchema) -> None:
    if recipients is None:
        raise invalid("recipients", "required when the rule fires customer sends (configuration_ids)")
    for index, name in enumerate(recipients.via):
        if schema.field_type(name) is None:
            raise mismatch(f"recipients.via.{index}", f"{name} is not a field of {schema.name}")
    if recipients.case_name_field and schema.field_type(recipients.case_name_field) is None:
        raise mismatch("recipients.case_name_field", f"{recipients.case_name_field} is not a field of {schema.name}")
    contact = config_store.get(config_store.SCHEMA, recipients.contact_object, ObjectSchema)
    if contact is None:
        raise unknown("recipients.contact_object", f"{recipients.contact_object} is not a known object")
    for attribute in ("address_field", "name_field", "locale_field", "optin_field"):
        name = getattr(recipients, attribute)
        if name and contact.field_type(name) is None:
            raise mismatch(f"recipients.{attribute}", f"{name} is not a field of {contact.name}")


@routes.management("/rules", methods=["GET"])
def list_rules(query: dict[str, str] | None) -> Response:
    object_name = (query or {}).get("object")
    found = [
        r for r in config_store.list_all(config_store.RULE, Rule) if object_name is None or r.object == object_name
    ]
    return sorted_page(found, query or {}, lambda r: f"{r.object}\x00{r.name}\x00{r.id}", "rules")


@routes.management("/rules/{rule_id}", methods=["GET"])
def get_rule(rule_id: str) -> Response:
    rule, version = versioned(config_store.RULE, rule_id, Rule, "rule")
    return versioned_reply(200, rule, version)


@routes.management("/rules/{rule_id}", methods=["PUT"])
def update_rule(rule_id: str, raw: bytes | None, if_match: str | None) -> Response:
    """Full replacement, checked as a new rule; it applies to record changes from then on."""
    return replace(config_store.RULE, rule_id, Rule, "rule", raw, if_match, RuleInput, "object", "this rule is on",
                   checked_rule)


@routes.management("/rules/{rule_id}", methods=["DELETE"])
def delete_rule(rule_id: str, if_match: str | None = None) -> Response:
    _, version = versioned(config_store.RULE, rule_id, Rule, "rule")
    try:
        config_store.delete_versioned(config_store.RULE, rule_id, expected_version(if_match, version))
    except config_store.Stale as exc:
        raise stale(exc) from exc
    return Response(body="", status_code=204)

