"""`make load`: a burst through the whole local runtime (API, stream, queues, senders, sweep) against loopback
providers that fail and slow down, checked for what a burst must never cost: a lost message, a second send of an
acknowledged one, or queue traffic beyond one send per message plus the retries the faults caused.

    python -m bench.load [--sms 20000] [--soap 2000] [--paced 200] [--fault-rate 0.2] [--lose 0]

SMS go out as instant sends of 100 contacts from 4 clients; `--paced` of them from one number paced at
`--pace` per second; SOAP notifications come from records written through the API (stream -> rule -> message of
up to 100 notifications) to a listener that slows down halfway. `--lose N` writes N messages whose queue message
is lost (a trigger crashing between its write and its enqueue): the sweep must find those, and only those.
Writes a markdown report and an SVG of the queue depths to .load/ and exits 1 on any failed check.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.runtime import ROOT, LocalRuntime, Options, free_port

OUT = ROOT / ".load"
CHANNELS = ("sms", "soap")
FINAL_OK = {"sent", "delivered"}


@dataclass
class Tally:
    """What the run did, counted in this process (every handler runs here): AWS calls, queue sends, log events."""

    calls: Counter[str] = field(default_factory=Counter)
    queue_sends: Counter[str] = field(default_factory=Counter)  # queue name -> messages sent to it
    events: Counter[str] = field(default_factory=Counter)
    depth: list[tuple[float, dict[str, int]]] = field(default_factory=list)


class EventCounter(logging.Handler):
    def __init__(self, tally: Tally) -> None:
        super().__init__()
        self.tally = tally

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(ValueError):
            line = json.loads(record.getMessage())
            self.tally.events[line.get("event", "?")] += 1
            if line.get("event") == "message.swept":
                self.tally.events[f"message.swept:{line.get('state')}"] += 1


def count_calls(tally: Tally) -> None:
    from chalicelib.platform import aws

    def before(model: Any, **_: Any) -> None:
        tally.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def sends(params: dict[str, Any], model: Any, **_: Any) -> None:
        queue = str(params.get("QueueUrl", "")).rsplit("/", 1)[-1]
        tally.queue_sends[queue] += len(params.get("Entries", [])) if model.name == "SendMessageBatch" else 1

    aws.session().events.register("before-call", before)
    aws.session().events.register("provide-client-params.sqs.SendMessage", sends)
    aws.session().events.register("provide-client-params.sqs.SendMessageBatch", sends)


class Client:
    def __init__(self, base: str, key: str) -> None:
        self.base, self.key = base, key

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(self.base + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {self.key}"})
        for pause in (0.5, 1, 2, 4, 8, 0):
            try:
                with urllib.request.urlopen(request, timeout=120) as answer:
                    return json.loads(answer.read() or b"null")
            except OSError as exc:  # a 5xx or a refused connection: the client retries, as a caller would
                if not pause:
                    raise RuntimeError(f"{method} {path}: {exc}") from exc
                time.sleep(pause)
        return None


def sms_configuration(api: Client, channel: str, pace: float | None) -> str:
    template = api.call("POST", "/templates", {"name": "load", "channel_type": "sms",
                                               "bodies": {"en-US": "Hi {{ CustomerName }}, case {{ CaseName }}."}})
    body: dict[str, Any] = {"name": "load", "channel_type": "sms", "channel": channel, "template_id": template["id"]}
    if pace:
        body["pace"] = {"per_second": pace, "burst": 1}
    return str(api.call("POST", "/outbound-configurations", body)["id"])


def send_sms(api: Client, configuration_id: str, numbers: list[str], clients: int) -> None:
    batches = [numbers[i:i + 100] for i in range(0, len(numbers), 100)]

    def one(batch: list[str]) -> None:
        api.call("POST", "/sends", {"configuration_id": configuration_id, "contacts": [
            {"tocontactid": n, "CustomerName": "Load", "CaseName": n[-6:]} for n in batch]})

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, batches))


def write_records(api: Client, listener_url: str, count: int, clients: int) -> str:
    obj = "Load" + uuid.uuid4().hex[:8]
    api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {"Subject": "string", "Priority": "int"}})
    definition = api.call("POST", "/outbound-messages", {
        "object": obj, "name": "Load", "unique_name": "Load", "endpoint_url": listener_url,
        "fields": ["Subject", "Priority"]})
    api.call("POST", "/rules", {"object": obj, "name": "created", "evaluation": "created",
                                "definition_ids": [definition["id"]]})
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda i: api.call("PUT", f"/records/{obj}/rec{i:07d}",
                                         {"fields": {"Subject": f"Load {i}", "Priority": i % 5}}), range(count)))
    return obj


def lose_queue_messages(count: int) -> list[str]:
    """Messages written as a trigger writes them, whose enqueue never happened (it crashed in between)."""
    from chalicelib.core import clock, ids
    from chalicelib.models.messages import MessageSource, SmsPayload
    from chalicelib.stores import messages as message_store

    lost = []
    for i in range(count):
        record = message_store.new_record(
            ids.random_id("lost"), "sms", SmsPayload(to=f"+1720555{i:04d}", sender="+15005550006", body="lost"),
            MessageSource(kind="instant", ref="load"), clock.now())
        assert message_store.create(record) is None
        lost.append(record.message_id)
    return lost


def observer(runtime: LocalRuntime, service: str) -> Any:
    """A client of the load test's own, outside the counted session: watching the run does not add to it."""
    import boto3

    return boto3.session.Session().client(service, endpoint_url=runtime.aws_endpoint)


