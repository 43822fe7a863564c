"""Schedules through EventBridge Scheduler: ours and operators' own, fired by the local runtime's Scheduler clock
(local/scheduler.py) on the shiftable test clock, with the same handler and input as in AWS."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.core import clock
from tests.conftest import Api, wait_for
from tests.e2e.test_pipeline import sms_configuration

pytestmark = pytest.mark.e2e
MINUTE = timedelta(minutes=1)


def contact(number: str, name: str = "Cy") -> dict[str, Any]:
    return {"tocontactid": number, "CustomerName": name, "CaseName": "C-1", "contextitems": {"Status": "due"}}


def sms_to(runtime: Any, number: str) -> list[dict[str, Any]]:
    return [m for m in runtime.twilio.messages() if m["To"] == number]


def move_clock_to(runtime: Any, moment: datetime) -> None:
    """Shift the clock, then wait until the runtime's Scheduler clock has ticked twice at the new time."""
    clock.advance((moment - clock.now()).total_seconds())
    ticks = len(runtime.scheduler.ticks)
    wait_for(lambda: len(runtime.scheduler.ticks) >= ticks + 2, what="two scheduler ticks")


def scheduled_times(runtime: Any, schedule_id: str) -> list[datetime]:
    return [moment for name, moment in runtime.scheduler.fired if name == schedule_id]


@pytest.mark.parametrize(("day", "fires_at"), [
    (datetime(2027, 1, 15), datetime(2027, 1, 15, 8, tzinfo=UTC)),  # winter, CET: UTC+1
    (datetime(2027, 7, 15), datetime(2027, 7, 15, 7, tzinfo=UTC)),  # summer, CEST: UTC+2
])
def test_a_one_time_schedule_at_nine_in_paris(runtime: Any, api: Api, day: datetime, fires_at: datetime) -> None:
    number = f"+1415555{uuid.uuid4().int % 9000 + 1000}"
    status, schedule = api.call("POST", "/schedules", {
        "configuration_id": sms_configuration(api), "at": day.replace(hour=9).isoformat(),
        "timezone": "Europe/Paris", "contacts": [contact(number)]})
    assert status == 201, schedule
    assert schedule["expression"] == f"at({day.date()}T09:00:00)" and schedule["timezone"] == "Europe/Paris"
    assert schedule["next_fire_times"] == [fires_at.strftime("%Y-%m-%dT%H:%M:%SZ")]
    scheduled = runtime.client("scheduler").get_schedule(Name=schedule["id"], GroupName="outbound-local")
    assert scheduled["ScheduleExpressionTimezone"] == "Europe/Paris" and scheduled["ActionAfterCompletion"] == "DELETE"
    assert json.loads(scheduled["Target"]["Input"])["scheduled_time"] == "<aws.scheduler.scheduled-time>"

    move_clock_to(runtime, fires_at - MINUTE)
    assert sms_to(runtime, number) == []  # a minute before: nothing
    move_clock_to(runtime, fires_at.replace(second=30))
    wait_for(lambda: sms_to(runtime, number), what="the SMS at 09:00 Paris time")
    assert scheduled_times(runtime, schedule["id"]) == [fires_at]
    done = wait_for(lambda: (d := api.call("GET", f"/schedules/{schedule['id']}")[1])["state"] == "done" and d,
                    what="the schedule to be done")
    assert done["last_scheduled_time"] == fires_at.strftime("%Y-%m-%dT%H:%M:%SZ") and done["runs"] == 1
    # Scheduler deleted it after completion (ActionAfterCompletion DELETE); our copy stays for audit.
    names = [s["Name"] for s in runtime.client("scheduler").list_schedules(GroupName="outbound-local")["Schedules"]]
    assert schedule["id"] not in names


def test_a_weekday_cron_in_new_york_keeps_nine_oclock_across_the_dst_change(runtime: Any, api: Api) -> None:
    number = f"+1415556{uuid.uuid4().int % 9000 + 1000}"
    configuration_id = sms_configuration(api)
    # Friday 12 March 2027, the clocks go forward on Sunday 14 March.
    move_clock_to(runtime, datetime(2027, 3, 12, 13, 50, tzinfo=UTC))
    status, schedule = api.call("POST", "/schedules", {
        "configuration_id": configuration_id, "cron": "cron(0 9 ? * MON-FRI *)", "timezone": "America/New_York",
        "contacts": [contact(number)]})
    assert status == 201, schedule
    assert schedule["next_fire_times"][:2] == ["2027-03-12T14:00:00Z", "2027-03-15T13:00:00Z"]
    try:
        wait_for(lambda: schedule["id"] in runtime.scheduler.seen, what="the runtime to see the schedule")
        move_clock_to(runtime, datetime(2027, 3, 12, 14, 0, 30, tzinfo=UTC))  # 09:00 EST
        wait_for(lambda: len(sms_to(runtime, number)) == 1, what="Friday's SMS")
        move_clock_to(runtime, datetime(2027, 3, 15, 12, 59, 30, tzinfo=UTC))  # 08:59 EDT on Monday
        assert len(sms_to(runtime, number)) == 1  # nothing over the weekend, nothing at 09:00 EST on Monday
        move_clock_to(runtime, datetime(2027, 3, 15, 13, 0, 30, tzinfo=UTC))  # 09:00 EDT
        wait_for(lambda: len(sms_to(runtime, number)) == 2, what="Monday's SMS")
        assert scheduled_times(runtime, schedule["id"]) == [datetime(2027, 3, 12, 14, tzinfo=UTC),
                                                           datetime(2027, 3, 15, 13, tzinfo=UTC)]
        listed = api.call("GET", f"/schedules?configuration_id={configuration_id}")[1]["schedules"]
        assert [s["id"] for s in listed] == [schedule["id"]] and listed[0]["runs"] == 2
    finally:
        api.call("DELETE", f"/schedules/{schedule['id']}")


