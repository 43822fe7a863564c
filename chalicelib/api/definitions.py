"""Outbound message definitions (create, read, update, list per object, delete, WSDL) and workflow rules."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from chalice.app import Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.http import parse, reply, sorted_page, versioned_reply, with_body_version
from chalicelib.api.routing import Routes
from chalicelib.core import clock, ids, json_notifications
from chalicelib.core.errors import ApiError, invalid, mismatch, require, unknown
from chalicelib.core.url_policy import EndpointRefused, check_url
from chalicelib.core.versions import expected_version, stale
from chalicelib.models.definitions import DefinitionInput, OutboundMessageDefinition, Rule
from chalicelib.models.records import OBJECT_NAME, ObjectSchema
from chalicelib.platform.logs import log
from chalicelib.platform.secrets import reference_problem
from chalicelib.platform.settings import get_settings
from chalicelib.soap.wsdl import build_wsdl
from chalicelib.stores import config as config_store
from chalicelib.stores import signing_secrets

routes = Routes(__name__)


def _marker(definition: DefinitionInput) -> tuple[str, str]:
    return f"UNIQUE#{definition.object}", definition.unique_name


def _name_taken(data: DefinitionInput) -> ApiError:
    return ApiError(
        409,
        "conflict",
        f"unique_name: {data.unique_name} is already used on {data.object}",
        [{"field": "unique_name", "message": "already used on this object"}],
    )


def _check(definition: DefinitionInput) -> None:
    try:
        check_url(definition.endpoint_url, allow_insecure=get_settings().allow_insecure_endpoints)
    except EndpointRefused as exc:
        raise invalid("endpoint_url", str(exc)) from exc
    if definition.client_certificate is not None:
        problem = reference_problem(definition.client_certificate, get_settings().stage)
        if problem:
            raise invalid("client_certificate", problem)
        if not definition.endpoint_url.startswith("https://"):
            raise invalid("client_certificate", "a client certificate needs an https:// endpoint_url")
    schema = config_store.get(config_store.SCHEMA, definition.object, ObjectSchema)
    if schema is None:
        raise unknown("object", f"{definition.object} is not a known object (PUT /objects/{definition.object})")
    for index, name in enumerate(definition.fields):
        if schema.field_type(name) is None:
            raise mismatch(f"fields.{index}", f"{name} is not a field of {definition.object}")


def get_definition(definition_id: str) -> OutboundMessageDefinition:
    found = config_store.get(config_store.DEFINITION, definition_id, OutboundMessageDefinition)
    return require(found, "outbound message", definition_id)


@routes.management("/outbound-messages", methods=["POST"], name="create_outbound_message")
def create_definition(raw: bytes | None) -> Response:
    """A JSON definition's signing secret is made first and shown once, in this answer (`signing_secret`)."""
    data = parse(DefinitionInput, raw)
    _check(data)
    definition = OutboundMessageDefinition(id=ids.random_sf_id("04k"), **data.model_dump())
    secret = signing_secrets.create(definition.id) if definition.format == "json" else ""
    try:
        config_store.put_unique(config_store.DEFINITION, definition.id, definition, _marker(data))
    except config_store.AlreadyExists as exc:
        if secret:
            signing_secrets.delete(definition.id)
        raise _name_taken(data) from exc
    return reply(201, _with_secret(definition.model_dump(mode="json"), secret))


def _with_secret(body: dict[str, Any], secret: str) -> dict[str, Any]:
    return {**body, "signing_secret": secret} if secret else body


def _versioned_definition(definition_id: str) -> tuple[OutboundMessageDefinition, int]:
    return require(config_store.get_versioned(config_store.DEFINITION, definition_id, OutboundMessageDefinition),
                   "outbound message", definition_id)


@routes.management("/outbound-messages/{definition_id}", methods=["GET"], name="get_outbound_message")
def read_definition(definition_id: str) -> Response:
    current, version = _versioned_definition(definition_id)
    return versioned_reply(200, current, version)


@routes.management("/outbound-messages/{definition_id}", methods=["PUT"], name="update_outbound_message")
def update_definition(definition_id: str, raw: bytes | None, if_match: str | None = None) -> Response:
    """Full replacement (If-Match: only over that version). As in Salesforce, the object cannot change: rules
    and the WSDL are bound to it."""
    current, version = _versioned_definition(definition_id)
    raw, if_match = with_body_version(raw, if_match)
    expected = expected_version(if_match, version)
    data = parse(DefinitionInput, raw)
    if data.object != current.object:
        raise mismatch("object", f"cannot change after creation (this outbound message is on {current.object})")
    _check(data)
    updated = OutboundMessageDefinition(id=definition_id, **data.model_dump())
    try:
        new_version = config_store.put_unique(
            config_store.DEFINITION, definition_id, updated, _marker(data), previous=_marker(current),
            expected=expected,
        )
    except config_store.Stale as exc:
        raise stale(exc) from exc
    except config_store.AlreadyExists as exc:
        raise _name_taken(data) from exc
    # Switched to JSON: a secret is made (and shown once); one made before is kept and not shown.
    secret = signing_secrets.create(definition_id) if updated.format == "json" else ""
    answer = versioned_reply(200, updated, new_version)
    answer.body = _with_secret(answer.body, secret)
    return answer


