"""Runs the README's "Deploying" block exactly as written, with bash, against the emulator."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- the deploy rehearsal runs this block as written -->"
OPERATOR_SCHEDULE = "<!-- the deploy rehearsal runs this operator-schedule block as written -->"


def readme_block(marker: str = MARKER, readme: Path = ROOT / "README.md") -> str:
    """The shell block that follows the marker in README.md."""
    text = readme.read_text()
    at = text.index(marker)
    found = re.search(r"```sh\n(.*?)```", text[at:], re.S)
    if found is None:
        raise ValueError(f"no ```sh block after {marker} in README.md")
    return found.group(1)


def run(environment: dict[str, str], log: Path, marker: str = MARKER,
        page: Path = ROOT / "README.md") -> dict[str, str]:
    """Run the block of `page` (`set -euo pipefail`), its output in `log`; returns the KEY=value lines it printed."""
    script = "set -euo pipefail\n" + readme_block(marker, page)
    with log.open("w") as out:
        done = subprocess.run(["bash", "-c", script], cwd=ROOT, env={**os.environ, **environment},
                              stdout=subprocess.PIPE, stderr=out, text=True, check=False, timeout=1200)
        out.write(done.stdout)
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-25:])
        raise RuntimeError(f"the README's block failed (exit {done.returncode}):\n{tail}")
    values = {}
    for line in done.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Z_]+", key):
            values[key] = value.strip()
    return values