def test_pause_resume_and_delete(runtime: Any, api: Api) -> None:
    number = f"+1415557{uuid.uuid4().int % 9000 + 1000}"
    status, schedule = api.call("POST", "/schedules", {
        "configuration_id": sms_configuration(api), "rate": "rate(1 minute)", "contacts": [contact(number)]})
    assert status == 201, schedule
    scheduler = runtime.client("scheduler")
    status, paused = api.call("PATCH", f"/schedules/{schedule['id']}", {"state": "paused"})
    assert status == 200 and paused["state"] == "paused" and paused["next_fire_times"] == []
    assert scheduler.get_schedule(Name=schedule["id"], GroupName="outbound-local")["State"] == "DISABLED"
    move_clock_to(runtime, clock.now().replace(microsecond=0) + 3 * MINUTE)
    assert sms_to(runtime, number) == []  # three minutes paused: nothing
    status, resumed = api.call("PATCH", f"/schedules/{schedule['id']}", {"state": "active", "rate": "rate(2 minutes)",
                                                                        "timezone": "Asia/Tokyo"})
    assert status == 200 and resumed["state"] == "active" and resumed["expression"] == "rate(2 minutes)"
    remote = scheduler.get_schedule(Name=schedule["id"], GroupName="outbound-local")
    assert (remote["State"], remote["ScheduleExpression"], remote["ScheduleExpressionTimezone"]) == (
        "ENABLED", "rate(2 minutes)", "Asia/Tokyo")
    move_clock_to(runtime, clock.now() + 2 * MINUTE + MINUTE / 2)
    wait_for(lambda: sms_to(runtime, number), what="an SMS once resumed")
    assert api.call("DELETE", f"/schedules/{schedule['id']}")[0] == 204
    assert api.call("GET", f"/schedules/{schedule['id']}")[0] == 404
    names = [s["Name"] for s in scheduler.list_schedules(GroupName="outbound-local")["Schedules"]]
    assert schedule["id"] not in names


def test_an_operators_own_scheduler_schedule_sends(runtime: Any, api: Api) -> None:
    """Created with boto3 against the emulated Scheduler, exactly as the README's `aws scheduler create-schedule`."""
    number = f"+1415558{uuid.uuid4().int % 9000 + 1000}"
    configuration_id = sms_configuration(api)
    name = f"operator-{uuid.uuid4().hex[:8]}"
    at = (clock.now() + MINUTE).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    runtime.client("scheduler").create_schedule(
        Name=name, GroupName="outbound-local", ScheduleExpression=f"at({at})", FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": "arn:aws:lambda:us-east-1:123456789012:function:outbound-local-scheduled_send",
                "RoleArn": "arn:aws:iam::123456789012:role/outbound-local/scheduler",
                "Input": json.dumps({"configuration_id": configuration_id, "contacts": [contact(number, "Op")],
                                     "scheduled_time": "<aws.scheduler.scheduled-time>",
                                     "schedule_arn": "<aws.scheduler.schedule-arn>"})})
    move_clock_to(runtime, clock.now() + MINUTE + MINUTE / 2)
    wait_for(lambda: sms_to(runtime, number), what="the operator schedule's SMS")
    assert sms_to(runtime, number)[0]["Body"] == "Hi Op, case C-1 is due."


def test_a_retried_invocation_of_one_firing_sends_once(runtime: Any, api: Api) -> None:
    number = f"+1415559{uuid.uuid4().int % 9000 + 1000}"
    event = {"configuration_id": sms_configuration(api), "contacts": [contact(number)],
             "scheduled_time": "2026-11-25T09:00:00Z", "schedule_arn": f"arn:aws:scheduler:x:{uuid.uuid4().hex}"}
    first = runtime.app_module.scheduled_send(event, None)
    again = runtime.app_module.scheduled_send({**event, "execution_id": "retry", "attempt": "2"}, None)
    assert first["sent"] == again["sent"] == 1 and first["message_ids"] == again["message_ids"]
    wait_for(lambda: sms_to(runtime, number), what="the SMS")
    time.sleep(1.5)
    assert len(sms_to(runtime, number)) == 1
    later = runtime.app_module.scheduled_send({**event, "scheduled_time": "2026-11-26T09:00:00Z"}, None)
    assert later["message_ids"] != first["message_ids"]  # the next firing is a new send


