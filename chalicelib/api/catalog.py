"""Object schemas, records, message templates and outbound configurations."""

from __future__ import annotations

import random
import time
from typing import Any

from chalice.app import Response
from pydantic import BaseModel

from chalicelib.api.http import parse, reply, versioned_reply
from chalicelib.core import clock, ids, record_checks, sms_segments, whatsapp
from chalicelib.core.errors import ApiError, invalid, mismatch, not_found, require, unknown
from chalicelib.core.record_checks import RECORD_ID_FORM
from chalicelib.core.rendering import RenderFailed, TemplateProblem, check_body, pick_body, render
from chalicelib.core.versions import expected_version, stale
from chalicelib.models.customer import (
    MAX_BODY,
    ConfigurationInput,
    MessageTemplate,
    OutboundConfiguration,
    PreviewRequest,
    TemplateInput,
)
from chalicelib.models.records import (
    OBJECT_NAME,
    ObjectSchema,
    ObjectSchemaInput,
    RecordInput,
)
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import from_item, to_item
from chalicelib.platform.settings import get_settings
from chalicelib.stores import config as config_store
from chalicelib.stores import contact_windows
from chalicelib.stores import records as record_store
from chalicelib.triggers.customer import contact_address, content_for


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


WRITE_ATTEMPTS = 25


def get_schema(name: str) -> ObjectSchema:
    return require(config_store.get(config_store.SCHEMA, name, ObjectSchema), "object", name)


def put_record(object_type: str, record_id: str, raw: bytes | None, if_match: str | None = None) -> Response:
    """The record replaced whole, one version up (If-Match: only over that version, 412 otherwise); each
    version is what latest-wins definitions order by."""
    if not OBJECT_NAME.match(object_type):
        raise invalid("object_type", "must start with a letter and hold letters, digits, underscores (at most 80)")
    if not RECORD_ID_FORM.match(record_id):
        raise invalid("id", "must be 1 to 64 letters, digits or . _ : @ + -")
    record = parse(RecordInput, raw)
    schema = get_schema(object_type)
    record_checks.check_id(schema, record_id)
    fields = record_checks.checked_fields(schema, dict(record.fields))
    plain = {k: v for k, v in {**fields, "object_type": object_type, "id": record_id}.items() if v is not None}
    if message := record_store.oversize(plain):
        raise ApiError(413, "too_large", f"fields: {message}", [{"field": "fields", "message": message}])
    for attempt in range(WRITE_ATTEMPTS):  # each round of racing writers has one winner
        if attempt:
            time.sleep(random.uniform(0, 0.01 * attempt))  # noqa: S311 - jitter, not security
        current = record_store.current_version(object_type, record_id)
        expected = expected_version(if_match, current) if if_match else current
        try:
            version = record_store.put(plain, expected)
            break
        except record_store.Stale as exc:
            if if_match:
                raise stale(exc) from exc
    else:
        raise ApiError(409, "conflict", "id: the record is being written by others; try again",
                       [{"field": "id", "message": "written concurrently"}])
    return versioned_reply(200, RecordView(object_type=object_type, id=record_id, fields=fields), version)


def get_record(object_type: str, record_id: str) -> Response:
    found = aws.client("dynamodb").get_item(
        TableName=get_settings().records_table, Key=to_item({"object_type": object_type, "id": record_id})
    )
    if "Item" not in found:
        raise not_found(f"{object_type} record", record_id)
    data = from_item(found["Item"])
    data.pop("object_type")
    version = int(data.pop(record_store.VERSION, 0))
    shown = {k: v for k, v in data.items() if k != "id" and not record_store.internal(k)}
    return versioned_reply(200, RecordView(object_type=object_type, id=str(data["id"]), fields=shown), version)


class RecordView(BaseModel):
    object_type: str
    id: str
    fields: dict[str, Any]


def create_template(raw: bytes | None) -> Response:
    template = checked_template(parse(TemplateInput, raw), ids.random_id("tpl"))
    config_store.put(config_store.TEMPLATE, template.id, template, new=True)
    return reply(201, template)


