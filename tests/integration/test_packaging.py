"""The deployment artefacts stay valid: infra's standalone resources and Chalice's merged package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from local.runtime import plain_resources

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "cfn-lint"), str(path)], capture_output=True, text=True, check=False)


def test_infra_resources_lint_clean(tmp_path: Path) -> None:
    target = tmp_path / "resources.json"
    target.write_text(json.dumps(plain_resources()))
    result = cfn_lint(target)
    assert result.returncode == 0, result.stdout + result.stderr


def test_chalice_package_merged_with_infra_lints_and_sets_batch_failures(tmp_path: Path) -> None:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("RECORDS_STREAM_ARN", None)
    out = tmp_path / "pkg"
    done = subprocess.run([str(BIN / "chalice"), "package", "--stage", "dev", "--merge-template",
                           "infra/template.yaml", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    template_path = out / "sam.yaml"
    result = cfn_lint(template_path)
    assert result.returncode == 0, result.stdout + result.stderr
    template = yaml.safe_load(template_path.read_text())
    resources = template["Resources"]
    stream = resources["OnRecordChange"]["Properties"]["Events"]["OnRecordChangeDynamodbEventSource"]["Properties"]
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["Stream"] == {"Fn::GetAtt": ["RecordsTable", "StreamArn"]}
    assert stream["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["StreamFailureQueue", "Arn"]}
    for channel in ("Soap", "Sms", "Whatsapp", "Twitter"):
        sqs = resources[f"Send{channel}"]["Properties"]["Events"][f"Send{channel}SqsEventSource"]["Properties"]
        assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert resources["UnknownRouteResponse"]["Properties"]["StatusCode"] == "404"
    # dev requires API keys (API_AUTH on): management routes carry the authorizer, signed webhooks do not.
    paths = resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    assert paths["/sends"]["post"]["security"] == [{"api_key": []}]
    assert "security" not in paths["/webhooks/twilio/status"]["post"] and "security" not in paths["/health"]["get"]
