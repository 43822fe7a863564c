"""`make run`: the whole service on this machine until Ctrl-C."""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import sys
import threading
from pathlib import Path

from local.runtime import ROOT, LocalRuntime, Options

PORTS = ("api_port", "moto_port", "twilio_port", "telesign_port", "x_port", "eum_port")


def taken_ports(ports: dict[str, int]) -> list[tuple[str, int]]:
    """The (flag, port) pairs something else already listens on: refused at once, not a hang at start."""
    taken = []
    for flag, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closing socket is not "in use"
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                taken.append((flag, port))
    return taken


def metrics_file(data_dir: Path) -> Path:
    """Beside the kept data, not in it: the data folder is replaced whole when the runtime stops."""
    return data_dir.with_name(data_dir.name + "-metrics.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Outbound locally on moto's server.")
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--moto-port", type=int, default=5055)
    parser.add_argument("--twilio-port", type=int, default=8010)
    parser.add_argument("--telesign-port", type=int, default=8011)
    parser.add_argument("--x-port", type=int, default=8012)
    parser.add_argument("--eum-port", type=int, default=8013)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".local-data",
                        help="where the data is kept when it stops and found when it starts (default .local-data)")
    parser.add_argument("--fresh", action="store_true", help="start empty: forget what --data-dir holds")
    parser.add_argument("--auth", action="store_true",
                        help="require an API key on the management routes, as a deployed stage does (one is printed)")
    parser.add_argument("--tick-seconds", type=float, default=5.0,
                        help="how often the minute tick (sweep) and the Scheduler clock run")
    args = parser.parse_args()
    taken = taken_ports({f"--{name.replace('_', '-')}": getattr(args, name) for name in PORTS})
    if taken:
        for flag, port in taken:
            print(f"outbound: port {port} is already in use; choose another with {flag} PORT "
                  f"(e.g. `python -m local {flag} {port + 100}`)", file=sys.stderr)
        sys.exit(2)
    runtime = LocalRuntime(
        Options(
            api_port=args.api_port,
            moto_port=args.moto_port,
            twilio_port=args.twilio_port,
            telesign_port=args.telesign_port,
            x_port=args.x_port,
            eum_port=args.eum_port,
            tick_seconds=args.tick_seconds,
            twilio_status_callbacks=True,
            moto_process=True,  # its own core: a burst drains several times faster (README: Load test)
            data_dir=args.data_dir,
            extra_env={**({"API_AUTH": "on"} if args.auth else {}),
                       # CloudWatch reads metric documents from a function's output; here they would bury the
                       # event lines, so they go to a file of their own.
                       "METRICS_LOG_FILE": str(metrics_file(args.data_dir))},
        )
    )
    if args.fresh:
        shutil.rmtree(args.data_dir, ignore_errors=True)
    args.data_dir.parent.mkdir(parents=True, exist_ok=True)
    print("Starting moto server, deploying infra/template.yaml, starting pollers ...", flush=True)
    runtime.start()
    kept = runtime.restored
    data = (f"restored from {args.data_dir}: {kept['items']} items, {kept['schedules']} schedules "
            "(queued messages are re-enqueued by the sweep)" if kept is not None else
            f"empty (nothing kept in {args.data_dir} yet)")
    print(
        f"""
Outbound is running (stage local).
  API                 {runtime.api_url}
  AWS (moto server)   {runtime.aws_endpoint}   (AWS_ENDPOINT_URL for the aws CLI / boto3; its own process)
  Twilio (loopback)   {runtime.twilio.url}   (calls back /webhooks/twilio/status: sent, then delivered)
  TeleSign (loopback) {runtime.telesign.url}
  X API (loopback)    {runtime.x.url}   (account "outbound_local"; users @ana_example, @bo_example)
  End User Messaging  {runtime.eum.url}   (SendTextMessage; delivery events to the app's EventBridge rule)
  SOAP listener       {runtime.api_url}/reference-listener   (received: GET /reference-listener/received)
  Event sources       stream poller, SQS pollers (soap, sms, whatsapp, twitter), sweep every {args.tick_seconds}s
  Scheduler (moto)    group outbound-local, fired every {args.tick_seconds}s by the runtime's Scheduler clock
  Management API key  {f"Authorization: Bearer {runtime.api_key}" if args.auth else
                        "none needed (--auth, or make run ARGS=--auth, requires one as a deployed stage does)"}
  Data                {data}
                      kept in {args.data_dir} on Ctrl-C; `make run FRESH=1` (--fresh) starts empty
Logs below are the handlers' JSON lines (metric documents: {metrics_file(args.data_dir)}). Ctrl-C stops
everything.
""",
        flush=True,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    print("\nStopping ...", flush=True)
    kept = runtime.stop(keep=True)
    print(f"Stopped. Kept {kept['items'] if kept else 0} items and {kept['schedules'] if kept else 0} schedules in "
          f"{args.data_dir}.", flush=True)


if __name__ == "__main__":
    main()