def checked_template(data: TemplateInput, template_id: str) -> MessageTemplate:
    """Every body and content variable compiles (a 400 naming the locale otherwise), with the SMS warnings."""
    for locale, body in data.bodies.items():
        try:
            check_body(locale, body)
        except TemplateProblem as exc:
            raise invalid(f"bodies.{locale}", f"line {exc.line}: {exc.reason}") from exc
    if data.content and data.channel_type != "whatsapp":
        raise invalid("content", "content templates are for whatsapp templates only")
    for locale, content in data.content.items():
        for key, expression in content.variables.items():
            try:
                check_body(locale, expression)
            except TemplateProblem as exc:
                raise invalid(f"content.{locale}.variables.{key}", exc.reason) from exc
    warnings: dict[str, str] = {}
    if data.channel_type == "sms":
        warnings = {locale: w for locale, body in data.bodies.items() if (w := sms_segments.template_warning(body))}
    return MessageTemplate(id=template_id, warnings=warnings, **data.model_dump())


def preview_template(template_id: str, raw: bytes | None) -> Response:
    """Render for one contact exactly as a send would, without storing or sending anything."""
    template = require(
        config_store.get(config_store.TEMPLATE, template_id, MessageTemplate), "message template", template_id
    )
    request = parse(PreviewRequest, raw)
    locale = request.locale or request.contact.locale
    chosen, _ = pick_body(template, locale)
    try:
        text = render(template, locale, request.contact.template_values(), MAX_BODY[template.channel_type])
    except RenderFailed as exc:
        raise invalid("contact", f"template cannot be filled: {exc}") from exc
    answer: dict[str, object] = {"template_id": template_id, "locale": chosen, "body": text, "characters": len(text)}
    if template.channel_type == "sms":  # what the SMS costs: its encoding and segments
        answer |= sms_segments.analyze(text).as_dict()
    if template.channel_type == "whatsapp":
        answer |= _whatsapp_preview(template, request)
    return reply(200, answer)


def _whatsapp_preview(template: MessageTemplate, request: PreviewRequest) -> dict[str, object]:
    """Which form the contact would get: free text in the 24-hour window, the content template outside it.
    The window is known only for a sending number (`channel`); without one both cases are answered."""
    contact = request.contact.model_copy(update={"locale": request.locale or request.contact.locale})
    try:
        sid, variables = content_for(template, contact, 0)
        address = contact_address("whatsapp", contact.tocontactid, 0)
    except ApiError as exc:  # named as in a send; here the field is the preview's one contact
        raise invalid(exc.fields[0]["field"].replace("contacts.0", "contact", 1), exc.fields[0]["message"]) from exc
    forced = bool(contact.sendastemplate)
    answer: dict[str, object] = {
        "content_sid": sid,
        "content_variables": variables,
        "form_inside_window": whatsapp.form(clock.now(), clock.now(), sid is not None, forced),
        "form_outside_window": whatsapp.form(None, clock.now(), sid is not None, forced),
    }
    if request.channel:
        last = contact_windows.last_inbound("whatsapp", request.channel, address)
        answer |= {"window_open": whatsapp.window_open(last, clock.now()),
                   "last_inbound": last.isoformat() if last else None,
                   "form": whatsapp.form(last, clock.now(), sid is not None, forced)}
    return answer


def check_fallback(data: ConfigurationInput, own_id: str) -> None:
    """Each step names another existing configuration, once; a step's own fallback list is not followed (the
    chain is the one the first configuration names)."""
    seen: set[str] = set()
    for index, step in enumerate(data.fallback):
        field = f"fallback.{index}.configuration_id"
        if step.configuration_id == own_id or step.configuration_id in seen:
            raise mismatch(field, "a chain names each other configuration at most once, and never itself")
        seen.add(step.configuration_id)
        if config_store.get(config_store.CONFIGURATION, step.configuration_id, OutboundConfiguration) is None:
            raise unknown(field, f"{step.configuration_id} is not an outbound configuration")


def create_configuration(raw: bytes | None) -> Response:
    data = parse(ConfigurationInput, raw)
    template = config_store.get(config_store.TEMPLATE, data.template_id, MessageTemplate)
    if template is None:
        raise unknown("template_id", f"{data.template_id} does not exist")
    if template.channel_type != data.channel_type:
        raise mismatch("template_id", f"template is for {template.channel_type}, configuration is {data.channel_type}")
    configuration_id = ids.random_id("cfg")
    check_fallback(data, configuration_id)
    configuration = OutboundConfiguration(id=configuration_id, **data.model_dump())
    config_store.put(config_store.CONFIGURATION, configuration.id, configuration, new=True)
    return reply(201, configuration)
