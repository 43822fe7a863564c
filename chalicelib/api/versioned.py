"""Versioned configuration resources (templates, configurations, objects, rules): read with their version, deleted
only when nothing uses them.

Optimistic concurrency as HTTP has it: a read answers with `ETag: "<version>"` (and `version` in the body); an
update or delete that sends `If-Match` with an older version is refused with 412 and changes nothing. Without
If-Match the write applies to the version it read a moment before (still conditional: two racing writers never
both win silently). A delete is refused with 409 naming what still refers to the resource. An update applies to
messages created afterwards; a message keeps what it was rendered from (its payload is rendered at creation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from chalice.app import Response
from pydantic import BaseModel

from chalicelib.api.http import known_parameters, parse, versioned_reply, with_body_version
from chalicelib.core.errors import ApiError, mismatch, require
from chalicelib.core.versions import expected_version, stale
from chalicelib.stores import config as config_store

M = TypeVar("M", bound=BaseModel)
Given = TypeVar("Given", bound=BaseModel)


def versioned(kind: str, key: str, model: type[M], what: str) -> tuple[M, int]:
    return require(config_store.get_versioned(kind, key, model), what, key)


def replace(kind: str, key: str, model: type[M], what: str, raw: bytes | None, if_match: str | None,
            given: type[Given], fixed: str, kept: str, check: Callable[[Given, str], M]) -> Response:
    """Full replacement at the version read (or If-Match's, or the body's `version`): the body is parsed as
    `given`, its `fixed` field must equal the current one (`kept` names it in the refusal, "this rule is on"),
    and `check` builds what is stored."""
    current, version = versioned(kind, key, model, what)
    raw, if_match = with_body_version(raw, if_match)
    expected = expected_version(if_match, version)
    data = parse(given, raw)
    if getattr(data, fixed) != getattr(current, fixed):
        raise mismatch(fixed, f"cannot change after creation ({kept} {getattr(current, fixed)})")
    replacement = check(data, key)
    try:
        return versioned_reply(200, replacement, config_store.put_versioned(kind, key, replacement, expected))
    except config_store.Stale as exc:
        raise stale(exc) from exc


def delete_unused(kind: str, key: str, model: type[M], what: str, if_match: str | None,
                  users: Callable[[], list[str]], field: str, message: str) -> Response:
    """Delete at the version read (or If-Match's), unless something still needs it: 409 naming them."""
    _, version = versioned(kind, key, model, what)
    expected = expected_version(if_match, version)
    found = users()
    if found:
        raise conflict(field, message, found)
    try:
        config_store.delete_versioned(kind, key, expected)
    except config_store.Stale as exc:
        raise stale(exc) from exc
    return Response(body="", status_code=204)


def filters(query: Mapping[str, str] | None, allowed: set[str]) -> dict[str, str]:
    return known_parameters(query, allowed | {"limit", "cursor"})


def conflict(field: str, message: str, names: list[str]) -> ApiError:
    listed = ", ".join(names)
    return ApiError(409, "conflict", f"{field}: {message} {listed}", [{"field": field, "message": listed}])

