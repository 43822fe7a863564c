"""Every AWS operation the code can call is allowed by each stage's IAM policy, on that stage's resources only.

The operations are collected from the source (every `<client>.<operation>(` and `get_paginator("<op>")` whose
name is an operation of a service the code creates a client for, in botocore's own service models), so a new
call cannot ship without its permission: the deploy rehearsal found `dynamodb:BatchGetItem` missing that way.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_ONLY = "# operator tool: runs with the operator's credentials, never in a function"
SOURCES = [p for p in [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
           if OPERATOR_ONLY not in p.read_text()]
IAM_PREFIX = {"dynamodb": "dynamodb", "dynamodbstreams": "dynamodb", "sqs": "sqs", "ssm": "ssm",
              "secretsmanager": "secretsmanager", "scheduler": "scheduler", "pinpoint-sms-voice-v2": "sms-voice",
              "s3": "s3"}
# Sending numbers, pools and sender ids belong to the account, not to a stage: End User Messaging's SendTextMessage
# is allowed on the account's identities, and is the one call not scoped to the stage's own resources.
ACCOUNT_WIDE = {"pinpoint-sms-voice-v2"}
# AWS authorises SQS batch calls with the single-message action (SQS developer guide, "API permissions").
SAME_AS = {"sqs:SendMessageBatch": "sqs:SendMessage", "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
           "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility"}
ACCOUNT, REGION = "123456789012", "eu-west-1"


def used_services() -> set[str]:
    found: set[str] = set()
    for path in SOURCES:
        found |= set(re.findall(r"""client\(["']([a-z0-9-]+)["'][,)]""", path.read_text()))
    return found


def called_names() -> set[str]:
    names: set[str] = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                names.add(node.func.attr)
                if node.func.attr == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                    names.add(str(node.args[0].value))
    return names


def operations() -> set[tuple[str, str]]:
    """(service, OperationName) for every call site that names an operation of a service we use."""
    session = botocore.session.get_session()
    names = called_names()
    found = set()
    for service in used_services():
        model = session.get_service_model(service)
        for operation in model.operation_names:
            if botocore.xform_name(operation) in names:
                found.add((service, operation))
    return found


def resource_for(service: str, operation: str, stage: str) -> str:
    """A representative ARN of the stage's own resources that the operation acts on."""
    if service == "dynamodbstreams":
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/outbound-{stage}-records/stream/2026-11-25T00:00:00.000"
    if service == "dynamodb":
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/outbound-{stage}-message-store"
    if service == "s3":
        return f"arn:aws:s3:::outbound-{stage}-payloads-{ACCOUNT}-{REGION}/payloads/msg_0123.json.z"
    if service == "sqs":
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:outbound-{stage}-sms"
    if service == "ssm":
        return f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/outbound/{stage}/twilio"
    if service == "scheduler":
        return f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/outbound-{stage}/sch_0123"
    if service == "pinpoint-sms-voice-v2":
        return f"arn:aws:sms-voice:{REGION}:{ACCOUNT}:phone-number/phone-0123456789abcdef"
    if service == "secretsmanager":
        return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:outbound/{stage}/erp-client-cert-AbCdEf"
    raise AssertionError(f"no representative resource for {service}")


def allows(policy: dict[str, Any], action: str, resource: str) -> bool:
    """Identity-policy evaluation for Allow statements with wildcards (no Deny, no conditions: ours has none)."""
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow" and "Condition" not in statement
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if any(fnmatch.fnmatchcase(action, a) for a in actions) and any(
            fnmatch.fnmatchcase(resource, r) for r in resources
        ):
            return True
    return False


def stage_policies() -> dict[str, dict[str, Any]]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    policies = {}
    for stage, settings in config["stages"].items():
        if "iam_policy_file" in settings:
            policies[stage] = json.loads((ROOT / ".chalice" / settings["iam_policy_file"]).read_text())
    return policies


def test_the_source_scan_finds_the_calls_we_know_of() -> None:
    found = operations()
    for known in [("dynamodb", "BatchGetItem"), ("dynamodb", "Query"), ("sqs", "SendMessageBatch"),
                  ("ssm", "GetParameter"), ("dynamodbstreams", "GetRecords"), ("sqs", "ChangeMessageVisibilityBatch"),
                  ("pinpoint-sms-voice-v2", "SendTextMessage")]:
        assert known in found


@pytest.mark.parametrize("stage", sorted(stage_policies()))
def test_every_operation_is_allowed_on_the_stages_own_resources(stage: str) -> None:
    policy = stage_policies()[stage]
    missing = []
    for service, operation in sorted(operations()):
        action = f"{IAM_PREFIX[service]}:{operation}"
        action = SAME_AS.get(action, action)
        if not allows(policy, action, resource_for(service, operation, stage)):
            missing.append(action)
    assert not missing, f"{stage} policy lacks {missing}"


@pytest.mark.parametrize("stage", sorted(stage_policies()))
def test_a_stage_cannot_reach_another_stages_resources(stage: str) -> None:
    policy = stage_policies()[stage]
    for other in {"dev", "prod", "local"} - {stage}:
        for service, operation in operations():
            if service in ACCOUNT_WIDE:
                continue
            action = SAME_AS.get(f"{IAM_PREFIX[service]}:{operation}", f"{IAM_PREFIX[service]}:{operation}")
            assert not allows(policy, action, resource_for(service, operation, other)), (action, other)


def test_stage_policies_differ_only_in_the_stage_name() -> None:
    policies = stage_policies()
    assert set(policies) == {"dev", "prod"}
    assert json.dumps(policies["dev"]).replace("dev", "STAGE") == json.dumps(policies["prod"]).replace("prod", "STAGE")


@pytest.mark.parametrize("stage", sorted(stage_policies()))
def test_the_api_may_pass_only_its_stages_scheduler_role(stage: str) -> None:
    """CreateSchedule/UpdateSchedule hand Scheduler a role to assume: iam:PassRole on infra's SchedulerRole
    (path /outbound-<stage>/), and on no other stage's role."""
    policy = stage_policies()[stage]
    assert ("scheduler", "CreateSchedule") in operations()
    assert allows(policy, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/outbound-{stage}/outbound-{stage}-Sched-X1")
    for other in {"dev", "prod"} - {stage}:
        assert not allows(policy, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/outbound-{other}/x")
    assert not allows(policy, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin")
