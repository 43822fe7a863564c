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
              "s3": "s3", "events": "events"}
# Sending numbers, pools and sender ids belong to the account, not to a stage: End User Messaging's SendTextMessage
# is granted by infra/template.yaml (EndUserMessagingSendPolicy, on the identities a stack parameter names), not by
# the stage's policy file.
GRANTED_BY_TEMPLATE = {"pinpoint-sms-voice-v2"}
# AWS authorises SQS batch calls with the single-message action (SQS developer guide, "API permissions").
SAME_AS = {"sqs:SendMessageBatch": "sqs:SendMessage", "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
           "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility"}
ACCOUNT, REGION = "123456789012", "eu-west-1"


def used_services() -> set[str]:
    found: set[str] = set()
    for path in SOURCES:
        found |= set(re.findall(r"""client\(["']([a-z0-9-]+)["'][,)]""", path.read_text()))
    return found


def _our_functions() -> dict[str, set[str]]:
    """Module stem -> the functions it defines: `schedules.list_schedules(...)` calls ours, not Scheduler's."""
    found: dict[str, set[str]] = {}
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        found.setdefault(path.stem, set()).update(
            node.name for node in tree.body if isinstance(node, ast.FunctionDef))
    return found


def called_names() -> set[str]:
    names: set[str] = set()
    ours = _our_functions()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                receiver = node.func.value
                if isinstance(receiver, ast.Name) and node.func.attr in ours.get(receiver.id, set()):
                    continue
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
    if service == "ssm" and operation in {"PutParameter", "DeleteParameter"}:  # JSON definitions' signing secrets
        return f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/outbound/{stage}/webhook-secrets/04k000000000001AAA"
    if service == "ssm":
        return f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/outbound/{stage}/twilio"
    if service == "scheduler":
        return f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/outbound-{stage}/sch_0123"
    if service == "pinpoint-sms-voice-v2":
        return f"arn:aws:sms-voice:{REGION}:{ACCOUNT}:phone-number/phone-0123456789abcdef"
    if service == "events":
        return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    if service == "secretsmanager":
        return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:outbound/{stage}/erp-client-cert-AbCdEf"
    raise AssertionError(f"no representative resource for {service}")


def context_for(service: str, stage: str) -> dict[str, str]:
    """What the request itself says: the account's one default bus is shared, so a stage may put only events
    whose source is its own (events:source)."""
    return {"events:source": f"outbound.{stage}"} if service == "events" else {}


def _conditions_hold(condition: dict[str, Any], context: dict[str, str]) -> bool:
    """StringEquals only (the one operator our policies use); a key absent from the request fails it."""
    assert set(condition) <= {"StringEquals"}, condition
    return all(context.get(key) == value for key, value in condition.get("StringEquals", {}).items())


