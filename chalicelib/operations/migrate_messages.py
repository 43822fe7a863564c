"""One-time upgrade step: copy message records from the table they lived in before
(`LEGACY_MESSAGES_TABLE`, whole-record indexes) into the message store (`MESSAGES_TABLE`), in the new item form.

    MESSAGES_TABLE=outbound-prod-message-store LEGACY_MESSAGES_TABLE=outbound-prod-messages \\
        python -m chalicelib.operations.migrate_messages

Idempotent and resumable: a record already in the store is left as it is (it may have moved on since), so the
step can run again after an interruption, or while the upgraded stack already writes new messages.
"""

from __future__ import annotations

import sys
from typing import Any

from chalicelib.platform import aws
from chalicelib.platform.settings import get_settings
from chalicelib.stores import messages as message_store

# operator tool: runs with the operator's credentials, never in a function (app.py does not import it)


def migrate(page_size: int = 100) -> dict[str, int]:
    settings = get_settings()
    copied = existing = unreadable = 0
    kwargs: dict[str, Any] = {"TableName": settings.legacy_messages_table, "Limit": page_size}
    while True:
        page = aws.client("dynamodb").scan(**kwargs)
        for item in page.get("Items", []):
            try:
                record = message_store.decode_item(item)
            except ValueError as exc:
                unreadable += 1
                print(f"skipped {item.get('message_id', {}).get('S')}: {exc}", file=sys.stderr)
                continue
            if message_store.create(record) is None:
                copied += 1
            else:
                existing += 1
        if "LastEvaluatedKey" not in page:
            return {"copied": copied, "already_there": existing, "unreadable": unreadable}
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


if __name__ == "__main__":  # pragma: no cover - the operator's command
    print(migrate())
