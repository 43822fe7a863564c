"""The README's walkthrough, as written, against `make run`'s runtime (python -m local) on ports of its own: run
twice, with a restart between that keeps the data, and neither run prints a traceback or an error answer."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from local.runtime import free_port
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"api": 8000, "moto": 5055, "twilio": 8010, "telesign": 8011, "x": 8012, "eum": 8013}


def walkthrough() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Walkthrough", 1)[1]
    return section.split("```sh\n", 1)[1].split("\n```", 1)[0]


def status_of(url: str, key: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0  # nothing answers (yet)


def start(ports: dict[str, int], data: Path, log: Path, *more: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "local", "--data-dir", str(data), "--tick-seconds", "1", *more]
    for name, port in ports.items():
        args += [f"--{name}-port", str(port)]
    process = subprocess.Popen(args, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                               start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_for(lambda: status_of(f"http://127.0.0.1:{ports['api']}/health") == 200, 120,
                 "the local runtime's /health", interval=0.5)
    except AssertionError:
        process.kill()
        raise AssertionError(f"the local runtime did not answer: {log.read_text()[-2000:]}") from None
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C, as a person stops `make run` (it writes its data out)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


@pytest.mark.e2e
def test_the_readme_walkthrough_runs_twice_across_a_restart(tmp_path: Path) -> None:
    ports = {name: free_port() for name in PORTS}
    script = walkthrough()
    for name, default in PORTS.items():
        script = re.sub(rf"127\.0\.0\.1:{default}\b", f"127.0.0.1:{ports[name]}", script)
    # The commands that take their ports from options or the environment get this runtime's.
    script = script.replace("-m local.put_event ", f"-m local.put_event --moto-port {ports['moto']} ")
    assert f"127.0.0.1:{ports['api']}" in script and f"127.0.0.1:{ports['twilio']}" in script
    data, log = tmp_path / "data", tmp_path / "runtime.log"
    outputs = []
    for _ in range(2):
        process = start(ports, data, log)
        try:
            done = subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True, timeout=180, check=False,
                                  cwd=ROOT, env={**os.environ, "OUTBOUND_API": f"http://127.0.0.1:{ports['api']}"})
        finally:
            stop(process)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0, outputs[-1][-3000:]
    for output in outputs:
        assert "Traceback" not in output, output[-3000:]
        # Step 6 shows a refusal on purpose (a 400 naming the field); nothing else may be refused or break.
        errors = re.findall(r'"error": ?"(\w+)"', output)
        conflicts = [output[max(0, m.start() - 300):m.end() + 300] for m in re.finditer(r'"conflict"', output)]
        assert errors == ["validation_error"], (errors, conflicts)
        assert "HTTP/1.1 404" in output or "404" in output
    assert "Bonjour Dee" in outputs[1]  # the second run's automated SMS, on kept data



@pytest.mark.e2e
def test_make_run_with_auth_asks_for_the_key_it_prints(tmp_path: Path) -> None:
    """`make run ARGS=--auth`: the management routes answer 401 without a key and 403 with a wrong one, as a
    deployed stage does; the key printed at start opens them."""
    ports = {name: free_port() for name in PORTS}
    log = tmp_path / "runtime.log"
    process = start(ports, tmp_path / "data", log, "--auth")
    try:
        found = None
        for _ in range(50):
            found = re.search(r"Authorization: Bearer (\S+)", log.read_text())
            if found:
                break
            time.sleep(0.2)
        assert found, log.read_text()[-2000:]
        url = f"http://127.0.0.1:{ports['api']}/messages"
        assert status_of(url) == 401 and status_of(url, "not-the-key") == 403
        assert status_of(url, found.group(1)) == 200
        assert status_of(f"http://127.0.0.1:{ports['api']}/health") == 200  # health needs no key
    finally:
        stop(process)
