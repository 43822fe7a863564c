"""Which messages a replay's mode takes, as they are now (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.core import clock
from chalicelib.core.errors import ApiError
from chalicelib.models.messages import MessageState
from chalicelib.models.replays import ReplayInput
from chalicelib.operations.replays import selects, window
from tests.unit.test_lifecycle import sms

S = MessageState


@pytest.mark.parametrize(("state", "attempts", "failed", "missing", "everything"), [
    (S.failed, 3, True, False, True),  # attempted, failed
    (S.expired, 0, False, True, True),  # never attempted: the endpoint was disabled until its deadline
    (S.undelivered, 1, True, False, True),
    (S.delivered, 2, False, False, True),  # failed, then succeeded: only `all` sends it again
    (S.queued, 1, False, False, False),  # in flight: never a replay's
    (S.sending, 1, False, False, False),
    (S.deleted, 1, False, False, False),  # an operator gave up on it
])
def test_each_mode_takes_what_it_says(state: MessageState, attempts: int, failed: bool, missing: bool,
                                      everything: bool) -> None:
    record = sms(state=state, attempts=attempts)
    assert (selects("failed", record), selects("missing", record), selects("all", record)) == (
        failed, missing, everything)


def test_the_window_is_at_most_14_days_and_in_order() -> None:
    now = clock.now()
    ok = ReplayInput(definition_id="d", since=now - timedelta(days=14))
    assert window(ok, now) == (ok.since, now)
    for bad, field in [(ReplayInput(definition_id="d", since=now - timedelta(days=15)), "since"),
                       (ReplayInput(definition_id="d", since=now, until=now - timedelta(seconds=1)), "until"),
                       (ReplayInput(definition_id="d", since=datetime(2020, 1, 1, tzinfo=UTC),
                                    until=datetime(2020, 1, 2, tzinfo=UTC)), "since")]:
        with pytest.raises(ApiError) as refused:
            window(bad, now)
        assert refused.value.fields[0]["field"] == field


def test_exactly_one_target() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ReplayInput(since=clock.now())
    with pytest.raises(ValueError, match="exactly one"):
        ReplayInput(definition_id="d", configuration_id="c", since=clock.now())


def test_only_a_replay_sends_a_delivered_message_again() -> None:
    from chalicelib.core import lifecycle as lc

    delivered = sms(state=S.delivered, attempts=1)
    at = clock.now()
    assert lc.decide(delivered, lc.Retried(at, at + timedelta(hours=24), True, None, "replay")).verdict == "apply"
    assert lc.decide(delivered, lc.Retried(at, at + timedelta(hours=24), True, None, "operator")).verdict == "refuse"
    assert lc.decide(delivered, lc.Retried(at, at + timedelta(hours=24), False, None, "replay")).verdict == "refuse"
