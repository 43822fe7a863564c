"""The rehearsal's own tools, each in its own virtualenv under .rehearsal/ (created on first use, pinned):
ministack pins its own botocore, and the AWS CLI pins another, so neither can share the project's venv."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".rehearsal"

# ministack runs the Lambda functions with its own interpreter; aws-sam-translator is its optional SAM
# transform (Chalice packages a SAM template). boto3 is pinned to the botocore ministack pins.
MINISTACK = ["ministack==1.5.33", "aws-sam-translator==1.115.0", "botocore==1.43.106", "boto3==1.43.106"]
AWS_CLI = ["awscli==1.46.3"]


def _ensure(name: str, requirements: list[str]) -> Path:
    """The venv's bin directory, (re)created when the pinned requirements changed."""
    home = HOME / name
    stamp = home / ".requirements"
    wanted = "\n".join(requirements)
    if stamp.exists() and stamp.read_text() == wanted:
        return home / "bin"
    print(f"rehearsal: installing {', '.join(requirements)} into {home.relative_to(ROOT)}", flush=True)
    venv.EnvBuilder(clear=True, with_pip=True).create(home)
    python = str(home / "bin" / "python")
    with (HOME / f"{name}-pip.log").open("w") as log:
        done = subprocess.run([python, "-m", "pip", "install", "--disable-pip-version-check", *requirements],
                              stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pip could not install {requirements}; see {HOME / f'{name}-pip.log'}")
    stamp.write_text(wanted)
    return home / "bin"


def ministack_bin() -> Path:
    return _ensure("ministack", MINISTACK)


def aws_cli_bin() -> Path:
    return _ensure("awscli", AWS_CLI)


def fingerprint() -> str:
    return hashlib.sha256("\n".join(MINISTACK + AWS_CLI + [sys.version]).encode()).hexdigest()[:12]