@pytest.mark.parametrize("event", [
    {"configuration_id": "cfg_x", "contacts": [{"tocontactid": "+14155550100"}]},  # no scheduled_time
    {"schedule_id": "sch_../../x", "scheduled_time": "2026-11-25T09:00:00Z"},
    {"contacts": "everyone"},
    "not even an object",
])
def test_a_malformed_operator_input_is_a_visible_failure_not_a_crash(runtime: Any, api: Api, event: Any) -> None:
    answer = runtime.app_module.scheduled_send(event, None)
    assert answer["sent"] == 0 and answer["failure"]
    failures = api.call("GET", "/schedule-failures?limit=100")[1]["failures"]
    mine = next(f for f in failures if f["id"] == answer["failure"])
    assert mine["reason"] == answer["reason"] and mine["event"]
    if isinstance(event, dict) and "configuration_id" in event:
        assert "scheduled_time" in mine["reason"] and "<aws.scheduler.scheduled-time>" in mine["reason"]
    assert api.call("DELETE", f"/schedule-failures/{answer['failure']}")[0] == 204


def test_schedule_input_is_checked_at_the_door(api: Api) -> None:
    configuration_id = sms_configuration(api)
    base = {"configuration_id": configuration_id, "contacts": [contact("+14155550190")]}
    cases = [
        ({**base, "cron": "cron(0 9 ? * MON-FRI *)", "timezone": "Mars/Olympus"}, "timezone"),
        ({**base, "at": "2027-03-14T02:30:00", "timezone": "America/New_York"}, "at"),  # in the DST gap
        ({**base, "at": "2020-01-01T09:00:00Z"}, "at"),
        ({**base, "rate": "rate(5 weeks)"}, "rate"),
        ({**base, "rate": "rate(5 minutes)", "cron": "cron(0 9 ? * MON-FRI *)"}, "body"),
        ({**base, "rate": "rate(5 minutes)", "flexible_window_minutes": 0}, "flexible_window_minutes"),
    ]
    for body, field in cases:
        status, answer = api.call("POST", "/schedules", body)
        assert status == 400 and field in json.dumps(answer), (body, answer)
    assert api.call("GET", "/schedules?state=sleeping")[0] == 400
    assert api.call("PATCH", "/schedules/sch_missing", {"state": "paused"})[0] == 404


def test_a_patch_of_a_schedule_scheduler_no_longer_has_is_a_4xx(runtime: Any, api: Api) -> None:
    """The state a racing DELETE leaves between its two steps (Scheduler's schedule gone, our copy not yet), and
    the one a fired one-time schedule leaves: a PATCH answers 409 naming why (before: UpdateSchedule's
    ResourceNotFoundException was a 500), and DELETE still cleans up."""
    status, schedule = api.call("POST", "/schedules", {
        "configuration_id": sms_configuration(api), "rate": "rate(1 hour)", "contacts": [contact("+14155550191")]})
    assert status == 201, schedule
    runtime.client("scheduler").delete_schedule(Name=schedule["id"], GroupName="outbound-local")
    status, answer = api.call("PATCH", f"/schedules/{schedule['id']}", {"state": "paused"})
    assert status == 409 and answer["fields"][0]["field"] == "state", answer
    assert "no longer has this schedule" in answer["message"]
    assert api.call("GET", f"/schedules/{schedule['id']}")[1]["state"] == "active"  # nothing half-changed
    assert api.call("DELETE", f"/schedules/{schedule['id']}")[0] == 204
    assert api.call("PATCH", f"/schedules/{schedule['id']}", {"state": "paused"})[0] == 404


def test_patches_racing_a_delete_answer_4xx_and_leave_nothing_behind(runtime: Any, api: Api) -> None:
    configuration_id = sms_configuration(api)
    scheduler = runtime.client("scheduler")
    answers: list[int] = []
    for round_ in range(6):
        status, schedule = api.call("POST", "/schedules", {
            "configuration_id": configuration_id, "rate": "rate(1 hour)", "contacts": [contact("+14155550192")]})
        assert status == 201, schedule
        path = f"/schedules/{schedule['id']}"
        calls = [("PATCH", {"state": "paused"}), ("PATCH", {"rate": "rate(2 hours)"}), ("DELETE", None)]
        if round_ % 2:
            calls.reverse()
        barrier = threading.Barrier(len(calls))

        def call(method: str, body: Any, path: str = path, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            answers.append(api.call(method, path, body)[0])

        threads = [threading.Thread(target=call, args=c) for c in calls]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert api.call("GET", path)[0] == 404
        names = [s["Name"] for s in scheduler.list_schedules(GroupName="outbound-local")["Schedules"]]
        assert schedule["id"] not in names
    assert set(answers) <= {200, 204, 404, 409, 412}, answers
    assert answers.count(204) == 6
