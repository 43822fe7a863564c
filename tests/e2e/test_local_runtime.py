"""`make run` as a user expects it: a port already taken is refused at once, naming the port and the flag; each
API request leaves an access line with a timestamp."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api

ROOT = Path(__file__).resolve().parents[2]


def test_a_port_in_use_stops_make_run_at_once_naming_the_port_and_its_flag() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        # timeout: a guard for the old behaviour (it hung), not a measurement
        done = subprocess.run([sys.executable, "-m", "local", "--twilio-port", str(port)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert f"port {port} is already in use" in done.stderr and "--twilio-port" in done.stderr
    assert "Starting moto" not in done.stdout


def test_every_api_request_leaves_an_access_line_with_a_timestamp(
        runtime: Any, api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="outbound"):
        assert api.call("GET", "/templates/tpl_missing_for_access_log")[0] == 404
        api.call("GET", "/entities/contact/%2B14155550199/timeline")
    lines = [json.loads(r.getMessage()) for r in caplog.records if '"api.access"' in r.getMessage()]
    mine = [line for line in lines if line["path"] == "/templates/tpl_missing_for_access_log"]
    assert mine and mine[0]["method"] == "GET" and mine[0]["status"] == 404 and mine[0]["ts"].endswith("Z")
    timeline = [line["path"] for line in lines if line["path"].startswith("/entities/contact/")]
    assert timeline and not any("4155550199" in path for path in timeline), timeline  # masked, however encoded


class MakeRun:
    """`python -m local` as `make run` starts it, on free ports, its output drained into `lines`."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        import threading

        from local.runtime import free_port

        self.api = f"http://127.0.0.1:{free_port()}"
        ports = {"--api-port": self.api.rsplit(":", 1)[1], **{flag: str(free_port()) for flag in (
            "--moto-port", "--twilio-port", "--telesign-port", "--x-port", "--eum-port")}}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local", "--data-dir", str(data_dir), "--tick-seconds", "1",
             *[part for pair in ports.items() for part in pair], *extra],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def banner(self) -> str:
        from tests.conftest import wait_for

        wait_for(lambda: any("Data  " in line for line in self.lines) or self.process.poll() is not None,
                 timeout=120, what="make run's banner")
        assert self.process.poll() is None, "".join(self.lines[-40:])
        return next(line for line in self.lines if "Data  " in line)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return Api(self.api, None).call(method, path, body)

    def stop(self) -> str:
        """Ctrl-C as a terminal sends it: SIGINT to the whole process group (moto's child process too)."""
        import os
        import signal

        os.killpg(self.process.pid, signal.SIGINT)
        assert self.process.wait(timeout=120) == 0, "".join(self.lines[-40:])
        return "".join(self.lines)


def test_make_run_keeps_its_data_across_a_restart_and_fresh_starts_empty(tmp_path: Path) -> None:
    """Definitions, templates, configurations, messages and schedules created before a stop are there after the
    next start; the banner says which data it started with; `--fresh` forgets it."""
    data = tmp_path / "local-data"
    first = MakeRun(data)
    try:
        assert "empty" in first.banner()
        status, template = first.call("POST", "/templates", {"name": "kept", "channel_type": "sms",
                                                             "bodies": {"en-US": "Kept {{ CustomerName }}"}})
        assert status == 201, template
        configuration = first.call("POST", "/outbound-configurations", {
            "name": "kept", "channel_type": "sms", "channel": "+15005550006", "template_id": template["id"]})[1]
        status, sent = first.call("POST", "/sends", {"configuration_id": configuration["id"], "contacts": [
            {"tocontactid": "+12025550801", "CustomerName": "Ana"}]})
        assert status == 202, sent
        status, schedule = first.call("POST", "/schedules", {"configuration_id": configuration["id"],
                                                             "rate": "rate(7 days)", "contacts": [
                                                                 {"tocontactid": "+12025550802", "CustomerName": "Bo"}]})
        assert status == 201, schedule
        obj = "Kept"
        assert first.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {"Subject": "string"}})[0] == 200
        status, definition = first.call("POST", "/outbound-messages", {
            "object": obj, "name": "Kept", "unique_name": "Kept", "endpoint_url": "https://erp.example.com/soap",
            "fields": ["Subject"]})
        assert status == 201, definition
    finally:
        stopped = first.stop()
    assert "Stopped. Kept" in stopped and (data / "data.json").exists()
    # numbers and texts: this user's alone
    assert (data / "data.json").stat().st_mode & 0o777 == 0o600 and data.stat().st_mode & 0o777 == 0o700

    second = MakeRun(data)
    try:
        assert "restored from" in second.banner()
        assert second.call("GET", f"/templates/{template['id']}")[1]["bodies"] == {"en-US": "Kept {{ CustomerName }}"}
        assert second.call("GET", f"/outbound-configurations/{configuration['id']}")[0] == 200
        assert second.call("GET", f"/outbound-messages/{definition['id']}")[0] == 200
        assert second.call("GET", f"/schedules/{schedule['id']}")[1]["state"] == "active"
        message_id = sent["message_ids"][0]
        kept = second.call("GET", f"/messages/{message_id}")[1]
        assert kept["payload"]["body"] == "Kept Ana" and kept["state"] in ("sent", "delivered"), kept
        listed = second.call("GET", f"/messages?configuration_id={configuration['id']}")[1]["messages"]
        assert [m["message_id"] for m in listed] == [message_id]
    finally:
        second.stop()

    fresh = MakeRun(data, "--fresh")
    try:
        assert "empty" in fresh.banner()
        assert fresh.call("GET", f"/templates/{template['id']}")[0] == 404
    finally:
        fresh.stop()


@pytest.mark.parametrize(("host", "answered"), [
    ("127.0.0.1:8000", True), ("localhost:8000", True), ("[::1]:8000", True), ("localhost", True),
    ("attacker.example:8000", False), ("127.0.0.1.attacker.example", False), ("", False)])
def test_the_local_api_answers_only_to_loopback_host_names(runtime: Any, host: str, answered: bool) -> None:
    """DNS rebinding: a page on attacker.example whose name resolves to 127.0.0.1 reaches the port with its own
    name as Host; with auth off (make run's default) it would otherwise read and send everything."""
    import http.client
    from urllib.parse import urlsplit

    target = urlsplit(runtime.api_url)
    connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=10)
    connection.putrequest("GET", "/health", skip_host=True)
    if host:
        connection.putheader("Host", host)
    connection.endheaders()
    answer = connection.getresponse()
    assert (answer.status == 200) is answered, (host, answer.status, answer.read())
