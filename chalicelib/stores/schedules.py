"""Our copy of each schedule (config table, pk SCHEDULE), for listing and audit, and the failed firings.

Listing never scans: all schedules are one partition (pk = SCHEDULE, queried page by page), and a
configuration's schedules are found through the config table's `due` index (named for its first use):
due_pk = SCHEDULES#<configuration id>, due_sk = <state>#<schedule id>.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.models.schedules import FiringFailure, Schedule
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import cursor_in, cursor_out, from_item, to_item, to_value
from chalicelib.platform.settings import get_settings
from chalicelib.stores import config as config_store

SCHEDULE = config_store.SCHEDULE
FAILURE = "SCHEDULE_FAILURE"


def _table() -> str:
    return get_settings().config_table


def _item(schedule: Schedule) -> dict[str, Any]:
    data = schedule.model_dump(mode="json", exclude={"next_fire_times"})
    return {"pk": SCHEDULE, "sk": schedule.id, "data": data,
            "due_pk": f"SCHEDULES#{schedule.configuration_id}", "due_sk": f"{schedule.state}#{schedule.id}"}


def put(schedule: Schedule, *, expected: int | None = None) -> int:
    """A new schedule (`expected` None: version 1), or an operator's change over version `expected` (Stale if
    another change came first). Returns the version written."""
    version = 1 if expected is None else expected + 1
    kwargs: dict[str, Any] = {"TableName": _table(), "Item": to_item({**_item(schedule), "version": version})}
    if expected is None:
        kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
    else:
        condition, values = config_store.version_condition(expected)
        kwargs |= {"ConditionExpression": condition, "ExpressionAttributeValues": values}
    try:
        aws.client("dynamodb").put_item(**kwargs)
    except Exception as exc:
        if aws.is_conditional_failure(exc):
            raise config_store.Stale(f"schedule {schedule.id} is no longer at version {expected}") from exc
        raise
    return version


def record_failure(schedule: Schedule) -> None:
    """What a failed firing changes (failures, last error, state), leaving the operator's version alone."""
    aws.client("dynamodb").update_item(
        TableName=_table(), Key=to_item({"pk": SCHEDULE, "sk": schedule.id}),
        UpdateExpression="SET #d.failures = :f, #d.last_error = :e, #d.last_failed_at = :at, #d.#state = :s, "
                         "due_sk = :due",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeNames={"#d": "data", "#state": "state"},
        ExpressionAttributeValues={
            ":f": to_value(schedule.failures), ":e": to_value(schedule.last_error),
            ":at": to_value(schedule.last_failed_at.isoformat() if schedule.last_failed_at else None),
            ":s": to_value(schedule.state), ":due": to_value(f"{schedule.state}#{schedule.id}")})


def get(schedule_id: str) -> Schedule | None:
    return config_store.get(SCHEDULE, schedule_id, Schedule)


def get_versioned(schedule_id: str) -> tuple[Schedule, int] | None:
    return config_store.get_versioned(SCHEDULE, schedule_id, Schedule)


def delete(schedule_id: str) -> None:
    config_store.delete(SCHEDULE, schedule_id)


def record_firing(schedule_id: str, scheduled_time: datetime, state: str) -> bool:
    """Count one firing, once: a retried invocation of the same firing (same scheduled time) changes nothing."""
    moment = scheduled_time.isoformat().replace("+00:00", "Z")
    try:
        aws.client("dynamodb").update_item(
            TableName=_table(),
            Key=to_item({"pk": SCHEDULE, "sk": schedule_id}),
            UpdateExpression="SET #d.runs = #d.runs + :one, #d.last_scheduled_time = :t, #d.failures = :zero, "
                             "#d.#state = :state, due_sk = :due",
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#d.last_scheduled_time) "
                                "OR attribute_type(#d.last_scheduled_time, :null) OR #d.last_scheduled_time < :t)",
            ExpressionAttributeNames={"#d": "data", "#state": "state"},
            ExpressionAttributeValues={
                ":one": to_value(1), ":zero": to_value(0), ":t": to_value(moment), ":state": to_value(state),
                ":due": to_value(f"{state}#{schedule_id}"), ":null": to_value("NULL"),
            },
        )
    except Exception as exc:
        if aws.is_conditional_failure(exc):
            return False
        raise
    return True


def page(limit: int, cursor: str | None, configuration_id: str | None = None, state: str | None = None
         ) -> tuple[list[Schedule], str | None]:
    """One page of schedules in id order, all of them or one configuration's, optionally in one state."""
    client = aws.client("dynamodb")
    kwargs: dict[str, Any] = {"TableName": _table(), "Limit": limit}
    start = cursor_in(cursor)
    if start:
        kwargs["ExclusiveStartKey"] = start
    if configuration_id is not None:
        condition = "due_pk = :pk" + (" AND begins_with(due_sk, :state)" if state else "")
        values = {":pk": to_value(f"SCHEDULES#{configuration_id}")}
        if state:
            values[":state"] = to_value(f"{state}#")
        found = client.query(IndexName=config_store.DUE_INDEX, KeyConditionExpression=condition,
                             ExpressionAttributeValues=values, **kwargs)
        keys = [{"pk": i["pk"], "sk": i["sk"]} for i in found.get("Items", [])]
        schedules = _fetch(keys)
    else:
        values = {":pk": to_value(SCHEDULE)}
        extra: dict[str, Any] = {}
        if state:
            extra = {"FilterExpression": "#d.#state = :state",
                     "ExpressionAttributeNames": {"#d": "data", "#state": "state"}}
            values[":state"] = to_value(state)
        found = client.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues=values, **extra, **kwargs)
        schedules = [Schedule.model_validate(from_item(i)["data"]) for i in found.get("Items", [])]
    return schedules, cursor_out(found.get("LastEvaluatedKey"))


def _fetch(keys: list[dict[str, Any]]) -> list[Schedule]:
    if not keys:
        return []
    found: list[Schedule] = []
    pending: dict[str, Any] = {_table(): {"Keys": keys}}
    while pending:
        answer = aws.client("dynamodb").batch_get_item(RequestItems=pending)
        found += [Schedule.model_validate(from_item(i)["data"]) for i in answer["Responses"].get(_table(), [])]
        pending = answer.get("UnprocessedKeys") or {}
    order = {k["sk"]["S"]: n for n, k in enumerate(keys)}
    return sorted(found, key=lambda s: order.get(s.id, 0))


def add_failure(failure: FiringFailure) -> None:
    config_store.put(FAILURE, failure.id, failure)


def failures(limit: int, cursor: str | None) -> tuple[list[FiringFailure], str | None]:
    kwargs: dict[str, Any] = {"TableName": _table(), "KeyConditionExpression": "pk = :pk",
                              "ExpressionAttributeValues": {":pk": to_value(FAILURE)}, "Limit": limit,
                              "ScanIndexForward": False}
    start = cursor_in(cursor)
    if start:
        kwargs["ExclusiveStartKey"] = start
    found = aws.client("dynamodb").query(**kwargs)
    items = [FiringFailure.model_validate(from_item(i)["data"]) for i in found.get("Items", [])]
    return items, cursor_out(found.get("LastEvaluatedKey"))


def get_failure(failure_id: str) -> FiringFailure | None:
    return config_store.get(FAILURE, failure_id, FiringFailure)


def delete_failure(failure_id: str) -> None:
    config_store.delete(FAILURE, failure_id)
