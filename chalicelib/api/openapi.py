"""The API's OpenAPI 3.1 document, built from the routes Chalice knows and the pydantic models that validate
their bodies, so it cannot drift from what the code accepts (a test checks every route is in it)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from chalicelib.api.definitions import RotateRequest
from chalicelib.api.delivery_queue import RetryAll
from chalicelib.api.messages import RedriveRequest, RetryRequest
from chalicelib.api.webhooks import TeleSignReport, TwilioInbound, TwilioStatus
from chalicelib.models.consent import ConsentInput
from chalicelib.models.customer import (
    ConfigurationInput,
    InstantSendRequest,
    PreviewRequest,
    TemplateInput,
)
from chalicelib.models.definitions import DefinitionInput, RuleInput, stage_secret_reference
from chalicelib.models.messages import MessageRecord, MessageView
from chalicelib.models.records import OBJECT_NAME, RECORD_ID, ObjectSchemaInput, RecordInput
from chalicelib.models.replays import Replay, ReplayInput
from chalicelib.models.schedules import Schedule, ScheduleInput, SchedulePatch
from chalicelib.platform.settings import CHANNELS

# view name -> (request model, success status, response model or None)
OPERATIONS: dict[str, tuple[type[BaseModel] | None, int, type[BaseModel] | None]] = {
    "put_object": (ObjectSchemaInput, 200, None),  # the schema plus its version
    "get_object": (None, 200, None),
    "delete_object": (None, 204, None),
    "delete_record": (None, 204, None),
    "delete_conversation": (None, 204, None),
    "update_rule": (RuleInput, 200, None),
    "put_record": (RecordInput, 200, None),
    "create_outbound_message": (DefinitionInput, 201, None),
    "update_outbound_message": (DefinitionInput, 200, None),
    "retry_outbound_queue": (RetryAll, 202, None),
    "rotate_outbound_message_secret": (RotateRequest, 200, None),
    "outbound_message_schema": (None, 200, None),
    "resume_endpoint": (None, 200, None),
    "create_replay": (ReplayInput, 202, Replay),
    "get_replay": (None, 200, Replay),
    "retry_outbound_queue_entry": (None, 202, None),
    "delete_outbound_queue_entry": (None, 204, None),
    "delete_outbound_message": (None, 204, None),
    "create_rule": (RuleInput, 201, None),
    "delete_rule": (None, 204, None),
    "create_template": (TemplateInput, 201, None),
    "preview_template": (PreviewRequest, 200, None),
    "create_configuration": (ConfigurationInput, 201, None),
    "update_template": (TemplateInput, 200, None),
    "delete_template": (None, 204, None),
    "update_configuration": (ConfigurationInput, 200, None),
    "delete_configuration": (None, 204, None),
    "create_send": (InstantSendRequest, 202, None),
    "create_schedule": (ScheduleInput, 201, Schedule),
    "get_schedule": (None, 200, Schedule),
    "patch_schedule": (SchedulePatch, 200, Schedule),
    "delete_schedule": (None, 204, None),
    "delete_schedule_failure": (None, 204, None),
    "get_message": (None, 200, MessageView),
    "retry_message": (RetryRequest, 202, MessageRecord),
    "delete_message": (None, 200, MessageRecord),
    "redrive_dlq": (RedriveRequest, 200, None),
    "twilio_status": (TwilioStatus, 200, None),
    "telesign_status": (TeleSignReport, 200, None),
    "twilio_inbound": (TwilioInbound, 200, None),
    "put_consent": (ConsentInput, 200, None),
    "delete_consent": (None, 200, None),
    "erase_contact": (None, 200, None),
}
OPTIONAL_BODIES = {"rotate_outbound_message_secret"}  # no body: every setting at its default
XML_ONLY = {"reference_listener"}
XML_ANSWERS = {"outbound_message_wsdl", "twilio_inbound", "reference_listener"}
HTML_ANSWERS = {"console"}
CSV_ANSWERS = {"export_consent"}
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "channel": {"type": "string", "enum": list(CHANNELS)},
    "name": {"type": "string", "pattern": OBJECT_NAME.pattern},
    "object_type": {"type": "string", "pattern": OBJECT_NAME.pattern},
    "record_id": {"type": "string", "pattern": RECORD_ID},
    "address": {"type": "string", "description": "a phone number (E.164) or an X @handle or numeric user id"},
}
# Rules a JSON Schema cannot state (they depend on another field's value, another resource, or what a template or
# a phone number means): a request breaking one is refused with 400 naming the field, and the document says so.
SEMANTIC_RULES: dict[str, list[str]] = {
    "list_conversations": ["the contact query parameter is required: a phone number, an X @handle or user id"],
    "create_outbound_message": ["a client_certificate needs an https:// endpoint_url",
                                "endpoint_url is HTTPS to a public address (except on the local stage)"],
    "update_outbound_message": ["as POST /outbound-messages",
                                "If-Match, when sent, names the current version (412 otherwise)"],
    "create_replay": ["exactly one of definition_id and configuration_id",
                      "until not before since; a window of at most 14 days within the retention period",
                      "mode all only for a definition"],
    "create_template": ["bodies must include default_locale",
                        "each body must compile as a message template (jinja2 syntax, no include/macro/~)"],
    "update_template": ["as POST /templates", "the channel_type cannot change",
                        "If-Match, when sent, names the current version (412 otherwise)"],
    "update_configuration": ["template_id names an existing template of the same channel_type",
                             "the channel_type cannot change", "If-Match, when sent, names the current version"],
    "create_send": ["tocontactid is an E.164 number (sms, whatsapp) or an X @handle or user id (twitter)",
                    "each contact must supply every value the template uses, and render within the channel's limit"],
    "preview_template": ["the contact must supply every value the template uses"],
    "create_schedule": ["as POST /sends for the contacts", "a cron range ascends (5-3 is refused) and fires "
                        "within five years", "at lies in the future and exists in timezone (not in a DST gap)",
                        "timezone is an IANA time zone"],
    "patch_schedule": ["as POST /schedules for what it changes", "a one-time schedule that fired cannot change"],
    "reference_listener": ["the body is a Salesforce notifications SOAP message"],
    "put_consent": ["address is a phone number (E.164, or national in the stage's region) or an X @handle or id"],
    "delete_consent": ["address as for PUT /consent/{address}"],
    "erase_contact": ["address as for PUT /consent/{address}"],
    "import_consent": ["a CSV whose first row names the columns: address, then any of scope, applies_to, status, "
                       "note; every row is checked before any is written (a bad row: rows.N.field)",
                       "at most 1,000,000 bytes (413) and 10,000 rows"],
    "put_record": ["each value fits its field's declared type: int an xsd:int, double finite (an integer only "
                   "if a double holds it exactly: 9007199254740993 is refused, not rounded), date yyyy-MM-dd, "
                   "dateTime ISO 8601 extended format with Z, +hh:mm (up to 14:00) or no zone (UTC)",
                   "when the object declares salesforce_ids, the record id and id-typed fields are 18-character "
                   "Salesforce ids with a valid case-safe suffix"],
}
ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "fields": {
            "type": "array",
            "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}},
        },
    },
}


def _closed(node: Any) -> Any:
    """pydantic states constrained dict keys as patternProperties; without additionalProperties: false a key
    matching no pattern would still be schema-valid, and the code refuses it."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _closed(value)
    elif isinstance(node, list):
        for value in node:
            _closed(value)
    return node


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = _closed(model.model_json_schema(ref_template="#/components/schemas/{model}"))
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _stage_specific(components: dict[str, Any], stage: str) -> None:
    """What only the running stage knows: the prefix its client-certificate references must have."""
    definition = components.get("DefinitionInput", {}).get("properties", {}).get("client_certificate", {})
    for variant in definition.get("anyOf", []):
        if variant.get("type") == "string":
            variant["pattern"] = stage_secret_reference(stage)


