"""Random interleavings of every lifecycle event against the pure lifecycle (hypothesis's stateful testing):
queue copies delivered twice and late, senders answering out of order, provider reports from this provider and
others, for this attempt and older ones, with ids we know and ids we never got, operators retrying (with and
without resend), deleting, and poison give-ups. The model keeps the truth the record cannot see: which attempts a
provider accepted.

Invariants: a provider accepts at most one attempt per operator request (the first send, then one per resend);
nothing from another provider or a superseded attempt changes the state; delivered, opted_out and deleted are
never left; a queued message always has a queue message that can claim it; the history stays bounded.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from chalicelib.core import lifecycle as lc
from chalicelib.models.messages import MessageState
from tests.unit.test_lifecycle import T0, sms

S = MessageState
ABSORBING = {S.delivered, S.opted_out, S.deleted, S.superseded}  # (a replay alone sends a delivered one again)
REPORTS = [("delivered", S.delivered), ("failed", S.failed), ("undelivered", S.undelivered), ("sent", None),
           ("read", S.delivered)]


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.record = sms()
        self.now = T0
        self.queue: list[int] = [0]  # queue bodies' attempt numbers (copies may repeat)
        self.held: list[int] = []  # attempts a sender claimed and has not answered yet
        self.accepted: list[int] = []  # attempts the provider accepted (the world's truth)
        self.requests = 1  # the first send, then one per operator resend
        self.ignored = 0

    def _run(self, event: lc.Event) -> lc.Decision:
        decision = lc.decide(self.record, event)
        if decision.verdict in {"apply", "ignore"}:
            assert decision.verdict == "ignore" or lc.holds(self.record, decision.expect)
            before = self.record.state
            self.record = lc.after(self.record, decision, self.now)
            replay = isinstance(event, lc.Retried) and event.by == "replay"
            if before in ABSORBING and not (replay and before == S.delivered):
                assert self.record.state == before or decision.verdict == "ignore", (before, decision)
            for effect in decision.effects:
                if isinstance(effect, lc.Enqueue):
                    self.queue.append(effect.attempt)
        self.ignored += decision.verdict == "ignore"
        return decision

    @rule(seconds=st.integers(min_value=1, max_value=7200))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @precondition(lambda self: self.queue)
    @rule(data=st.data(), keep_copy=st.booleans())
    def a_queue_message_arrives(self, data: st.DataObject, keep_copy: bool) -> None:
        index = data.draw(st.integers(min_value=0, max_value=len(self.queue) - 1))
        attempt = self.queue[index] if keep_copy else self.queue.pop(index)
        decision = self._run(lc.Claimed(attempt, self.now, self.now + timedelta(seconds=70)))
        if decision.verdict == "apply":
            self.held.append(self.record.attempts)
        elif decision.reason in {"early", "leased"}:
            self.queue.append(attempt)  # the sender puts it back with a delay

    @precondition(lambda self: self.held)
    @rule(data=st.data(), answer=st.sampled_from(["accepted", "accepted", "accepted", "delivered", "refused",
                                                 "opted_out", "transient", "transient", "paced", "paced_out",
                                                 "superseded", "circuit", "circuit_out"]))
    def a_sender_answers(self, data: st.DataObject, answer: str) -> None:
        n = self.held.pop(data.draw(st.integers(min_value=0, max_value=len(self.held) - 1)))
        at = self.now
        events: dict[str, lc.Event] = {
            "accepted": lc.Accepted(n, at, f"SM{n}"), "delivered": lc.Accepted(n, at, f"SM{n}", "delivered"),
            "refused": lc.Refused(n, at, "21614", "21614"), "opted_out": lc.Refused(n, at, "21610", "21610", True),
            "transient": lc.Failing(n, at, "503", "503", at + timedelta(seconds=30)),
            "paced": lc.Paced(n, at, at + timedelta(seconds=5), "+15005550006"), "paced_out": lc.Paced(n, at, None, "b"),
            "superseded": lc.Superseded(n, at, "msg_newer"),
            "circuit": lc.Paced(n, at, at + timedelta(seconds=60), "circuit open", code="circuit"),
            "circuit_out": lc.Paced(n, at, None, "circuit disabled", code="circuit"),
        }
        decision = self._run(events[answer])
        took = decision.verdict == "apply" or self.record.provider_message_id == f"SM{n}"
        if answer in {"accepted", "delivered"} and took and n not in self.accepted:
            # The provider took the call whatever the record makes of the answer: the world's truth.
            self.accepted.append(n)

    @rule(provider=st.sampled_from(["twilio", "twilio", "twilio", "twilio", "eum", "telesign"]),
          attempt_offset=st.sampled_from([0, 0, 0, -1, -1, -2, None]), known_id=st.booleans(),
          status=st.sampled_from(REPORTS))
    def a_provider_reports(self, provider: str, attempt_offset: int | None, known_id: bool,
                           status: tuple[str, MessageState | None]) -> None:
        attempt = None if attempt_offset is None else self.record.attempts + attempt_offset
        if attempt is not None and attempt < 1:
            return
        if provider == "twilio" and attempt is not None and attempt not in self.accepted:
            return  # Twilio reports only on what it accepted
        sid = f"SM{attempt if attempt is not None else self.record.attempts}" if known_id else "SMforged"
        before = (self.record.state, self.record.attempts)
        known = self.record.provider_message_id
        decision = self._run(lc.Reported(provider, attempt, sid, status[0], status[1], "r", status[0], self.now))
        foreign = (provider != "twilio" or (attempt is not None and attempt != before[1])
                   or (known is not None and sid != known))
        if foreign:
            assert decision.verdict != "apply" and (self.record.state, self.record.attempts) == before

    @rule(action=st.sampled_from(["retry", "resend", "resend", "redrive", "replay", "delete", "give_up"]))
    def an_operator_acts(self, action: str) -> None:
        if action == "delete":
            self._run(lc.Deleted(self.now))
            return
        if action == "give_up":
            self._run(lc.GivenUp(self.now, "poison"))
            return
        had_acceptance = self.record.provider_message_id is not None
        resend = action in {"resend", "replay"}
        by = action if action in {"redrive", "replay"} else "operator"
        decision = self._run(lc.Retried(self.now, self.now + timedelta(hours=24), resend, None, by))  # type: ignore[arg-type]
        if decision.verdict == "apply" and had_acceptance:
            assert resend
            self.requests += 1

    @invariant()
    def one_acceptance_per_request(self) -> None:
        assert len(self.accepted) <= self.requests, (self.accepted, self.requests)

    @invariant()
    def a_queued_message_can_be_claimed(self) -> None:
        if self.record.state == S.queued:
            assert self.record.attempts in self.queue

    @invariant()
    def the_history_is_bounded(self) -> None:
        assert self.ignored <= lc.NOTE_LIMIT
        assert len(self.record.history) <= lc.NOTE_LIMIT + 400


TestLifecycle = Lifecycle.TestCase
TestLifecycle.settings = settings(max_examples=400, stateful_step_count=60, deadline=None, derandomize=True,
                                  suppress_health_check=[HealthCheck.too_slow])
