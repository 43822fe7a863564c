"""The API edge: JSON in through pydantic (400 naming the field), JSON out, errors as ApiError bodies."""

from __future__ import annotations

import base64
import binascii
import functools
import inspect
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from chalice.app import Response
from pydantic import BaseModel, ValidationError

from chalicelib.core.errors import ApiError, invalid
from chalicelib.platform.logs import log

M = TypeVar("M", bound=BaseModel)


# pydantic names the branch of a union it tried (`fields.W.constrained-str`, `...bool`): not a field of ours.
_BRANCH = re.compile(r"^(constrained-)?(str|int|float|bool|none|list|dict)$|^function-")
_TYPE_NAMES = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean", "none": "null",
               "list": "a list", "dict": "an object"}


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """One entry per field at fault. A value refused by every branch of a union (a record field: text, number or
    boolean) is one entry: the branch of the value's own type says why (too long, too large); when no branch
    took its type, the entry names the types the field takes."""
    grouped: dict[str, list[tuple[str, str, str]]] = {}
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        branch = next((part for part in loc if _BRANCH.match(part)), "")
        location = ".".join(part for part in loc if not _BRANCH.match(part)) or "body"
        grouped.setdefault(location, []).append((branch, error["type"], error["msg"]))
    out: list[dict[str, str]] = []
    for location, errors in grouped.items():
        if len(errors) == 1 or not all(branch for branch, _, _ in errors):
            out.extend({"field": location, "message": message} for _, _, message in errors)
            continue
        specific = [message for _, kind, message in errors if not kind.endswith(("_type", "_parsing", "_size"))]
        names = ", ".join(dict.fromkeys(_TYPE_NAMES.get(b.removeprefix("constrained-"), b) for b, _, _ in errors))
        out.append({"field": location, "message": specific[0] if specific else f"must be one of: {names}"})
    return out


def parse(model: type[M], raw_body: bytes | None) -> M:
    """A request body as `model`, validated strictly as JSON: what the API document calls a boolean, an integer
    or a string must be one (no `0` for false, no `"5"` for 5), as a client generated from the document sends.
    Text pydantic's JSON parser refuses but Python's reads (a lone surrogate, nesting past 200) is validated
    leniently first, so the answer names the field at fault when a rule of ours does."""
    try:
        data = json.loads(raw_body or b"")
    except RecursionError as exc:
        raise ApiError(400, "validation_error", "body: nested too deeply",
                       [{"field": "body", "message": "nested too deeply"}]) from exc
    except ValueError as exc:
        raise ApiError(
            400, "validation_error", f"body: not valid JSON ({exc})", [{"field": "body", "message": "not valid JSON"}]
        ) from exc
    try:
        return model.model_validate_json(json.dumps(_integral(data)), strict=True)
    except RecursionError as exc:  # deeper than we re-encode: a rule of ours may still name the field
        validate(model, data)
        raise ApiError(400, "validation_error", "body: nested too deeply",
                       [{"field": "body", "message": "nested too deeply"}]) from exc
    except ValidationError as exc:
        if not any(error["type"] == "json_invalid" for error in exc.errors()):
            raise _refused(exc) from exc
        validate(model, data)
        raise _refused(exc) from exc


def _integral(value: Any) -> Any:
    """JSON has one number type: `10.0` is the integer 10 (JSON Schema says so too), which strict validation of
    an integer field would refuse as a float."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


def validate(model: type[M], data: Any) -> M:
    """pydantic validation as a 400 that names every field at fault."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _refused(exc) from exc


def _refused(exc: ValidationError) -> ApiError:
    fields = field_errors(exc)
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return ApiError(400, "validation_error", summary, fields)


def known_parameters(query: Mapping[str, str] | None, allowed: set[str]) -> dict[str, str]:
    """The query as a dict, if it names only `allowed` parameters; else a 400 naming the first unknown one."""
    query = dict(query or {})
    for name in sorted(set(query) - allowed):
        raise invalid(name, f"unknown parameter; use {', '.join(sorted(allowed))}")
    return query


