"""`make bench`: every figure of the benchmark in one run, printed as the README's markdown table.

    python -m bench [--sizes 1000,10000] [--skip-package]

moto's server and the loopback providers run in child processes, so the CPU time reported is this process's
alone: our handlers plus boto3/urllib3, which is what a Lambda would be billed for.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench import cold_start, cost, render_cost, schedules, throughput
from bench.stage import Stage, start
from local.runtime import ROOT

QUEUE_OPS = ("sqs:SendMessageBatch", "sqs:SendMessage")
LAMBDA_QUEUE_OPS = ("sqs:ReceiveMessage", "sqs:DeleteMessageBatch")
TABLE_OPS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query")


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def per(phase: throughput.Phase, ops: tuple[str, ...], denominator: int) -> float:
    return sum(phase.calls[op] for op in ops) / denominator


def aws_ms(phase: throughput.Phase, denominator: int) -> float:
    return sum(phase.call_seconds.values()) / denominator * 1000


def throughput_rows(stage: Stage, sms_sizes: list[int], soap_sizes: list[int], lines: list[str]) -> None:
    lines += [
        "| path | n | msg/s (wall) | our CPU µs/msg | AWS wait ms/msg | queue calls/msg (ours + Lambda's) "
        "| DynamoDB calls/msg |",
        "|---|---|---|---|---|---|---|",
    ]
    offset = 0
    runs: list[tuple[str, int]] = [("SMS", n) for n in sms_sizes] + [("SOAP", n) for n in soap_sizes]
    for label, size in runs:
        if label == "SMS":
            trigger, sender = throughput.run_sms(stage, size, offset)
            offset += size
            unit = "msg"
        else:
            trigger, sender = throughput.run_soap(stage, size)
            unit = "notification"
        end_wall = trigger.wall + sender.wall
        for name, phase in (("trigger → render → enqueue", trigger), ("SQS → sender → provider → record", sender)):
            lines.append(
                f"| {label} {name} | {size:,} {unit}s | {phase.per_second:,.0f} | {phase.cpu_us:,.0f} "
                f"| {aws_ms(phase, phase.count):.2f} | {per(phase, QUEUE_OPS, phase.count):.3f} + "
                f"{per(phase, LAMBDA_QUEUE_OPS, phase.count):.3f} | {per(phase, TABLE_OPS, phase.count):.3f} |"
            )
        both = throughput.combine([trigger, sender])
        lines.append(
            f"| {label} end to end | {size:,} {unit}s | {size / end_wall:,.0f} | {both.cpu_us:,.0f} "
            f"| {aws_ms(both, size):.2f} | {per(both, QUEUE_OPS, size):.3f} + "
            f"{per(both, LAMBDA_QUEUE_OPS, size):.3f} | {per(both, TABLE_OPS, size):.3f} |"
        )
        if label == "SOAP":
            lines.append(
                f"| SOAP per message of 100 | {trigger.messages:,} msgs | {trigger.messages / end_wall:,.1f} "
                f"| {both.cpu / trigger.messages * 1e6:,.0f} | {aws_ms(both, trigger.messages):.1f} "
                f"| {per(both, QUEUE_OPS, trigger.messages):.2f} + "
                f"{per(both, LAMBDA_QUEUE_OPS, trigger.messages):.2f} "
                f"| {per(both, TABLE_OPS, trigger.messages):.2f} |"
            )
        print(f"  {label} {size}: done", file=sys.stderr, flush=True)


def memory_rows(stage: Stage, lines: list[str]) -> None:
    from chalicelib.models.customer import InstantSendRequest
    from chalicelib.triggers import instant

    configuration_id = throughput.sms_configuration()
    contacts = [
        {"tocontactid": f"+14153{i:06d}", "CustomerName": "M", "CaseName": "C", "contextitems": {"status": "open"}}
        for i in range(10)
    ]
    instant.send(InstantSendRequest.model_validate({"configuration_id": configuration_id, "contacts": contacts}))
    object_type = "Mem" + uuid.uuid4().hex[:8]
    throughput.soap_definition(stage, object_type)
    for kind, label, handler in (("sender", "SMS sender, batch of 10", "app.send_sms"),
                                 ("stream", "stream trigger, 100 records", "app.on_record_change")):
        done = subprocess.run(
            [sys.executable, "-m", "bench.memory", kind, object_type],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "_HANDLER": handler},  # as Lambda names the function
        )
        baseline, peak = (int(v) for v in done.stdout.split()[-2:])
        lines.append(
            f"| peak RSS: {label} | {peak / 1024:.0f} MiB (after importing app.py: {baseline / 1024:.0f} MiB) |"
        )
    throughput.drain("soap", 1)


def prices(sms: int, soap: int) -> list[str]:
    stage = start()
    try:
        return ["Dollars per million at list price (us-east-1), from a priced run of "
                f"{sms} SMS and {soap} SOAP notifications (bench/cost.py):", "", *cost.main(stage, sms, soap)]
    finally:
        stage.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sms-sizes", default="1000,3000", help="SMS message counts, comma separated")
    parser.add_argument("--soap-sizes", default="1000,10000,100000", help="SOAP notification counts")
    parser.add_argument("--schedules", type=int, default=10_000, help="schedules to create and list")
    parser.add_argument("--skip-package", action="store_true", help="skip `chalice package` (needs PyPI)")
    parser.add_argument("--price-sms", type=int, default=500, help="SMS in the priced run")
    parser.add_argument("--price-soap", type=int, default=1000, help="SOAP notifications in the priced run")
    parser.add_argument("--prices-only", action="store_true", help="only the priced run (`make bench-prices`)")
    args = parser.parse_args()
    if args.prices_only:
        print("\n".join(prices(args.price_sms, args.price_soap)))
        return
    sms_sizes = [int(s) for s in args.sms_sizes.split(",") if s]
    soap_sizes = [int(s) for s in args.soap_sizes.split(",") if s]
    began = time.time()
    lines = [
        f"Machine: {machine()}. Command: `make bench` "
        f"(`python -m bench --sms-sizes {args.sms_sizes} --soap-sizes {args.soap_sizes}`).",
        "",
    ]
    print("cold start and render cost...", file=sys.stderr, flush=True)
    cold = cold_start.measure()
    render = render_cost.measure()
    stage = start()
    try:
        capacity = throughput.provider_capacity(stage)
        print("throughput...", file=sys.stderr, flush=True)
        throughput_rows(stage, sms_sizes, soap_sizes, lines)
        lines += ["", "| measure | result |", "|---|---|"]
        lines.append(f"| loopback Twilio's own capacity, one sequential client | {capacity:,.0f} requests/s |")
        lines.append(
            f"| import app.py in a sender or trigger (`-X importtime`, median of {cold_start.RUNS}) | "
            f"{cold['app_ms']:.0f} ms vs bare Chalice app {cold['bare_ms']:.0f} ms: "
            f"**{cold['app_ms'] / cold['bare_ms']:.2f}×** |"
        )
        lines.append(f"| import app.py in the API's function (every route) | {cold['api_app_ms']:.0f} ms |")
        lines.append(f"| import of the authorizer's function (its module alone) | {cold['authorizer_ms']:.0f} ms |")
        for key, value in cold.items():
            if key.startswith("first call: "):
                lines.append(f"| + imports on the {key.removeprefix('first call: ')}'s first call | {value:.0f} ms |")
        lines.append(
            f"| SOAP envelope, 100 notifications | {render['soap_ours'] * 1000:.2f} ms vs raw lxml "
            f"{render['soap_raw'] * 1000:.2f} ms: **{render['soap_ours'] / render['soap_raw']:.2f}×** |"
        )
        lines.append(
            f"| localized SMS template render | {render['sms_ours'] * 1e6:.1f} µs vs raw jinja2 "
            f"{render['sms_raw'] * 1e6:.1f} µs: **{render['sms_ours'] / render['sms_raw']:.2f}×** |"
        )
        memory_rows(stage, lines)
        print("prices...", file=sys.stderr, flush=True)
        lines += ["", "Dollars per million at list price (us-east-1), from a priced run of "
                  f"{args.price_sms} SMS and {args.price_soap} SOAP notifications (bench/cost.py):", ""]
        lines += cost.main(stage, args.price_sms, args.price_soap)
        lines.append("")
        print("10,000 schedules...", file=sys.stderr, flush=True)
        lines += schedules.rows(schedules.run(stage, args.schedules))
    finally:
        stage.stop()
    if not args.skip_package:
        print("chalice package...", file=sys.stderr, flush=True)
        zipped, unzipped = cold_start.package_size()
        lines.append(
            f"| deployment package (`chalice package`) | {zipped / 2**20:.1f} MiB zipped, "
            f"{unzipped / 2**20:.1f} MiB unzipped |"
        )
    lines.append(f"\nRun took {time.time() - began:.0f} s.")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
