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
    lines = [json.loads(r.getMessage()) for r in caplog.records if '"api.access"' in r.getMessage()]
    mine = [line for line in lines if line["path"] == "/templates/tpl_missing_for_access_log"]
    assert mine and mine[0]["method"] == "GET" and mine[0]["status"] == 404 and mine[0]["ts"].endswith("Z")