def die_holding(runtime: LocalRuntime, count: int) -> int:
    """A sender that receives messages and dies before it settles or deletes any: nothing is lost, SQS hands them
    out again after the visibility timeout, and the sweep has nothing to do with them."""
    sqs = observer(runtime, "sqs")
    url = sqs.get_queue_url(QueueName="outbound-local-sms")["QueueUrl"]
    held = 0
    while held < count:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, count - held)).get("Messages", [])
        if not batch:
            break
        held += len(batch)
    return held


def sample_depths(runtime: LocalRuntime, tally: Tally, started: float, stop: threading.Event) -> None:
    sqs = observer(runtime, "sqs")
    urls = {c: sqs.get_queue_url(QueueName=f"outbound-local-{c}")["QueueUrl"] for c in CHANNELS}
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
             "ApproximateNumberOfMessagesDelayed"]
    while not stop.is_set():
        depths = {}
        for channel, url in urls.items():
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            depths[channel] = sum(int(attributes.get(n, 0)) for n in names)
        tally.depth.append((time.monotonic() - started, depths))
        stop.wait(2.0)


def final_states(runtime: LocalRuntime) -> dict[str, Counter[str]]:
    dynamodb = observer(runtime, "dynamodb")
    states: dict[str, Counter[str]] = {c: Counter() for c in CHANNELS}
    from chalicelib.platform.settings import get_settings

    # the message store (the legacy outbound-local-messages table is no longer written)
    for page in dynamodb.get_paginator("scan").paginate(TableName=get_settings().messages_table,
                                                        ProjectionExpression="channel, #s",
                                                        ExpressionAttributeNames={"#s": "state"}):
        for item in page["Items"]:
            states.setdefault(item["channel"]["S"], Counter())[item["state"]["S"]] += 1
    return states


