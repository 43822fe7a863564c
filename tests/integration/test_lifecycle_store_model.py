"""The lifecycle model (tests/unit/test_lifecycle_model.py), smaller, with every event also written through the
message store on moto: the record the store's conditional write leaves must be the one the pure lifecycle says
(state, attempts, provider id, history length), and its history must verify as a chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from chalicelib.core import ids
from chalicelib.core import lifecycle as lc
from chalicelib.stores import messages as message_store
from tests.unit.test_lifecycle_model import Lifecycle


class StoredLifecycle(Lifecycle):
    """Each decision is also written with message_store.apply (effects are not carried out: the runtime's own
    senders would act on them). The record lives a month ahead, where the runtime's sweep does not look."""

    def __init__(self) -> None:
        super().__init__()
        ahead = datetime.now(UTC) + timedelta(days=30) - self.now
        record = self.record
        self.record = record.model_copy(update={
            "message_id": ids.random_id("model"), "created_at": record.created_at + ahead,
            "updated_at": record.updated_at + ahead, "deadline": record.deadline + ahead,
            "due_at": record.due_at + ahead,
            "history": [h.model_copy(update={"at": h.at + ahead}) for h in record.history]})
        self.now += ahead
        assert message_store.create(self.record) is None
        stored = message_store.get(self.record.message_id)  # as stored (its creation entry names the payload)
        assert stored is not None
        self.record = stored

    def _run(self, event: lc.Event) -> lc.Decision:
        stored = message_store.get(self.record.message_id)
        assert stored is not None
        decision = super()._run(event)
        if decision.verdict in {"apply", "ignore"}:
            written, pure = message_store.apply(stored, lc.decide(stored, event), event.at), self.record
            assert (written.state, written.attempts, written.provider_message_id, len(written.history)) == (
                pure.state, pure.attempts, pure.provider_message_id, len(pure.history))
            assert message_store.audit(written).verified, message_store.audit(written)
        return decision


def test_the_store_writes_what_the_lifecycle_decides(runtime: Any) -> None:
    run_state_machine_as_test(StoredLifecycle, settings=settings(
        max_examples=12, stateful_step_count=15, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
