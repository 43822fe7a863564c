"""Cold start: `python -X importtime` of app.py against a bare Chalice app, as each kind of function imports it
(Lambda's `_HANDLER` names the function: only the API's registers the routes), the modules each kind adds on its
first invocation, and the size of the deployment package `chalice package` builds."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from local.runtime import ROOT

RUNS = 7
BARE_APP = 'from chalice import Chalice\n\napp = Chalice(app_name="bare")\n'
SENDER = "app.send_sms"
API = "app.app"
FIRST_CALL = {  # (the function's handler, what its first invocation imports)
    "SMS sender": (SENDER, "from chalicelib.senders import pipeline"),
    "stream trigger": ("app.on_record_change", "from chalicelib.triggers import stream"),
}


def _env(cwd: Path, handler: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "_HANDLER"} | {"PYTHONPATH": str(cwd)}
    return env | ({"_HANDLER": handler} if handler else {})


def _import_ms(module: str, cwd: Path, handler: str | None = None) -> float:
    """Cumulative import time of `module` in a fresh interpreter, from its -X importtime line."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env=_env(cwd, handler),
    )
    for line in reversed(done.stderr.splitlines()):
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module:
            return int(parts[1]) / 1000
    raise RuntimeError(f"no importtime line for {module}")


def _first_call_ms(handler: str, statement: str) -> float:
    """Wall time of the imports a function's first invocation adds after app.py is loaded."""
    code = f"import time\nimport app\nstart = time.perf_counter()\n{statement}\nprint(time.perf_counter() - start)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=_env(ROOT, handler),
    )
    return float(done.stdout.strip()) * 1000


def measure() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bare_app.py").write_text(BARE_APP)
        bare = statistics.median(_import_ms("bare_app", Path(tmp)) for _ in range(RUNS))
    result = {
        "bare_ms": bare,
        "app_ms": statistics.median(_import_ms("app", ROOT, SENDER) for _ in range(RUNS)),
        "api_app_ms": statistics.median(_import_ms("app", ROOT, API) for _ in range(RUNS)),
        "authorizer_ms": statistics.median(_import_ms("chalicelib.api.authorizer", ROOT) for _ in range(RUNS)),
    }
    for name, (handler, statement) in FIRST_CALL.items():
        result[f"first call: {name}"] = statistics.median(_first_call_ms(handler, statement) for _ in range(RUNS))
    return result


def package_size() -> tuple[int, int]:
    """(zipped bytes, unzipped bytes) of the Lambda deployment package for the dev stage."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
        env.pop("RECORDS_STREAM_ARN", None)
        chalice = Path(sys.executable).parent / "chalice"
        subprocess.run(
            [str(chalice), "package", "--stage", "dev", "--merge-template", "infra/template.yaml", tmp],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        archive = Path(tmp, "deployment.zip")
        with zipfile.ZipFile(archive) as zipped:
            unzipped = sum(info.file_size for info in zipped.infolist())
        return archive.stat().st_size, unzipped