def svg(depth: list[tuple[float, dict[str, int]]], path: Path) -> None:
    """Queue depth over time as a small SVG line chart (no plotting dependency for one picture)."""
    width, height, pad = 720, 300, 40
    end = max((t for t, _ in depth), default=1.0) or 1.0
    top = max((max(d.values()) for _, d in depth), default=1) or 1
    colours = {"sms": "#1f77b4", "soap": "#d62728"}
    lines = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             'font-size="11">', f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - 10}" y2="{height - pad}" stroke="black"/>',
             f'<line x1="{pad}" y1="10" x2="{pad}" y2="{height - pad}" stroke="black"/>',
             f'<text x="{pad}" y="{height - 12}">0 s</text>',
             f'<text x="{width - 60}" y="{height - 12}">{end:.0f} s</text>', f'<text x="4" y="16">{top}</text>',
             f'<text x="{width / 2 - 80}" y="{height - 12}">queue depth over time</text>']
    for index, channel in enumerate(CHANNELS):
        scale_x, scale_y = (width - pad - 10) / end, (height - pad - 10) / top
        points = " ".join(f"{pad + t * scale_x:.1f},{height - pad - d[channel] * scale_y:.1f}" for t, d in depth)
        lines.append(f'<polyline fill="none" stroke="{colours[channel]}" stroke-width="1.5" points="{points}"/>')
        lines.append(f'<text x="{width - 120}" y="{20 + 14 * index}" fill="{colours[channel]}">{channel}</text>')
    path.write_text("\n".join([*lines, "</svg>"]) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sms", type=int, default=20_000, help="SMS in the burst (paced ones included)")
    parser.add_argument("--soap", type=int, default=2_000, help="SOAP notifications (records written)")
    parser.add_argument("--paced", type=int, default=200, help="of the SMS, how many go from the paced number")
    parser.add_argument("--pace", type=float, default=5.0, help="the paced number's sends per second")
    parser.add_argument("--fault-rate", type=float, default=0.2, help="share of provider requests failing")
    parser.add_argument("--lose", type=int, default=20, help="messages whose queue message is lost (the sweep's work)")
    parser.add_argument("--kill-sender", type=int, default=50,
                        help="messages a sender dies holding (received, never deleted: SQS hands them out again)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--pollers", type=int, default=4, help="concurrent sender invocations per queue")
    parser.add_argument("--timeout", type=float, default=1500, help="seconds before the run counts as stuck")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)

    from local.providers import FakeSoapListener, Scripted, twilio_error

    tally = Tally()
    options = Options(api_port=free_port(), moto_port=free_port(), twilio_port=free_port(),
                      telesign_port=free_port(), x_port=free_port(), eum_port=free_port(), tick_seconds=30.0,
                      local_visibility_timeout=30, moto_process=True, pollers_per_queue=args.pollers,
                      extra_env={"RETRY_BASE_SECONDS": "1", "SWEEP_GRACE_SECONDS": "60", "API_AUTH": "on",
                                 "SEND_LIMIT_PER_HOUR": "1000000", "ALLOW_INSECURE_ENDPOINTS": "true",
                                 "HTTP_TIMEOUT_SECONDS": "10"})
    print("load: starting the local runtime ...", flush=True)
    runtime = LocalRuntime(options).start()
    from chalicelib.platform.logs import LOGGER_NAME

    logger = logging.getLogger(LOGGER_NAME)
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open("/dev/null", "w"))  # noqa: SIM115 - the lines are still produced, and counted
    logger.addHandler(EventCounter(tally))
    from chalicelib.platform import aws

    aws.reset()  # every client from here on is created by the session the counters are registered on
    count_calls(tally)
    listener = FakeSoapListener().start()
    faults = [twilio_error(500, 20500, "Internal Server Error"), twilio_error(429, 20429, "Too Many Requests")]
    runtime.twilio.random_faults, runtime.twilio.fault_rate = faults, args.fault_rate
    listener.random_faults, listener.fault_rate = [Scripted(500, b"listener down")], args.fault_rate
    api = Client(runtime.api_url, runtime.api_key)
    started = time.monotonic()
    stop = threading.Event()
    sampler = threading.Thread(target=sample_depths, args=(runtime, tally, started, stop), daemon=True)
    sampler.start()
    ok, held = False, 0
    try:
        plain = args.sms - args.paced
        numbers = [f"+1202{200 + i // 10_000}{i % 10_000:04d}" for i in range(plain)]
        paced = [f"+1404{200 + i // 10_000}{i % 10_000:04d}" for i in range(args.paced)]
        work: list[Callable[[], object]] = [
            lambda: send_sms(api, sms_configuration(api, "+15005550006", None), numbers, args.clients)]
        if paced:
            work.append(lambda: send_sms(api, sms_configuration(api, "+15005550013", args.pace), paced, 1))
        if args.soap:
            work.append(lambda: write_records(api, listener.url + "/listener", args.soap, args.clients))
        with ThreadPoolExecutor(len(work)) as pool:
            running = [pool.submit(job) for job in work]
            lost = lose_queue_messages(args.lose)
            time.sleep(5)
            held = die_holding(runtime, args.kill_sender)
            for job in running:
                job.result()  # a refused send fails the run here, with its reason
        accepted_at = time.monotonic() - started
        print(f"load: burst accepted in {accepted_at:.0f} s; draining ...", flush=True)
        expected_sms = args.sms + args.lose
        slowed = False
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            delivered = {r.form().get("To") for r in runtime.twilio.requests
                         if r.answered in (200, 201) and r.path.endswith("/Messages.json")}
            acked = set(listener.notification_ids)
            if not slowed and len(acked) >= args.soap // 2:
                listener.delay_seconds, slowed = 0.3, True  # the partner's listener slows down halfway
            if len(delivered) >= expected_sms and len(acked) >= args.soap:
                break
            time.sleep(2)
        drained_at = time.monotonic() - started
        time.sleep(3)  # the last settles
        stop.set()
        ok = report(args, runtime, listener, tally, lost, held, accepted_at, drained_at)
    finally:
        stop.set()
        listener.stop()
        runtime.stop()
    return 0 if ok else 1


