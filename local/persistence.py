"""`make run`'s data across restarts: moto keeps everything in memory, so the runtime writes what matters to a
folder when it stops and puts it back when it starts.

Kept: every item of the stage's tables (records, definitions, rules, templates, configurations, messages,
conversations, timeline, ...), the payload bucket's objects (claim-checked payloads) and the Scheduler
schedules of the stage's group. Not kept: the queues' messages. A message that was waiting in a queue is still
`queued` in its table; the minute tick's sweep finds it, as it finds any queue message that was lost, and
enqueues it again. Records put back do not go through the stream again (the stream poller starts after them),
so no rule fires twice.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

FORMAT = 1
SCHEDULE_FIELDS = ("ScheduleExpression", "ScheduleExpressionTimezone", "Target", "FlexibleTimeWindow", "State",
                   "StartDate", "EndDate", "Description", "ActionAfterCompletion")


def _tables(client: Any, prefix: str) -> list[str]:
    names: list[str] = []
    for page in client.get_paginator("list_tables").paginate():
        names += [n for n in page.get("TableNames", []) if n.startswith(prefix)]
    return names


def snapshot(folder: Path, stage: str, aws: Any) -> dict[str, int]:
    """Write the stage's data to `folder` (replaced whole, so a crash mid-way leaves the previous one)."""
    counts = {"items": 0, "objects": 0, "schedules": 0}
    data: dict[str, Any] = {"format": FORMAT, "tables": {}, "objects": {}, "schedules": []}
    dynamodb = aws.client("dynamodb")
    for table in _tables(dynamodb, f"outbound-{stage}-"):
        items: list[dict[str, Any]] = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            items += page.get("Items", [])
        data["tables"][table] = [_encode(item) for item in items]
        counts["items"] += len(items)
    s3 = aws.client("s3")
    bucket = os.environ.get("PAYLOAD_BUCKET", "")
    if bucket:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for entry in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
                data["objects"][entry["Key"]] = base64.b64encode(body).decode()
                counts["objects"] += 1
    scheduler = aws.client("scheduler")
    group = os.environ["SCHEDULE_GROUP"]
    for page in scheduler.get_paginator("list_schedules").paginate(GroupName=group):
        for summary in page.get("Schedules", []):
            found = scheduler.get_schedule(Name=summary["Name"], GroupName=group)
            data["schedules"].append({"Name": summary["Name"],
                                      **{k: found[k] for k in SCHEDULE_FIELDS if k in found}})
            counts["schedules"] += 1
    staging = folder.with_name(folder.name + ".writing")
    shutil.rmtree(staging, ignore_errors=True)
    # Phone numbers and texts: readable by this user only (the folder 0700, the file 0600).
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging.mkdir(mode=0o700)
    descriptor = os.open(staging / "data.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(json.dumps(data, default=str))
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return counts


def restore(folder: Path, aws: Any) -> dict[str, int] | None:
    """Put a snapshot back into a freshly deployed stage; None when there is none."""
    source = folder / "data.json"
    if not source.exists():
        return None
    data = json.loads(source.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise RuntimeError(f"{source}: written by another version of the runtime; start with --fresh")
    counts = {"items": 0, "objects": 0, "schedules": 0}
    dynamodb = aws.client("dynamodb")
    existing = set(_tables(dynamodb, ""))
    for table, items in data["tables"].items():
        if table not in existing:
            continue  # a table this version no longer has
        for start in range(0, len(items), 25):
            requests = [{"PutRequest": {"Item": _decode(item)}} for item in items[start:start + 25]]
            pending: dict[str, Any] = {table: requests}
            while pending:
                pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        counts["items"] += len(items)
    s3 = aws.client("s3")
    for key, body in data["objects"].items():
        s3.put_object(Bucket=os.environ["PAYLOAD_BUCKET"], Key=key, Body=base64.b64decode(body))
        counts["objects"] += 1
    scheduler = aws.client("scheduler")
    for schedule in data["schedules"]:
        scheduler.create_schedule(GroupName=os.environ["SCHEDULE_GROUP"], **schedule)
        counts["schedules"] += 1
    return counts


def _encode(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's JSON, with binary values (compressed payloads) as base64 text."""
    return {k: _encode_value(v) for k, v in item.items()}


def _encode_value(value: dict[str, Any]) -> dict[str, Any]:
    if "B" in value:
        return {"B64": base64.b64encode(value["B"]).decode()}
    if "M" in value:
        return {"M": _encode(value["M"])}
    if "L" in value:
        return {"L": [_encode_value(v) for v in value["L"]]}
    if "BS" in value:
        return {"BS64": [base64.b64encode(b).decode() for b in value["BS"]]}
    return value


def _decode(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _decode_value(v) for k, v in item.items()}


def _decode_value(value: dict[str, Any]) -> dict[str, Any]:
    if "B64" in value:
        return {"B": base64.b64decode(value["B64"])}
    if "BS64" in value:
        return {"BS": [base64.b64decode(b) for b in value["BS64"]]}
    if "M" in value:
        return {"M": _decode(value["M"])}
    if "L" in value:
        return {"L": [_decode_value(v) for v in value["L"]]}
    return value
