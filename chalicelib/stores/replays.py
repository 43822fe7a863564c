"""Replay tasks in the config table (pk REPLAY): a few items, each rewritten as its task advances, every write
conditional on the version read, so two workers (the API's first page, the minute tick) never both take a page."""

from __future__ import annotations

from chalicelib.models.replays import Replay
from chalicelib.stores import config as config_store

KIND = "REPLAY"
Stale = config_store.Stale


def create(task: Replay) -> int:
    config_store.put(KIND, task.id, task, new=True)
    return 1


def replace(task: Replay, expected: int) -> int:
    """The task over version `expected`; Stale if another worker wrote it first."""
    return config_store.put_versioned(KIND, task.id, task, expected)


def get(task_id: str) -> Replay | None:
    return config_store.get(KIND, task_id, Replay)


def get_versioned(task_id: str) -> tuple[Replay, int] | None:
    return config_store.get_versioned(KIND, task_id, Replay)


def all_tasks() -> list[Replay]:
    return list(config_store.list_all(KIND, Replay))
