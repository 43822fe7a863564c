"""Listing messages: by time (every state, newest first, day by day and shard by shard), by the attention index
(dead or waiting messages), and by contact. Bounded queries only, never a scan; each page says where the next
one starts (an opaque cursor)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.clock import iso
from chalicelib.core.clock import now as clock_now
from chalicelib.models.messages import MessageRecord, MessageState
from chalicelib.platform import aws
from chalicelib.platform.dynamo_codec import BadCursor as BadCursor  # re-exported: callers catch it from here
from chalicelib.platform.dynamo_codec import cursor_in as _cursor_in
from chalicelib.platform.dynamo_codec import cursor_out as _cursor_out
from chalicelib.platform.dynamo_codec import from_item, to_item, to_value
from chalicelib.platform.settings import get_settings
from chalicelib.stores import message_keys as keys
from chalicelib.stores.messages import _table, get_many

INDEX_KEYS = {keys.TIME_INDEX: ("time_pk", "time_sk"), keys.ATTENTION_INDEX: ("attn_pk", "due_key"),
              keys.CONTACT_INDEX: ("contact_key", "time_sk")}


def _entry_key(index: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {name: entry[name] for name in (*INDEX_KEYS[index], "message_id")}


def _merged_page(
    index: str, partitions: list[str], limit: int, starts: dict[str, Any], *, newest_first: bool,
    sort_range: tuple[str | None, str | None] = (None, None),
) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """One page of `index` entries across `partitions` in one sort order: each partition is read from its own
    position (`starts`: partition -> last entry taken, or "done"), the reads merged, the first `limit` taken.
    Returns the entries, the new positions and the queries made."""
    pk_name, sk_name = INDEX_KEYS[index]
    low, high = sort_range
    condition = "#pk = :pk"
    values: dict[str, Any] = {}
    if low is not None and high is not None:
        condition += " AND #sk BETWEEN :low AND :high"
        values = {":low": to_value(low), ":high": to_value(high)}
    elif low is not None:
        condition += " AND #sk >= :low"
        values = {":low": to_value(low)}
    elif high is not None:
        condition += " AND #sk <= :high"
        values = {":high": to_value(high)}
    read: list[tuple[str, dict[str, Any]]] = []
    exhausted: set[str] = set()
    queries = 0
    for partition in partitions:
        start = starts.get(partition)
        if start == "done":
            continue
        kwargs: dict[str, Any] = {
            "TableName": _table(), "IndexName": index, "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#pk": pk_name, **({"#sk": sk_name} if values else {})},
            "ExpressionAttributeValues": {**values, ":pk": to_value(partition)},
            "ScanIndexForward": not newest_first, "Limit": limit,
        }
        if start:
            kwargs["ExclusiveStartKey"] = to_item(start)
        answer = aws.client("dynamodb").query(**kwargs)
        queries += 1
        read.extend((partition, from_item(i)) for i in answer.get("Items", []))
        if "LastEvaluatedKey" not in answer:
            exhausted.add(partition)
    read.sort(key=lambda pe: (str(pe[1][sk_name]), str(pe[1]["message_id"])), reverse=newest_first)
    taken = read[:limit]
    positions = dict(starts)
    for partition, entry in taken:
        positions[partition] = _entry_key(index, entry)
    left = {partition for partition, _ in read[limit:]}
    for partition in exhausted - left:
        positions[partition] = "done"
    return [entry for _, entry in taken], positions, queries


def attention_due(state: MessageState, before: datetime, limit: int) -> list[MessageRecord]:
    """Records in `state` of the attention index whose due time is before `before`, oldest first."""
    entries, _, _ = _merged_page(keys.ATTENTION_INDEX, keys.attention_partitions(state), limit, {},
                                 newest_first=False, sort_range=(None, iso(before)))
    records = get_many([str(e["message_id"]) for e in entries])
    return [records[str(e["message_id"])] for e in entries if str(e["message_id"]) in records]


def created_since(partition: str, after: str, until: str, limit: int) -> list[dict[str, Any]]:
    """`by_time` entries of one partition after the time key `after` up to `until` (ISO), oldest first."""
    answer = aws.client("dynamodb").query(
        TableName=_table(), IndexName=keys.TIME_INDEX,
        KeyConditionExpression="time_pk = :pk AND time_sk BETWEEN :after AND :until",
        ExpressionAttributeValues={":pk": to_value(partition), ":after": to_value(after), ":until": to_value(until)},
        Limit=limit + 1,
    )
    entries = [from_item(i) for i in answer.get("Items", [])]
    return [e for e in entries if str(e["time_sk"]) > after][:limit]


MAX_QUERIES_PER_PAGE = 64


RECENT_DAYS = 7  # how far back a listing of every state looks unless `created_after` says otherwise
PENDING = frozenset({MessageState.queued, MessageState.sending})


def list_filtered(
    states: list[MessageState],
    limit: int,
    cursor: str | None = None,
    *,
    equals: dict[str, str] | None = None,
    contains: dict[str, str] | None = None,
    ranges: dict[str, tuple[str | None, str | None]] | None = None,
    days: int | None = None,
) -> tuple[list[MessageRecord], str | None]:
    """Records in any of `states` (all states when empty: `by_time` alone, newest first), filtered on top-level or
    dotted attributes.

    Two phases, each newest first: died records (failed, expired, undelivered) from the sparse attention index,
    then any other state from `by_time` over the days it can be in (pending ones live at most their deadline;
    others the last RECENT_DAYS, or from `created_after`). Filters apply after each page's read, so a page may
    hold fewer than `limit` records while a cursor is still returned; a bounded number of queries per page keeps
    one call's latency predictable.
    """
    wanted = set(states) or set(MessageState)
    # Every state: `by_time` alone holds every message, so one phase lists them all newest first.
    died, living = (set(), wanted) if not states else (wanted & keys.DIED, wanted - keys.DIED)
    phases = [phase for phase, present in (("died", died), ("living", living)) if present]
    position = _cursor_in(cursor) or {}
    if cursor and not _valid_position(position, len(phases)):
        raise BadCursor("not a cursor this API returned")
    created = (ranges or {}).get("created_at", (None, None))
    settings = get_settings()
    now = clock_now()
    if living <= PENDING:
        span = int(max(settings.soap_deadline_hours, settings.sms_deadline_hours) // 24) + 2
    else:
        span = RECENT_DAYS
    if days is not None:
        span = days
    first_day = keys.day(now - timedelta(days=span))
    if created[0]:
        first_day = max(keys.day(now - timedelta(days=settings.retention_days + 1)), created[0][:10])
    today = keys.day(now)
    found: list[MessageRecord] = []
    queries = 0
    phase = int(position.get("ph", 0))
    current = str(position.get("d") or (today if not created[1] else min(today, created[1][:10])))
    positions: dict[str, Any] = dict(position.get("p", {}))
    while phase < len(phases) and len(found) < limit and queries < MAX_QUERIES_PER_PAGE:
        if phases[phase] == "died":
            partitions = [p for state in sorted(died) for p in keys.attention_partitions(state)]
            entries, positions, used = _merged_page(keys.ATTENTION_INDEX, partitions, limit, positions,
                                                    newest_first=True)
        else:
            low = created[0] if created[0] and created[0][:10] == current else None
            high = created[1] if created[1] and created[1][:10] == current else None
            partitions = keys.time_partitions(current)
            entries, positions, used = _merged_page(keys.TIME_INDEX, partitions, limit, positions,
                                                    newest_first=True, sort_range=(low, high))
            entries = [e for e in entries if _matches_entry(e, equals or {})]
        queries += used
        found += _records_matching(entries, wanted, equals or {}, contains or {}, ranges or {})
        if all(positions.get(p) == "done" for p in partitions):
            positions = {}
            if phases[phase] == "living" and current > first_day:
                current = keys.day(datetime.strptime(current, "%Y-%m-%d") - timedelta(days=1))
            else:
                phase += 1
    if phase >= len(phases):
        return found, None
    return found, _cursor_out({"ph": phase, "d": current, "p": positions})


def list_for_contacts(
    contact_keys: list[str],
    states: list[MessageState],
    limit: int,
    cursor: str | None = None,
    *,
    equals: dict[str, str] | None = None,
    ranges: dict[str, tuple[str | None, str | None]] | None = None,
) -> tuple[list[MessageRecord], str | None]:
    """A contact's messages newest first, from `by_contact_keys` (one partition per `<channel>#<address>`): every
    message kept to that contact, however old, without reading anyone else's. Filters as `list_filtered`."""
    position = _cursor_in(cursor) or {}
    if cursor and not (set(position) == {"c"} and _valid_marks(position["c"])):
        raise BadCursor("not a cursor this API returned")
    positions: dict[str, Any] = dict(position.get("c", {}))
    found: list[MessageRecord] = []
    queries = 0
    while len(found) < limit and queries < MAX_QUERIES_PER_PAGE:
        entries, positions, used = _merged_page(keys.CONTACT_INDEX, contact_keys, limit - len(found), positions,
                                                newest_first=True)
        queries += used
        found += _records_matching(entries, set(states), equals or {}, {}, ranges or {})
        if all(positions.get(p) == "done" for p in contact_keys):
            return found, None
    return found, _cursor_out({"c": positions})


