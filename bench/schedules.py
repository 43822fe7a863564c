"""10,000 active schedules: created through the same code as POST /schedules (our copy + a Scheduler schedule
each), then listed page by page, all of them and one configuration's, counting the AWS calls: listing must be
DynamoDB Query pages, never a Scan."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench import throughput
from bench.stage import Stage


@dataclass
class Result:
    count: int
    create_seconds: float
    create_calls: Counter[str]
    list_seconds: float
    list_calls: Counter[str]
    list_aws_seconds: float
    listed: int
    by_configuration_seconds: float
    by_configuration_calls: Counter[str]
    by_configuration: int


def run(stage: Stage, count: int = 10_000, workers: int = 8) -> Result:
    from chalicelib.models.schedules import ScheduleInput
    from chalicelib.platform import aws
    from chalicelib.platform.settings import get_settings
    from chalicelib.triggers import scheduled

    aws.client("scheduler").create_schedule_group(Name=get_settings().schedule_group)
    configurations = [throughput.sms_configuration() for _ in range(10)]

    def create(index: int) -> None:
        scheduled.create(ScheduleInput.model_validate({
            "configuration_id": configurations[index % len(configurations)],
            "cron": f"cron({index % 60} {index % 24} ? * MON-FRI *)", "timezone": "Europe/Paris",
            "contacts": [{"tocontactid": f"+1415{2_000_000 + index % 7_000_000:07d}", "CustomerName": "S",
                          "CaseName": "C", "contextitems": {"status": "open"}}]}))

    stage.calls.clear()
    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(create, range(count)))
    create_seconds, create_calls = time.perf_counter() - began, Counter(stage.calls)

    def page_all(configuration_id: str | None) -> tuple[int, float, Counter[str]]:
        stage.calls.clear()
        stage.call_seconds.clear()
        began = time.perf_counter()
        seen, cursor = 0, None
        while True:
            found, cursor = scheduled.page(100, cursor, configuration_id, "active")
            seen += len(found)
            if cursor is None:
                return seen, time.perf_counter() - began, Counter(stage.calls)

    listed, list_seconds, list_calls = page_all(None)
    list_aws = sum(stage.call_seconds.values())
    mine, mine_seconds, mine_calls = page_all(configurations[0])
    return Result(count, create_seconds, create_calls, list_seconds, list_calls, list_aws, listed, mine_seconds,
                  mine_calls, mine)


def rows(result: Result) -> list[str]:
    def calls(counter: Counter[str], per: int) -> str:
        return ", ".join(f"{op} {n / per:.2f}" for op, n in sorted(counter.items()))

    scans = sum(n for op, n in {**result.list_calls, **result.by_configuration_calls}.items() if op.endswith(":Scan"))
    return [
        f"| create {result.count:,} schedules (8 threads; our copy + Scheduler each) | "
        f"{result.count / result.create_seconds:,.0f}/s; calls per schedule: "
        f"{calls(result.create_calls, result.count)} |",
        f"| list all active, pages of 100 | {result.listed:,} in {result.list_seconds:.1f} s "
        f"(waiting on moto {result.list_aws_seconds:.1f} s); "
        f"calls: {calls(result.list_calls, 1)}; Scan calls: {scans} |",
        f"| list one configuration's, pages of 100 | {result.by_configuration:,} in "
        f"{result.by_configuration_seconds:.2f} s; calls: {calls(result.by_configuration_calls, 1)} |",
    ]
