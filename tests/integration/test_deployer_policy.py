"""The deployer policy (infra/deployer-policy.json, printed in the README) holds exactly what a deploy needs.

The reference is AWS's own: the CloudFormation resource provider schemas cfn-lint ships list, per resource type,
the IAM permissions each handler (create, read, update, delete) calls with the deployer's credentials. Every one
of them is granted for every resource type the packaged stack creates, except the permissions of features this
stack does not use (each group says which); and nothing is granted beyond those and what the README's deploy
commands call themselves. The rehearsal deploys with a user holding only this policy.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import cfnlint
import pytest

from tests.cfn import ROOT, load, package

POLICY = json.loads((ROOT / "infra" / "deployer-policy.json").read_text())
SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"
# What SAM turns each serverless resource into (AWS SAM Developer Guide, "Generated AWS CloudFormation resources").
SAM = {
    "AWS::Serverless::Function": {"AWS::Lambda::Function"},
    "AWS::Serverless::Api": {"AWS::ApiGateway::RestApi", "AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage"},
}
SAM_EVENTS = {"SQS": {"AWS::Lambda::EventSourceMapping"}, "DynamoDB": {"AWS::Lambda::EventSourceMapping"},
              "Schedule": {"AWS::Events::Rule", "AWS::Lambda::Permission"},
              "CloudWatchEvent": {"AWS::Events::Rule", "AWS::Lambda::Permission"}}
# Handler permissions for features this stack does not use, so the policy leaves them out.
NOT_USED = {
    "functions in a VPC, on EFS or S3 Files, capacity providers": [
        "ec2:*", "elasticfilesystem:*", "s3files:*", "lambda:PassCapacityProvider"],
    "Kinesis or Firehose destinations, table replicas, imports, item writes by the handler": [
        "kinesis:*", "firehose:*", "dynamodb:*Replica*", "dynamodb:ImportTable", "dynamodb:DescribeImport",
        "dynamodb:EnableKinesisStreamingDestination", "dynamodb:DisableKinesisStreamingDestination",
        "dynamodb:UpdateKinesisStreamingDestination", "dynamodb:PutResourcePolicy", "dynamodb:DeleteResourcePolicy",
        "dynamodb:UpdateContributorInsights", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
        "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:Query", "dynamodb:Scan"],
    "IAM users, groups, managed policies, boundaries, service-linked roles": [
        "iam:*UserPolicy", "iam:*GroupPolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
        "iam:*RolePermissionsBoundary"],
    "provisioned concurrency (the stack's scalable targets are the message store's capacity)": [
        "lambda:*ProvisionedConcurrencyConfig"],
    "log group encryption, data protection, indexes, deletion protection, resource policies, delivery": [
        "logs:AssociateKmsKey", "logs:DisassociateKmsKey", "logs:PutDataProtectionPolicy",
        "logs:DeleteDataProtectionPolicy", "logs:PutIndexPolicy", "logs:DeleteIndexPolicy",
        "logs:PutLogGroupDeletionProtection", "logs:PutResourcePolicy", "logs:DeleteResourcePolicy",
        "logs:CreateLogDelivery", "logs:PutBearerTokenAuthentication", "logs:CreateLogStream", "logs:PutLogEvents"],
    "bucket features the payload bucket does not set": [
        "s3:PutBucketCORS", "s3:DeleteBucketCors", "s3:PutBucketWebsite", "s3:DeleteBucketWebsite",
        "s3:PutBucketReplication", "s3:DeleteBucketReplication", "s3:PutReplicationConfiguration",
        "s3:PutAnalyticsConfiguration", "s3:DeleteBucketAnalyticsConfiguration", "s3:PutInventoryConfiguration",
        "s3:PutMetricsConfiguration", "s3:DeleteBucketMetricsConfiguration", "s3:PutIntelligentTieringConfiguration",
        "s3:PutAccelerateConfiguration", "s3:PutBucketLogging", "s3:PutBucketNotification",
        "s3:PutBucketObjectLockConfiguration", "s3:PutObjectLockConfiguration", "s3:*MetadataTableConfiguration",
        "s3:*Metadata*TableConfiguration", "s3:GetObjectMetadata", "s3:PutObjectAcl", "s3:DeleteObject",
        "s3:REST.PUT.OBJECT", "s3:PutBucketVersioning", "s3:PutBucketAbac", "s3:DeleteBucketEncryption",
        "s3:DeleteBucketLifecycle", "s3tables:*"],
    "topic data protection, API resource policies": ["sns:PutDataProtectionPolicy", "apigateway:UpdateRestApiPolicy"],
}
# What the README's deploy block calls itself (the CLI, not CloudFormation): the change set, the artifacts
# bucket and its objects, the stage's SSM parameters and secrets.
DEPLOY_COMMANDS = {
    "cloudformation:*", "s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:CreateBucket",
    "s3:GetBucketPolicy", "ssm:PutParameter", "ssm:GetParameter", "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue", "secretsmanager:DescribeSecret", "lambda:GetFunctionConfiguration",
    "lambda:ListVersionsByFunction", "lambda:GetFunctionConcurrency", "lambda:ListEventSourceMappings",
    "dynamodb:DescribeStream", "dynamodb:ListStreams", "sqs:GetQueueUrl",
}


def granted_actions() -> list[str]:
    return [action for st in POLICY["Statement"]
            for action in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])]


def reference_permissions(template: dict[str, Any]) -> set[str]:
    types: set[str] = set()
    for spec in template["Resources"].values():
        kind = spec["Type"]
        types |= SAM.get(kind, {kind})
        properties = spec.get("Properties", {})
        for event in properties.get("Events", {}).values():
            types |= SAM_EVENTS[event["Type"]]
        if "EventInvokeConfig" in properties:
            types.add("AWS::Lambda::EventInvokeConfig")
    providers = json.loads((SCHEMAS / "providers" / "us-east-1.json").read_text())
    found: set[str] = set()
    for kind in types:
        schema = json.loads((SCHEMAS / "resources" / f"{providers[kind]}.json").read_text())
        for handler in ("create", "read", "update", "delete"):
            found |= set(schema.get("handlers", {}).get(handler, {}).get("permissions", []))
    return found


def unused(action: str) -> bool:
    return any(fnmatch.fnmatchcase(action, pattern) for group in NOT_USED.values() for pattern in group)


@pytest.fixture(scope="module")
def needed(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    return reference_permissions(load(package("dev", str(tmp_path_factory.mktemp("pkg-deployer")))))


def test_every_permission_cloudformation_needs_is_granted(needed: set[str]) -> None:
    granted = granted_actions()
    missing = sorted(p for p in needed if not unused(p) and not any(fnmatch.fnmatchcase(p, g) for g in granted))
    assert not missing, f"the deployer policy lacks {missing}"
    assert len(needed) > 150  # the schemas were read, for every resource type


def test_nothing_is_granted_that_no_deploy_step_needs(needed: set[str]) -> None:
    extra = sorted(a for a in granted_actions() if a not in needed and not any(
        fnmatch.fnmatchcase(a, pattern) for pattern in DEPLOY_COMMANDS))
    assert not extra, f"granted, yet neither CloudFormation's handlers nor the deploy commands call {extra}"


def test_every_grant_is_scoped_to_the_stacks_names_where_iam_can_scope_it() -> None:
    """Resource `*` only for actions IAM cannot scope to a resource (CreateEventSourceMapping, CreateKey,
    ValidateTemplate, Describe/List calls, GetMetricData) or that carry a condition; REST APIs and scalable
    targets have generated ids, so API Gateway's grant covers /restapis and auto scaling's every target."""
    for statement in POLICY["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if statement["Sid"] == "Api":
            assert all(r.startswith("arn:aws:apigateway:*::/") for r in resources)
        elif resources == ["*"] and "Condition" not in statement:
            assert statement["Sid"] in {"ValidateTemplates", "EventSourceMappingsKept", "ListLogGroups",
                                        "KeyCreation", "StoreAutoScaling"}, statement["Sid"]
        else:
            assert all("outbound" in r or "Serverless-2016-10-31" in r or r == "*" for r in resources), statement


def test_the_readme_prints_this_policy() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "infra/deployer-policy.json" in readme