def document(routes: dict[str, dict[str, Any]], server_url: str = "/", stage: str = "local") -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR}
    paths: dict[str, Any] = {}
    for path, methods in sorted(routes.items()):
        for method, entry in sorted(methods.items()):
            request, success, response = OPERATIONS.get(entry.view_name, (None, 200, None))
            operation: dict[str, Any] = {
                "operationId": entry.view_name,
                "summary": (entry.view_function.__doc__ or entry.view_name.replace("_", " ")).strip().split("\n")[0],
                **({"description": "Also refused with 400 (rules this document cannot state): "
                    + "; ".join(SEMANTIC_RULES[entry.view_name]) + "."} if entry.view_name in SEMANTIC_RULES else {}),
                "responses": {
                    str(success): _success(entry.view_name, success, response, components),
                    "400": _error("bad input: the fields at fault are named"),
                    "404": _error("not found, or the body names something that does not exist (the field named)"),
                },
            }
            if method != "GET":
                operation["responses"]["409"] = _error(
                    "does not fit what exists (an object's declared fields, a template's channel): the field named"
                )
            if entry.view_name == "create_send":
                operation["responses"]["429"] = _error("the org's hourly limit; Retry-After says when")
            parameters = [
                {"name": name, "in": "path", "required": True, "schema": PATH_SCHEMAS.get(name, {"type": "string"})}
                for name in re.findall(r"{(\w+)}", path)
            ]
            if parameters:
                operation["parameters"] = parameters
            content_type = entry.content_types[0] if entry.content_types else "application/json"
            body_schema = _schema(request, components) if request is not None else None
            if body_schema is None and content_type != "application/json":
                body_schema = {"type": "string"}  # the SOAP listener: an XML document
            if body_schema is not None:
                operation["requestBody"] = {"required": entry.view_name not in OPTIONAL_BODIES,
                                            "content": {content_type: {"schema": body_schema}}}
                operation["responses"]["415"] = _error("a body of another content type")
            if entry.view_name.startswith("twilio_"):
                operation["responses"]["403"] = _error("X-Twilio-Signature missing or wrong")
            if entry.view_name.startswith("telesign_"):
                operation["responses"]["403"] = _error("Authorization is not TeleSign's signature of the body")
            if entry.view_name in XML_ONLY:  # answers every outcome with a SOAP document
                for answer in operation["responses"].values():
                    answer["content"] = {"text/xml": {"schema": {"type": "string"}}}
            if entry.authorizer is not None:
                operation["security"] = [{"apiKey": []}]
                operation["responses"]["401"] = _error("no API key")
                operation["responses"]["403"] = _error("wrong API key")
            paths.setdefault(path, {})[method.lower()] = operation
    _stage_specific(components, stage)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Outbound", "version": "1", "description": "Outbound messaging: SOAP, SMS, WhatsApp, X."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "a stage API key"}},
        },
    }


def _success(
    view_name: str, status: int, response: type[BaseModel] | None, components: dict[str, Any]
) -> dict[str, Any]:
    if status == 204:
        return {"description": "done"}
    if view_name in XML_ANSWERS:
        return {"description": "done", "content": {"text/xml": {"schema": {"type": "string"}}}}
    if view_name in CSV_ANSWERS:
        return {"description": "done", "content": {"text/csv": {"schema": {"type": "string"}}}}
    if view_name in HTML_ANSWERS:
        return {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}}
    schema = _schema(response, components) if response else {"type": "object"}
    return {"description": "done", "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
