"""The benchmark's stage: moto's server and the loopback providers in child processes, this process pointed at
them exactly as the local runtime points itself, and botocore hooks counting every AWS call by operation."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.providers import ACCOUNT_SID, AUTH_TOKEN
from local.runtime import ROOT, deploy_infra, free_port, scheduler_environment, use_environment


@dataclass
class Stage:
    moto: subprocess.Popen[str]
    providers: subprocess.Popen[str]
    moto_url: str
    twilio_url: str
    soap_url: str
    calls: Counter[str] = field(default_factory=Counter)
    call_seconds: Counter[str] = field(default_factory=Counter)

    def provider_counts(self) -> tuple[int, int, int]:
        assert self.providers.stdin and self.providers.stdout
        self.providers.stdin.write("count\n")
        self.providers.stdin.flush()
        twilio, soap, notes = self.providers.stdout.readline().split()
        return int(twilio), int(soap), int(notes)

    def stop(self) -> None:
        if self.providers.stdin:
            self.providers.stdin.write("quit\n")
            self.providers.stdin.close()
        self.providers.wait(10)
        self.moto.terminate()
        self.moto.wait(10)


def _wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start() -> Stage:
    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    moto_url = f"http://127.0.0.1:{port}"
    _wait_http(f"{moto_url}/moto-api/data.json")
    providers = subprocess.Popen(
        [sys.executable, "-m", "bench.providers"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert providers.stdout
    ready = providers.stdout.readline().split()
    if not ready or ready[0] != "ready":
        raise RuntimeError(f"providers did not start: {ready}")
    stage = Stage(moto, providers, moto_url, ready[1], ready[2])
    use_environment(moto_url, "http://127.0.0.1:8000", stage.twilio_url, {"ALLOW_INSECURE_ENDPOINTS": "true",
                                                                              **scheduler_environment()})
    _count_calls(stage.calls, stage.call_seconds)
    credentials = {"TWILIO_CREDENTIALS_PARAM": {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}}
    os.environ["RECORDS_STREAM_ARN"] = deploy_infra(credentials, visibility_timeout=300)
    _quiet_logs()
    return stage


def _count_calls(calls: Counter[str], seconds: Counter[str]) -> None:
    """Count calls and the wall time spent inside them (moto's time, as seen by us) by operation."""
    import threading

    from chalicelib.platform import aws

    started = threading.local()

    def before(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1
        started.at = time.perf_counter()

    def after(model: Any, **_: Any) -> None:
        seconds[f"{model.service_model.service_name}:{model.name}"] += time.perf_counter() - started.at

    aws.session().events.register("before-call", before)
    aws.session().events.register("after-call", after)


def _quiet_logs() -> None:
    """Keep producing every log line (their cost is part of ours) but write them nowhere."""
    from chalicelib.platform.logs import LOGGER_NAME  # installs the handler this replaces the stream of

    logger = logging.getLogger(LOGGER_NAME)
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