def page_limit(raw: str | None, default: int = 50) -> int:
    """A `limit` query parameter: 1 to 100."""
    try:
        limit = int(raw or default)
    except ValueError as exc:
        raise invalid("limit", "must be an integer") from exc
    if not 1 <= limit <= 100:
        raise invalid("limit", "must be between 1 and 100")
    return limit


def idempotent(route: str, key: str | None, raw: bytes | None, status: int, produce: Callable[[str | None], Any]
               ) -> Response:
    """`produce(seed)`'s answer, at most once per Idempotency-Key and body (stores/idempotency.py); a replayed
    answer says so in Idempotent-Replayed."""
    from chalicelib.stores import idempotency

    def answer(seed: str | None) -> idempotency.Answer:
        body = produce(seed)
        return idempotency.Answer(status, body.model_dump(mode="json") if hasattr(body, "model_dump") else body)

    found = idempotency.run(route, key, raw, answer)
    return reply(found.status, found.body, {"Idempotent-Replayed": "true"} if found.replayed else None)


def reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    payload = body.model_dump(mode="json") if hasattr(body, "model_dump") else body
    return Response(body=payload, status_code=status, headers={"Content-Type": "application/json", **(headers or {})})


def endpoint(func: Callable[..., Response]) -> Callable[..., Response]:
    """Turn ApiError into its response and any other error into a logged 500 without internals. A path
    parameter that is empty (`/messages//retry`: API Gateway and Chalice route it) is a 400 naming it before the
    handler runs: no store is asked for an empty key."""
    names = list(inspect.signature(func).parameters)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        for name, value in [*zip(names, args, strict=False), *kwargs.items()]:
            if isinstance(value, str) and not value.strip():
                error = ApiError(400, "validation_error", f"{name}: must not be empty",
                                 [{"field": name, "message": "must not be empty"}])
                return reply(error.status, error.body())
        try:
            return func(*args, **kwargs)
        except ApiError as exc:
            return reply(exc.status, exc.body(), exc.headers)
        except Exception as exc:
            log("api.error", logging.ERROR, route=func.__name__, error=f"{type(exc).__name__}: {exc}")
            return reply(500, {"error": "internal_error", "message": "internal error"})

    return wrapper


def _snake(code: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(code))


def uniform_error(response: Response) -> Response:
    """Chalice answers some errors itself (415 for a content type a route does not take, its own error
    classes) as {"Code", "Message"}; every error of this API is {"error", "message"}."""
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        response.body = {"error": _snake(str(body["Code"])), "message": str(body["Message"])}
        response.headers = {**response.headers, "Content-Type": "application/json"}
    return response


# Optimistic concurrency (core/versions.py): a read answers `ETag: "<version>"` and `version` in the body.


def versioned_reply(status: int, model: BaseModel, version: int) -> Response:
    return reply(status, {**model.model_dump(mode="json"), "version": version}, {"ETag": f'"{version}"'})


def with_body_version(raw: bytes | None, if_match: str | None) -> tuple[bytes | None, str | None]:
    """A body read with GET and sent back carries `version`: take it as the If-Match of the write (the header
    wins when both are sent), and the rest as the body."""
    try:
        data = json.loads(raw or b"")
    except (ValueError, RecursionError):
        return raw, if_match
    if not isinstance(data, dict) or "version" not in data:
        return raw, if_match
    version = data.pop("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise invalid("version", "must be the integer version this API returned")
    return json.dumps(data).encode(), if_match or f'"{version}"'


def sorted_page(items: Sequence[M], query: Mapping[str, str], key: Callable[[M], str], name: str) -> Response:
    """A page of a small, sorted collection; the cursor is the last key returned."""
    limit = page_limit(query.get("limit"), 100)
    ordered = sorted(items, key=key)
    start = ""
    if query.get("cursor"):
        try:
            start = base64.urlsafe_b64decode(query["cursor"].encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise invalid("cursor", "not a cursor this API returned") from exc
    chosen = [item for item in ordered if key(item) > start][:limit]
    more = len([item for item in ordered if key(item) > start]) > limit
    cursor = base64.urlsafe_b64encode(key(chosen[-1]).encode()).decode() if more and chosen else None
    return reply(200, {name: [item.model_dump(mode="json") for item in chosen], "cursor": cursor})