def report(args: argparse.Namespace, runtime: LocalRuntime, listener: Any, tally: Tally, lost: list[str],
           held: int, accepted_at: float, drained_at: float) -> bool:
    states = final_states(runtime)
    sms_requests = [r for r in runtime.twilio.requests if r.path.endswith("/Messages.json")]
    accepted_to = Counter(r.form().get("To") for r in sms_requests if r.answered in (200, 201))
    duplicates_sms = sum(n - 1 for n in accepted_to.values() if n > 1)
    acked = Counter(listener.notification_ids)
    duplicates_soap = sum(n - 1 for n in acked.values() if n > 1)
    sms_messages = sum(states["sms"].values())
    soap_messages = sum(states["soap"].values())
    messages = sms_messages + soap_messages
    not_done = sum(n for c in CHANNELS for s, n in states[c].items() if s not in FINAL_OK)
    retries = tally.events["message.retry_scheduled"]
    paced = tally.events["message.paced"]
    sweeps = tally.events["message.swept"]
    early = tally.calls["sqs:SendMessage"]  # re-hops of early arrivals are counted in queue sends too
    queue_sends = sum(tally.queue_sends[f"outbound-local-{c}"] for c in CHANNELS)
    beyond = (queue_sends - retries - paced) / max(messages, 1)
    writes = sum(tally.calls[f"dynamodb:{op}"] for op in ("PutItem", "UpdateItem", "DeleteItem"))
    aws_calls = sum(tally.calls.values())
    checks = {
        "no lost message (every record sent/delivered)": not_done == 0,
        "no duplicate send of an acknowledged message": duplicates_sms == 0 and duplicates_soap == 0,
        "queue sends per message beyond retries and pacing <= 1.1": beyond <= 1.1,
        "sweeps only for lost queue messages": sweeps == len(lost),
    }
    rows = [
        ("SMS accepted (records)", sms_messages), ("SOAP messages (records)", soap_messages),
        ("SOAP notifications acked", len(acked)),
        ("final states", "; ".join(f"{c}: {dict(states[c])}" for c in CHANNELS)),
        ("provider requests (Twilio / listener)", f"{len(sms_requests)} / {len(listener.requests)}"),
        ("duplicates at the provider (SMS / SOAP)", f"{duplicates_sms} / {duplicates_soap}"),
        ("retries scheduled (faults)", retries), ("paced (sent back to wait for a slot)", paced),
        ("sweeps (re-enqueued as lost)", f"{sweeps} (queued {tally.events['message.swept:queued']}, sending "
                                         f"{tally.events['message.swept:sending']}; queue messages lost on purpose: "
                                         f"{len(lost)}; held by a sender that died: {held})"),
        ("queue sends", f"{queue_sends} ({queue_sends / max(messages, 1):.2f}/message; "
                        f"{beyond:.3f}/message beyond retries and pacing; {early} single re-hops)"),
        ("AWS calls per message (ours, not the pollers')", f"{aws_calls / max(messages, 1):.1f}"),
        ("DynamoDB writes per message", f"{writes / max(messages, 1):.2f}"),
        ("burst accepted after / drained after", f"{accepted_at:.0f} s / {drained_at:.0f} s"),
        ("throughput (messages/s, drained)", f"{messages / max(drained_at, 1e-9):.1f}"),
        ("faults", f"{args.fault_rate:.0%} of provider requests; listener 0.3 s slower from halfway"),
    ]
    svg(tally.depth, OUT / "queue-depth.svg")
    samples = tally.depth[:: max(1, math.ceil(len(tally.depth) / 20))]
    lines = [f"# make load: {args.sms} SMS ({args.paced} paced at {args.pace}/s), {args.soap} SOAP notifications",
             "", "| figure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), "",
             "| check | result |", "|---|---|", *(f"| {k} | {'ok' if v else 'FAILED'} |" for k, v in checks.items()),
             "", "Queue depth (visible + in flight + delayed), every ~2 s; plot: .load/queue-depth.svg", "",
             "| t (s) | sms | soap |", "|---|---|---|",
             *(f"| {t:.0f} | {d['sms']} | {d['soap']} |" for t, d in samples)]
    text = "\n".join(lines) + "\n"
    (OUT / "report.md").write_text(text)
    print(text, flush=True)
    if runtime.errors:
        print("load: runtime errors:", *runtime.errors[:10], sep="\n  ", file=sys.stderr)
    return all(checks.values())


if __name__ == "__main__":
    sys.exit(main())
