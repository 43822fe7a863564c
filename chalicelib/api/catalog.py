"""Object schemas, records, outbound message definitions, rules, templates and configurations."""

from __future__ import annotations

from chalice import Response

from chalicelib import aws, config_store, ids
from chalicelib.api.http import parse, reply
from chalicelib.dynamo_codec import from_item, to_item
from chalicelib.errors import ApiError, invalid, not_found, require
from chalicelib.models.customer import (
    ConfigurationInput,
    MessageTemplate,
    OutboundConfiguration,
    TemplateInput,
)
from chalicelib.models.definitions import (
    DefinitionInput,
    OutboundMessageDefinition,
    Rule,
    RuleInput,
    comparison_fields,
)
from chalicelib.models.records import FIELD_NAME, OBJECT_NAME, ObjectSchema, RecordInput
from chalicelib.rendering import TemplateProblem, check_body
from chalicelib.settings import get_settings
from chalicelib.url_policy import EndpointRefused, check_url

CONTACT_NAMES = {"CustomerName", "CaseName"}
SENDABLE_CHANNELS = {"sms", "whatsapp"}


def put_schema(name: str, raw: bytes | None) -> Response:
    schema = parse(ObjectSchema, raw)
    if schema.name != name:
        raise invalid("name", f"must match the path ({name})")
    config_store.put(config_store.SCHEMA, name, schema)
    return reply(200, schema)


def get_schema(name: str) -> ObjectSchema:
    return require(config_store.get(config_store.SCHEMA, name, ObjectSchema), "object", name)


def put_record(object_type: str, record_id: str, raw: bytes | None) -> Response:
    if not OBJECT_NAME.match(object_type):
        raise invalid("object_type", "must start with a capital letter and hold letters, digits, underscores")
    if not record_id or len(record_id) > 64:
        raise invalid("id", "must be 1 to 64 characters")
    record = parse(RecordInput, raw)
    schema = get_schema(object_type)
    for name in record.fields:
        if not FIELD_NAME.match(name) or name in {"Id", "id", "object_type"}:
            raise invalid(f"fields.{name}", "is not a settable field name")
        if schema.field_type(name) is None:
            raise invalid(f"fields.{name}", f"is not a field of {object_type}")
    item = {**record.fields, "object_type": object_type, "id": record_id}
    aws.client("dynamodb").put_item(
        TableName=get_settings().records_table, Item=to_item({k: v for k, v in item.items() if v is not None})
    )
    return reply(200, {"object_type": object_type, "id": record_id, "fields": record.fields})


def get_record(object_type: str, record_id: str) -> Response:
    found = aws.client("dynamodb").get_item(
        TableName=get_settings().records_table, Key=to_item({"object_type": object_type, "id": record_id})
    )
    if "Item" not in found:
        raise not_found(f"{object_type} record", record_id)
    data = from_item(found["Item"])
    data.pop("object_type")
    return reply(200, {"object_type": object_type, "id": data.pop("id"), "fields": data})


def _check_definition(definition: DefinitionInput) -> None:
    try:
        check_url(definition.endpoint_url, allow_insecure=get_settings().allow_insecure_endpoints)
    except EndpointRefused as exc:
        raise invalid("endpoint_url", str(exc)) from exc
    schema = config_store.get(config_store.SCHEMA, definition.object, ObjectSchema)
    if schema is None:
        raise invalid("object", f"{definition.object} is not a known object (PUT /objects/{definition.object})")
    for index, name in enumerate(definition.fields):
        if schema.field_type(name) is None:
            raise invalid(f"fields.{index}", f"{name} is not a field of {definition.object}")


def create_definition(raw: bytes | None) -> Response:
    data = parse(DefinitionInput, raw)
    _check_definition(data)
    definition = OutboundMessageDefinition(id=ids.random_sf_id("04k"), **data.model_dump())
    try:
        config_store.put_unique(
            config_store.DEFINITION, definition.id, definition, (f"UNIQUE#{data.object}", data.unique_name)
        )
    except config_store.AlreadyExists as exc:
        raise ApiError(
            409,
            "conflict",
            f"unique_name: {data.unique_name} is already used on {data.object}",
            [{"field": "unique_name", "message": "already used on this object"}],
        ) from exc
    return reply(201, definition)


def get_definition(definition_id: str) -> OutboundMessageDefinition:
    found = config_store.get(config_store.DEFINITION, definition_id, OutboundMessageDefinition)
    return require(found, "outbound message", definition_id)


def create_rule(raw: bytes | None) -> Response:
    data = parse(RuleInput, raw)
    schema = config_store.get(config_store.SCHEMA, data.object, ObjectSchema)
    if schema is None:
        raise invalid("object", f"{data.object} is not a known object")
    for name in sorted(comparison_fields(data.criteria)):
        if schema.field_type(name) is None:
            raise invalid("criteria", f"{name} is not a field of {data.object}")
    for index, definition_id in enumerate(data.definition_ids):
        definition = config_store.get(config_store.DEFINITION, definition_id, OutboundMessageDefinition)
        if definition is None or definition.object != data.object:
            raise invalid(f"definition_ids.{index}", f"{definition_id} is not an outbound message on {data.object}")
    if data.configuration_ids:
        raise invalid("configuration_ids", "automated customer sends from rules are not implemented yet")
    rule = Rule(id=ids.random_sf_id("01Q"), **data.model_dump())
    config_store.put(config_store.RULE, rule.id, rule, new=True)
    return reply(201, rule)


def create_template(raw: bytes | None) -> Response:
    data = parse(TemplateInput, raw)
    for locale, body in data.bodies.items():
        try:
            check_body(locale, body)
        except TemplateProblem as exc:
            raise invalid(f"bodies.{locale}", f"line {exc.line}: {exc.reason}") from exc
    template = MessageTemplate(id=ids.random_id("tpl"), **data.model_dump())
    config_store.put(config_store.TEMPLATE, template.id, template, new=True)
    return reply(201, template)


def create_configuration(raw: bytes | None) -> Response:
    data = parse(ConfigurationInput, raw)
    if data.channel_type not in SENDABLE_CHANNELS:
        raise invalid("channel_type", f"{data.channel_type} sending is not implemented yet (sms, whatsapp)")
    template = config_store.get(config_store.TEMPLATE, data.template_id, MessageTemplate)
    if template is None:
        raise invalid("template_id", f"{data.template_id} does not exist")
    if template.channel_type != data.channel_type:
        raise invalid("template_id", f"template is for {template.channel_type}, configuration is {data.channel_type}")
    configuration = OutboundConfiguration(id=ids.random_id("cfg"), **data.model_dump())
    config_store.put(config_store.CONFIGURATION, configuration.id, configuration, new=True)
    return reply(201, configuration)