@routes.management("/outbound-messages", methods=["GET"], name="list_outbound_messages")
def list_definitions(query: dict[str, str] | None) -> Response:
    object_name = (query or {}).get("object")
    if object_name is not None and not OBJECT_NAME.match(object_name):
        raise invalid("object", "must be an object name")
    found = [
        d
        for d in config_store.list_all(config_store.DEFINITION, OutboundMessageDefinition)
        if object_name is None or d.object == object_name
    ]
    return sorted_page(found, query or {}, lambda d: f"{d.object}\x00{d.name}\x00{d.id}", "outbound_messages")


def rules_using(definition_id: str) -> list[Rule]:
    return [r for r in config_store.list_all(config_store.RULE, Rule) if definition_id in r.definition_ids]


@routes.management("/outbound-messages/{definition_id}", methods=["DELETE"], name="delete_outbound_message")
def delete_definition(definition_id: str, if_match: str | None = None) -> Response:
    """Refused while a rule still fires it (Salesforce does the same); queued messages still get delivered."""
    current, version = _versioned_definition(definition_id)
    expected = expected_version(if_match, version)
    users = rules_using(definition_id)
    if users:
        names = ", ".join(f"{r.name} ({r.id})" for r in users)
        raise ApiError(
            409,
            "conflict",
            f"rules: the outbound message is used by {names}; remove it from those rules first",
            [{"field": "rules", "message": names}],
        )
    try:
        config_store.delete_unique(config_store.DEFINITION, definition_id, _marker(current), expected)
    except config_store.Stale as exc:
        raise stale(exc) from exc
    try:
        signing_secrets.delete(definition_id)  # queued JSON messages fail visibly unsigned rather than go out
    except Exception as exc:  # noqa: BLE001 - the definition is gone; an orphan parameter signs nothing
        log("definition.secret_left", logging.WARNING, definition_id=definition_id,
            error=f"{type(exc).__name__}: {exc}", parameter=signing_secrets.name(definition_id))
    return Response(body="", status_code=204)


class RotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_hours: float = Field(default=24.0, ge=0, le=168,
                                 description="how long the previous secret still signs beside the new one")


@routes.management("/outbound-messages/{definition_id}/rotate-secret", methods=["POST"],
                   name="rotate_outbound_message_secret")
def rotate_secret(definition_id: str, raw: bytes | None) -> Response:
    """A new signing secret, shown once; the previous one keeps signing beside it for `overlap_hours`, so a
    partner switches its verifier to the new one any time between `signs_from` and `previous_valid_until`."""
    definition = get_definition(definition_id)
    request = parse(RotateRequest, raw) if raw else RotateRequest()
    if definition.format != "json":
        raise mismatch("format", "only a JSON definition is signed; this one sends SOAP")
    now = clock.now()
    secret = signing_secrets.rotate(definition_id, now, timedelta(hours=request.overlap_hours))
    until = (now + timedelta(hours=request.overlap_hours)).isoformat().replace("+00:00", "Z")
    log("definition.secret_rotated", definition_id=definition_id, overlap_hours=request.overlap_hours)
    # Senders cache the secrets for CACHE_SECONDS: from `signs_from` on, every signature includes the new one.
    signs_from = (now + timedelta(seconds=signing_secrets.CACHE_SECONDS)).isoformat().replace("+00:00", "Z")
    return reply(200, {"signing_secret": secret, "signs_from": signs_from,
                       "previous_valid_until": until if request.overlap_hours else None})


@routes.management("/outbound-messages/{definition_id}/schema", methods=["GET"], name="outbound_message_schema")
def definition_schema(definition_id: str) -> Response:
    """The JSON Schema of the definition's JSON payloads, the counterpart of its WSDL."""
    definition = get_definition(definition_id)
    schema = config_store.get(config_store.SCHEMA, definition.object, ObjectSchema)
    described = {"id": definition.id, "unique_name": definition.unique_name, "object": definition.object}
    document = json_notifications.schema(definition.object, described, definition.field_types(schema))
    return reply(200, document)


@routes.management("/outbound-messages/{definition_id}/wsdl", methods=["GET"], name="outbound_message_wsdl")
def definition_wsdl(definition_id: str) -> Response:
    definition = get_definition(definition_id)
    schema = config_store.get(config_store.SCHEMA, definition.object, ObjectSchema)
    document = build_wsdl(
        object_type=definition.object,
        field_types=definition.field_types(schema),
        endpoint_url=definition.endpoint_url,
        salesforce_ids=bool(schema and schema.salesforce_ids),
    )
    return Response(body=document.decode("utf-8"), status_code=200, headers={"Content-Type": "text/xml; charset=utf-8"})

