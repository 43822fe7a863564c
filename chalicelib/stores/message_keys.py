"""The message table's key design, as pure functions: which index entries a record carries and where.

Cost follows the floor: a GSI entry is written when its key appears, changes or leaves, and when a
projected attribute changes. So every index here is keyed and projected on attributes that never change after
creation, or is sparse over the rare states an operator or the sweep looks for:

- `by_time` (`time_pk` = "<created day>#<shard>", `time_sk` = "<created at>#<message id>"): every message
  once, newest first for listings and the sweep's first look; INCLUDE of immutable attributes only, so state
  changes never touch it.
- `by_contact_keys` (`contact_key`, `time_sk`): KEYS_ONLY, written once per customer message: the last message
  to a contact (a reply's conversation).
- `by_attention` (`attn_pk` = "<state>#<shard>", `due_key`): only records that died (failed, expired,
  undelivered), wait for a retry (queued again after an attempt or an operator's retry) or for the recipient's
  sending window (deferred, released by the minute tick at `due_key`). A delivered message never enters it.

Shards spread one day's (or one state's) writes over SHARDS partitions: at 1,000 write units per second per
partition, one index entry per message throttles no partition below SHARDS x 1,000 = 8,000 messages per second
(the target is 3,000 per org; more shards cost every listing and sweep tick one query per shard).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from chalicelib.core.clock import iso
from chalicelib.models.messages import MessageState

SHARDS = 8
TIME_INDEX = "by_time"
CONTACT_INDEX = "by_contact_keys"
ATTENTION_INDEX = "by_attention"
# Immutable attributes the time index carries, so listings can filter before reading whole records.
TIME_PROJECTION = ("channel", "definition_id", "configuration_id", "contact_key")
DIED = frozenset({MessageState.failed, MessageState.expired, MessageState.undelivered})


def shard(message_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(message_id.encode(), digest_size=4).digest(), "big") % SHARDS


def day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def time_pk(created_at: datetime, message_id: str) -> str:
    return f"{day(created_at)}#{shard(message_id):02d}"


def time_partitions(day_text: str) -> list[str]:
    return [f"{day_text}#{s:02d}" for s in range(SHARDS)]


def time_sk(created_at: datetime, message_id: str) -> str:
    """Unique and ordered: 100 contacts of one instant send share their creation time."""
    return f"{iso(created_at)}#{message_id}"


def attention_pk(state: MessageState, message_id: str) -> str:
    return f"{state.value}#{shard(message_id):02d}"


def attention_partitions(state: MessageState) -> list[str]:
    return [f"{state.value}#{s:02d}" for s in range(SHARDS)]


def needs_attention(state: MessageState, created: bool) -> bool:
    """Died, or waiting for a retry. A newly created queued record is not in the index: the sweep finds a lost
    first enqueue through `by_time`; putting every message in here would cost two index writes each."""
    return state in DIED or state == MessageState.deferred or (state == MessageState.queued and not created)
