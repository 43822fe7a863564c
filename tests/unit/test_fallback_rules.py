"""When a customer message's next channel is due (pure), and that its id makes taking a step once."""

from __future__ import annotations

import pytest

from chalicelib.core import fallback
from chalicelib.models.messages import FallbackMark, MessageState
from tests.unit.test_lifecycle import sms

S = MessageState
PLAN = [{"configuration_id": "cfg_sms", "after_seconds": 300}]


def marked(state: MessageState, code: str | None = None, plan: list[dict[str, object]] | None = None) -> object:
    mark = FallbackMark(logical="msg_1", plan=PLAN if plan is None else plan, contact={"tocontactid": "+1"})
    return sms(state=state, error_code=code, fallback=mark)


@pytest.mark.parametrize(("state", "code", "on_failure", "on_timer"), [
    (S.failed, "template_required", "go", "go"),
    (S.undelivered, "30008", "go", "go"),
    (S.expired, "deadline", "go", "go"),
    (S.sent, None, "never", "go"),  # accepted, never delivered: the timer's case (a blocked user)
    (S.queued, None, "never", "later"),  # still being attempted: look again
    (S.sending, None, "never", "later"),
    (S.delivered, None, "never", "never"),
    (S.undelivered, "63014", "never", "never"),  # the person blocked the sender
    (S.failed, "131050", "never", "never"),  # stopped marketing messages
    (S.failed, "21610", "never", "never"),  # replied STOP
    (S.opted_out, None, "never", "never"),
    (S.deleted, None, "never", "never"),
    (S.superseded, None, "never", "never"),
])
def test_verdicts(state: MessageState, code: str | None, on_failure: str, on_timer: str) -> None:
    record = marked(state, code)
    assert (fallback.verdict(record, "failed"), fallback.verdict(record, "timer")) == (on_failure, on_timer)  # type: ignore[arg-type]


def test_no_step_left_or_no_plan_never_falls_back() -> None:
    assert fallback.verdict(marked(S.failed, plan=[]), "failed") == "never"  # type: ignore[arg-type]
    assert fallback.verdict(sms(state=S.failed), "failed") == "never"


def test_each_step_has_one_id_whoever_asks() -> None:
    mark = FallbackMark(logical="msg_1", plan=PLAN * 2)
    assert fallback.next_id(mark) == fallback.next_id(mark.model_copy())
    second = mark.model_copy(update={"step": 1, "plan": PLAN})
    assert fallback.chain_ids(mark) == ["msg_1", fallback.next_id(mark), fallback.next_id(second)]
    assert len(set(fallback.chain_ids(mark))) == 3