def _valid_position(position: dict[str, Any], phases: int) -> bool:
    try:
        datetime.strptime(str(position["d"]), "%Y-%m-%d")
    except (KeyError, ValueError):
        return False
    return set(position) == {"ph", "d", "p"} and position["ph"] in range(phases) and _valid_marks(position["p"])


def _valid_marks(marks: Any) -> bool:
    """Per-partition positions as a cursor carries them: "done", or an index entry's key of strings."""
    return isinstance(marks, dict) and all(
        v == "done" or (isinstance(v, dict) and all(isinstance(x, str) for x in v.values())) for v in marks.values())


def _records_matching(entries: list[dict[str, Any]], states: set[MessageState], equals: dict[str, str],
                      contains: dict[str, str], ranges: dict[str, tuple[str | None, str | None]]
                      ) -> list[MessageRecord]:
    """The records behind index entries (one BatchGetItem), in the entries' order, that pass the filters."""
    records = get_many([str(e["message_id"]) for e in entries])
    found = [records.get(str(e["message_id"])) for e in entries]
    return [r for r in found if r is not None and _matches(r, states, equals, contains, ranges)]


def _matches_entry(entry: dict[str, Any], equals: dict[str, str]) -> bool:
    """What the index entry alone can rule out (its immutable projected attributes)."""
    return all(entry.get(k) == v for k, v in equals.items() if k in keys.TIME_PROJECTION)


def _attribute(dumped: dict[str, Any], path: str) -> Any:
    value: Any = dumped
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _matches(record: MessageRecord, states: set[MessageState], equals: dict[str, str], contains: dict[str, str],
             ranges: dict[str, tuple[str | None, str | None]]) -> bool:
    if states and record.state not in states:
        return False
    if not (equals or contains or ranges):
        return True
    dumped = record.model_dump(mode="json")  # once per record, not once per filter
    if any(str(_attribute(dumped, k)) != v for k, v in equals.items()):
        return False
    for path, wanted in contains.items():
        value = _attribute(dumped, path)
        if not isinstance(value, list | str) or wanted not in value:
            return False
    for path, (low, high) in ranges.items():
        value = iso(record.created_at) if path == "created_at" else str(_attribute(dumped, path))
        if (low is not None and value < low) or (high is not None and value > high):
            return False
    return True
