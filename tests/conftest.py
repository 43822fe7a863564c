"""One local runtime (moto server, pollers, loopback providers) for every test that touches AWS."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.core import clock
from chalicelib.platform.logs import LOGGER_NAME


class Api:
    """The management API, with the runtime's API key (API_AUTH is on in the tests, as in dev and prod)."""

    def __init__(self, base: str, api_key: str | None = None) -> None:
        self.base, self.api_key = base, api_key

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
             content_type: str = "application/json", headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": content_type, **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}),
                   **(headers or {})}
        request = urllib.request.Request(self.base + path, method=method, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, text = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the local runtime, however indirectly, or lives in tests/e2e (`make run` itself) is an
    end-to-end test: `make test` runs the fast tier (`-m "not e2e"`) first and stops there on a failure."""
    for item in items:
        if "runtime" in getattr(item, "fixturenames", ()) or "e2e" in item.path.parts:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def runtime() -> Iterator[Any]:
    from local.providers import FakeSoapListener
    from local.runtime import LocalRuntime, Options, free_port

    options = Options(api_port=free_port(), moto_port=free_port(), twilio_port=free_port(), telesign_port=free_port(),
                      x_port=free_port(), tick_seconds=0.5,
                      local_visibility_timeout=3, extra_env={"RETRY_BASE_SECONDS": "0.2", "SWEEP_GRACE_SECONDS": "5", "API_AUTH": "on",
                                 "HTTP_TIMEOUT_SECONDS": "2", "SEND_LIMIT_PER_HOUR": "2000000",
                                 "LEASE_MARGIN_SECONDS": "5", "IDEMPOTENCY_LEASE_SECONDS": "4"})
    started = LocalRuntime(options).start()
    started.soap = FakeSoapListener().start()
    yield started
    started.soap.stop()
    started.stop()


@pytest.fixture(scope="module")
def listener() -> Iterator[Any]:
    """A partner's JSON webhook endpoint on loopback, one per test module (each test uses its own path)."""
    from local.providers import FakeWebhookListener

    server = FakeWebhookListener().start()
    yield server
    server.stop()


@pytest.fixture
def api(runtime: Any) -> Api:
    return Api(runtime.api_url, runtime.api_key)


@pytest.fixture(autouse=True)
def _clock_reset(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    clock.reset()
    if "runtime" in request.fixturenames:
        request.getfixturevalue("runtime").settle()


class LogLines(logging.Handler):
    """Collects the service's JSON log lines (the `outbound` logger does not propagate to caplog)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    handler = LogLines()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition",
             interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def unique_object() -> str:
    """Rules fire per object type: each test gets its own so tests cannot see each other's messages."""
    return "Case" + uuid.uuid4().hex[:8]


FAULT_SUMMARY: list[str] = []  # one line per fault-injection scenario (tests/e2e/test_faults.py)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FAULT_SUMMARY:
        terminalreporter.section("fault injection")
        for line in FAULT_SUMMARY:
            terminalreporter.write_line(line)


def parked_on(sqs: Any, queue_url: str, message_id: str, rounds: int = 50) -> bool:
    """Whether `message_id` is on the queue, however many other messages it holds: each receive hides what it
    saw for a few seconds, so the next one sees further."""
    for _ in range(rounds):
        taken = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=5).get("Messages", [])
        if any(message_id in m["Body"] for m in taken):
            return True
        if not taken:
            return False
    return False