def allows(policy: dict[str, Any], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """Identity-policy evaluation for Allow statements with wildcards (no Deny)."""
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if any(fnmatch.fnmatchcase(action, a) for a in actions) and any(
            fnmatch.fnmatchcase(resource, r) for r in resources
        ) and _conditions_hold(statement.get("Condition", {}), context or {}):
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
        if service in GRANTED_BY_TEMPLATE:
            continue
        action = f"{IAM_PREFIX[service]}:{operation}"
        action = SAME_AS.get(action, action)
        if not allows(policy, action, resource_for(service, operation, stage), context_for(service, stage)):
            missing.append(action)
    assert not missing, f"{stage} policy lacks {missing}"


@pytest.mark.parametrize("stage", sorted(stage_policies()))
def test_a_stage_cannot_reach_another_stages_resources(stage: str) -> None:
    policy = stage_policies()[stage]
    for other in {"dev", "prod", "local"} - {stage}:
        for service, operation in operations():
            if service in GRANTED_BY_TEMPLATE:
                continue
            action = SAME_AS.get(f"{IAM_PREFIX[service]}:{operation}", f"{IAM_PREFIX[service]}:{operation}")
            assert not allows(policy, action, resource_for(service, operation, other), context_for(service, other)
                              ), (action, other)


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
    to_scheduler = {"iam:PassedToService": "scheduler.amazonaws.com"}
    assert allows(policy, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/outbound-{stage}/outbound-{stage}-Sched-X1",
                  to_scheduler)
    for other in {"dev", "prod"} - {stage}:
        assert not allows(policy, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/outbound-{other}/x", to_scheduler)
    assert not allows(policy, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin", to_scheduler)


@pytest.mark.parametrize("stage", sorted(stage_policies()))
def test_the_scheduler_role_is_passed_to_scheduler_only(stage: str) -> None:
    """iam:PassRole without iam:PassedToService would let the API hand the role to any service that accepts one
    (IAM User Guide, "Granting a user permissions to pass a role to an AWS service")."""
    policy = stage_policies()[stage]
    role = f"arn:aws:iam::{ACCOUNT}:role/outbound-{stage}/outbound-{stage}-SchedulerRole-X1"
    assert allows(policy, "iam:PassRole", role, {"iam:PassedToService": "scheduler.amazonaws.com"})
    assert not allows(policy, "iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"})
    assert not allows(policy, "iam:PassRole", role)


# What Lambda itself does with the function's role (its logs, the event-source mappings' polling), and the
# action AWS authorises alongside a call (PassRole for the role CreateSchedule hands Scheduler).
USED_BY_LAMBDA = {"iam:PassRole", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "dynamodb:DescribeStream",
                  "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams", "sqs:ReceiveMessage",
                  "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}


@pytest.mark.parametrize("stage", sorted(stage_policies()))
def test_every_allowed_action_is_one_the_code_or_lambda_uses(stage: str) -> None:
    used = {SAME_AS.get(f"{IAM_PREFIX[s]}:{o}", f"{IAM_PREFIX[s]}:{o}") for s, o in operations()} | USED_BY_LAMBDA
    granted = {a for st in stage_policies()[stage]["Statement"]
               for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])}
    assert granted - used == set(), f"{stage} grants actions nothing calls"


def _stage_pattern() -> str:
    import yaml

    return str(yaml.safe_load((ROOT / "infra" / "template.yaml").read_text())["Parameters"]["Stage"]["AllowedPattern"])


@pytest.mark.parametrize("name", ["dev-x", "prod-eu", "Dev", "1dev", "", "a" * 17, "dev_x"])
def test_a_stage_name_that_could_share_a_prefix_is_refused(name: str) -> None:
    """Every name is `outbound-<stage>-...` and every policy pattern `outbound-<stage>-*`: a stage with a hyphen
    (`dev-x`) would fall inside dev's patterns. The stack refuses such a name before anything is created."""
    assert re.fullmatch(_stage_pattern(), name) is None


@pytest.mark.parametrize("stage", sorted(stage_policies()))
@pytest.mark.parametrize("neighbour", ["devx", "dev2", "prodx", "prod1", "de", "pro"])
def test_no_allowed_stage_name_falls_inside_another_stages_policy(stage: str, neighbour: str) -> None:
    assert re.fullmatch(_stage_pattern(), neighbour)
    if neighbour == stage:
        return
    policy = stage_policies()[stage]
    for service, operation in operations():
        if service in GRANTED_BY_TEMPLATE:
            continue
        action = SAME_AS.get(f"{IAM_PREFIX[service]}:{operation}", f"{IAM_PREFIX[service]}:{operation}")
        assert not allows(policy, action, resource_for(service, operation, neighbour)), (action, neighbour)
    assert not allows(policy, "logs:PutLogEvents",
                      f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/outbound-{neighbour}-send_sms")


@pytest.mark.parametrize("stage", sorted(stage_policies()))
def test_functions_write_only_signing_secrets(stage: str) -> None:
    """The functions create, rotate and delete JSON definitions' signing secrets; the provider credentials and
    the API keys beside them are the operator's to write."""
    policy = stage_policies()[stage]
    assert allows(policy, "ssm:PutParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/outbound/{stage}/"
                  "webhook-secrets/04k000000000001AAA")
    for name in ("twilio", "api-keys", "session-token-key"):
        for action in ("ssm:PutParameter", "ssm:DeleteParameter"):
            assert not allows(policy, action, f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/outbound/{stage}/{name}")
