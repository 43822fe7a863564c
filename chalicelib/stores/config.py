"""Configuration items (schemas, definitions, rules, templates, configurations, schedules) in one table.

Keys: pk = kind, sk = id. Config is small and read often, so one partition per kind is plenty; the `due` GSI
(named for its first use) lists a configuration's schedules (stores/schedules.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from pydantic import BaseModel

from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import from_item, to_item, to_value
from chalicelib.platform.settings import get_settings

M = TypeVar("M", bound=BaseModel)

SCHEMA, DEFINITION, RULE, TEMPLATE, CONFIGURATION, SCHEDULE = (
    "SCHEMA",
    "DEFINITION",
    "RULE",
    "TEMPLATE",
    "CONFIGURATION",
    "SCHEDULE",
)
DUE_INDEX = "due"


class AlreadyExists(Exception):
    pass


class Stale(Exception):
    """A versioned write whose expected version is no longer the stored one (or the item is gone)."""


def _table() -> str:
    return get_settings().config_table


def put(kind: str, key: str, model: BaseModel, *, new: bool = False, extra: dict[str, Any] | None = None) -> None:
    item = {"pk": kind, "sk": key, "data": model.model_dump(mode="json"), **(extra or {})}
    kwargs: dict[str, Any] = {"TableName": _table(), "Item": to_item(item)}
    if new:
        kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
    try:
        aws.client("dynamodb").put_item(**kwargs)
    except Exception as exc:
        if aws.is_conditional_failure(exc):
            raise AlreadyExists(f"{kind} {key} already exists") from exc
        raise


def _put_op(item: dict[str, Any], condition: str | None = None) -> dict[str, Any]:
    put: dict[str, Any] = {"TableName": _table(), "Item": to_item(item)}
    if condition:
        put["ConditionExpression"] = condition
    return {"Put": put}


def _transact(operations: list[dict[str, Any]], conflict: str, stale: str | None = None) -> None:
    """One transaction; a failed condition on the first operation (the item itself) is Stale when `stale` says
    what was expected of it, any other failed condition AlreadyExists (a name already held)."""
    try:
        aws.client("dynamodb").transact_write_items(TransactItems=operations)
    except Exception as exc:
        if not aws.is_conditional_failure(exc):
            raise
        reasons = (getattr(exc, "response", None) or {}).get("CancellationReasons") or []
        if stale is not None and reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            raise Stale(stale) from exc
        raise AlreadyExists(conflict) from exc


def put_unique(
    kind: str, key: str, model: BaseModel, claim: tuple[str, str], previous: tuple[str, str] | None = None,
    expected: int | None = None,
) -> int:
    """Write an item together with its uniqueness marker (pk, sk) in one transaction; returns its version.

    With `previous` (a rename), the old marker is released in the same transaction, so a name is never held
    twice nor briefly free for someone else. With `expected` (an update), the item must still be at that
    version (Stale otherwise); without, it must not exist yet.
    """
    version = 1 if expected is None else expected + 1
    item = {"pk": kind, "sk": key, "data": model.model_dump(mode="json"), "version": version}
    if expected is None:
        first = _put_op(item, "attribute_not_exists(pk)")
    else:
        condition, values = version_condition(expected)
        first = _put_op(item, condition)
        first["Put"]["ExpressionAttributeValues"] = values
    operations = [first]
    if previous != claim:
        operations.append(_put_op({"pk": claim[0], "sk": claim[1], "owner": key}, "attribute_not_exists(pk)"))
        if previous is not None:
            operations.append(
                {"Delete": {"TableName": _table(), "Key": to_item({"pk": previous[0], "sk": previous[1]})}}
            )
    _transact(operations, f"{claim[1]} is already taken", stale=f"{kind} {key} is no longer at version {expected}")
    return version


def delete_unique(kind: str, key: str, claim: tuple[str, str], expected: int | None = None) -> None:
    """Delete an item and release its uniqueness marker together (at version `expected`, when given)."""
    delete: dict[str, Any] = {"TableName": _table(), "Key": to_item({"pk": kind, "sk": key})}
    if expected is not None:
        condition, values = version_condition(expected)
        delete |= {"ConditionExpression": condition, "ExpressionAttributeValues": values}
    _transact(
        [
            {"Delete": delete},
            {"Delete": {"TableName": _table(), "Key": to_item({"pk": claim[0], "sk": claim[1]})}},
        ],
        f"{kind} {key} changed while deleting",
        stale=f"{kind} {key} is no longer at version {expected}",
    )


def get(kind: str, key: str, model: type[M]) -> M | None:
    found = aws.client("dynamodb").get_item(TableName=_table(), Key=to_item({"pk": kind, "sk": key}))
    item = found.get("Item")
    return model.model_validate(from_item(item)["data"]) if item else None


def delete(kind: str, key: str) -> None:
    aws.client("dynamodb").delete_item(TableName=_table(), Key=to_item({"pk": kind, "sk": key}))


def list_all(kind: str, model: type[M]) -> Iterator[M]:
    paginator = aws.client("dynamodb").get_paginator("query")
    pages = paginator.paginate(
        TableName=_table(),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": to_value(kind)},
    )
    for page in pages:
        for item in page.get("Items", []):
            yield model.model_validate(from_item(item)["data"])


# Versions (optimistic concurrency for the management API): an item without `version` (written before
# versions, or by `put`) is version 1; every versioned write adds one, conditional on the version read.


def get_versioned(kind: str, key: str, model: type[M]) -> tuple[M, int] | None:
    found = aws.client("dynamodb").get_item(TableName=_table(), Key=to_item({"pk": kind, "sk": key}),
                                            ConsistentRead=True)
    item = found.get("Item")
    if not item:
        return None
    plain = from_item(item)
    return model.model_validate(plain["data"]), int(plain.get("version", 1))


def version_condition(expected: int) -> tuple[str, dict[str, Any]]:
    if expected == 1:
        return "attribute_exists(pk) AND (attribute_not_exists(version) OR version = :v)", {":v": to_value(1)}
    return "version = :v", {":v": to_value(expected)}


def put_versioned(kind: str, key: str, model: BaseModel, expected: int) -> int:
    """Replace the item if it is still at `expected`; returns the new version. Raises Stale otherwise."""
    condition, values = version_condition(expected)
    item = {"pk": kind, "sk": key, "data": model.model_dump(mode="json"), "version": expected + 1}
    try:
        aws.client("dynamodb").put_item(TableName=_table(), Item=to_item(item), ConditionExpression=condition,
                                        ExpressionAttributeValues=values)
    except Exception as exc:
        if aws.is_conditional_failure(exc):
            raise Stale(f"{kind} {key} is no longer at version {expected}") from exc
        raise
    return expected + 1


def delete_versioned(kind: str, key: str, expected: int) -> None:
    condition, values = version_condition(expected)
    try:
        aws.client("dynamodb").delete_item(TableName=_table(), Key=to_item({"pk": kind, "sk": key}),
                                           ConditionExpression=condition, ExpressionAttributeValues=values)
    except Exception as exc:
        if aws.is_conditional_failure(exc):
            raise Stale(f"{kind} {key} is no longer at version {expected}") from exc
        raise
