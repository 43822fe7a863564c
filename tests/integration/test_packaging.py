"""The deployment artefacts stay valid and say what AWS will enforce: infra's standalone resources and
Chalice's package merged with infra/template.yaml, exactly as the README's "Deploying" section builds it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from local.runtime import plain_resources

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHANNELS = ("Soap", "Sms", "Whatsapp", "Twitter")
SENDERS = [f"Send{c}" for c in CHANNELS]


def cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "cfn-lint"), str(path)], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("RECORDS_STREAM_ARN", None)
    out = tmp_path_factory.mktemp("pkg")
    done = subprocess.run([str(BIN / "chalice"), "package", "--stage", "dev", "--merge-template",
                           "infra/template.yaml", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return out / "sam.yaml"


@pytest.fixture(scope="module")
def resources(packaged: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(packaged.read_text())["Resources"])


def test_infra_resources_lint_clean(tmp_path: Path) -> None:
    target = tmp_path / "resources.json"
    target.write_text(json.dumps(plain_resources()))
    result = cfn_lint(target)
    assert result.returncode == 0, result.stdout + result.stderr


def test_merged_package_lints_clean(packaged: Path) -> None:
    result = cfn_lint(packaged)
    assert result.returncode == 0, result.stdout + result.stderr


def test_merged_package_needs_an_s3_bucket_to_deploy(packaged: Path) -> None:
    """CloudFormation refuses an inline template over 51,200 bytes: the README's deploy passes --s3-bucket."""
    assert packaged.stat().st_size > 51_200
    readme = (ROOT / "README.md").read_text()
    deploy = [line for line in readme.splitlines() if "aws cloudformation deploy" in line]
    assert deploy and all("--s3-bucket" in line for line in deploy)


def test_event_sources_report_batch_failures_and_name_their_queues(resources: dict[str, Any]) -> None:
    stream = resources["OnRecordChange"]["Properties"]["Events"]["OnRecordChangeDynamodbEventSource"]["Properties"]
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["BisectBatchOnFunctionError"] is True
    assert stream["Stream"] == {"Fn::GetAtt": ["RecordsTable", "StreamArn"]}
    assert stream["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["StreamFailureQueue", "Arn"]}
    for channel in CHANNELS:
        sqs = resources[f"Send{channel}"]["Properties"]["Events"][f"Send{channel}SqsEventSource"]["Properties"]
        assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        # A reference, not an ARN string: CloudFormation then creates the queue before the mapping.
        assert sqs["Queue"] == {"Fn::GetAtt": [f"{channel}Queue", "Arn"]}
        assert sqs["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "SenderMaximumConcurrency"}}
    failures = resources["OnStreamFailure"]["Properties"]["Events"]["OnStreamFailureSqsEventSource"]["Properties"]
    assert failures["Queue"] == {"Fn::GetAtt": ["StreamFailureQueue", "Arn"]}


def test_message_sources_wait_seconds_for_company_not_longer(resources: dict[str, Any]) -> None:
    """Every source a message passes through has a batching window: without one a lone change is a SOAP
    message of one notification and each sender invocation carries one message; with more than a few seconds
    a lone change waits visibly."""
    sources = {name: event["Properties"] for name, resource in resources.items()
               if resource.get("Type") == "AWS::Serverless::Function"
               for event in resource["Properties"].get("Events", {}).values()
               if event["Type"] in {"SQS", "DynamoDB"}}
    sources["SourceTableEventSource"] = resources["SourceTableEventSource"]["Properties"]
    windows = {name: props.get("MaximumBatchingWindowInSeconds", 0) for name, props in sources.items()
               if props.get("BatchSize", 10) > 1}
    assert {"OnRecordChange", "SendSms", "SendSoap", "OnRecordEvent", "SourceTableEventSource"} <= set(windows)
    assert all(1 <= window <= 5 for window in windows.values()), windows


def test_the_lambda_authorizer_guards_the_management_routes(resources: dict[str, Any]) -> None:
    """What API Gateway enforces is the security *definition*: an `apiKey` scheme without the custom
    authtype is a usage-plan key (x-api-key), and the Lambda authorizer is then never called."""
    body = resources["RestAPI"]["Properties"]["DefinitionBody"]
    definitions = body["securityDefinitions"]
    assert set(definitions) == {"bearer_key"}
    scheme = definitions["bearer_key"]
    assert scheme["x-amazon-apigateway-authtype"] == "custom"
    assert scheme["name"] == "Authorization" and scheme["in"] == "header"
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "token"
    # how long a revoked key may still pass through API Gateway's cache: the stage's setting, not Chalice's 300 s
    assert authorizer["authorizerResultTtlInSeconds"] == 60
    assert "BearerKey.Arn" in json.dumps(authorizer["authorizerUri"])
    paths = body["paths"]
    assert paths["/sends"]["post"]["security"] == [{"bearer_key": []}]
    assert paths["/messages"]["get"]["security"] == [{"bearer_key": []}]
    for open_route in (("/webhooks/twilio/status", "post"), ("/webhooks/telesign/status", "post"), ("/health", "get"),
                       ("/openapi.json", "get")):
        assert "security" not in paths[open_route[0]][open_route[1]]


def test_only_the_api_function_registers_the_routes(resources: dict[str, Any]) -> None:
    """app.py registers the route blueprints where Lambda's _HANDLER is "app.app" (or unset): that must be the
    REST API's function and no other, or the API answers nothing (or every sender loads the whole API). The
    authorizer's function loads its own module, without app.py."""
    handlers = {spec["Properties"]["Handler"]: name for name, spec in resources.items()
                if spec.get("Type") == "AWS::Serverless::Function"}
    assert handlers["app.app"] == "APIHandler"
    assert handlers["chalicelib.api.authorizer.bearer_key"] == "BearerKey"
    assert all(h.startswith("app.") for h in handlers if h not in ("app.app", "chalicelib.api.authorizer.bearer_key"))
    uri = json.dumps(resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"]["/sends"]["post"])
    assert "APIHandler.Arn" in uri


def test_brakes_alarms_and_log_retention(resources: dict[str, Any]) -> None:
    settings = resources["RestAPI"]["Properties"]["MethodSettings"][0]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRate"}
    functions = [name for name, spec in resources.items() if spec.get("Type") == "AWS::Serverless::Function"]
    # api, authorizer, stream, stream failures, tick, scheduled send, four senders, End User Messaging events,
    # provider webhooks (function URL), the team's events, End User Messaging's inbound SMS
    assert len(functions) == 14
    for name in functions:
        group = resources[name]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert resources[f"{name}ErrorsAlarm"]["Properties"]["Dimensions"][0]["Value"] == {"Ref": name}
    alarmed_queues = {
        spec["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for spec in resources.values()
        if spec.get("Type") == "AWS::CloudWatch::Alarm" and spec["Properties"]["Namespace"] == "AWS/SQS"
    }
    dead_letter = {f"{c}DeadLetterQueue" for c in CHANNELS}
    assert dead_letter | {"StreamFailureQueue", "TickFailureQueue", "ScheduleDeadLetterQueue"} | {
        f"{c}Queue" for c in CHANNELS} <= alarmed_queues
    tick = resources["OnMinute"]["Properties"]["EventInvokeConfig"]
    assert tick["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["TickFailureQueue", "Arn"]}
    events = resources["OnSmsEvent"]["Properties"]["EventInvokeConfig"]
    assert events["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["SmsEventFailureQueue", "Arn"]}


def test_provider_webhooks_have_a_public_function_url_and_record_builders_know_it(
        resources: dict[str, Any]) -> None:
    """A callback through API Gateway REST costs $3.50 per million; through a function URL, nothing per request."""
    url = resources["WebhooksUrl"]
    assert url["Type"] == "AWS::Lambda::Url" and url["Properties"]["AuthType"] == "NONE"
    assert url["Properties"]["TargetFunctionArn"] == {"Fn::GetAtt": ["Webhooks", "Arn"]}
    grants = {spec["Properties"]["Action"]: spec["Properties"] for spec in resources.values()
              if spec.get("Type") == "AWS::Lambda::Permission" and spec["Properties"]["FunctionName"] == {
                  "Ref": "Webhooks"}}
    assert grants["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "NONE"
    assert grants["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True
    for builder in ("APIHandler", "OnRecordChange", "ScheduledSend"):
        variables = resources[builder]["Properties"]["Environment"]["Variables"]
        assert variables["WEBHOOK_URL"] == {"Fn::GetAtt": ["WebhooksUrl", "FunctionUrl"]}, builder


def test_end_user_messaging_events_reach_their_function(resources: dict[str, Any]) -> None:
    """End User Messaging puts its SMS delivery events on the default bus; the packaged rule sends them on."""
    from chalicelib.operations import eum_events

    (rule,) = [spec for spec in resources["OnSmsEvent"]["Properties"]["Events"].values()
               if spec["Type"] == "CloudWatchEvent"]
    assert rule["Properties"]["Pattern"] == eum_events.PATTERN


def test_public_url_comes_from_the_stack_not_a_placeholder(resources: dict[str, Any]) -> None:
    """The first deploy works unedited: the API derives its URL per request (Globals' PUBLIC_API_URL is the
    empty override), the functions that build callbacks outside a request get the stack's own URL."""
    assert "PUBLIC_API_URL" not in resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    for name in ("OnMinute", "OnRecordChange", "OnStreamFailure", "ScheduledSend"):
        value = resources[name]["Properties"]["Environment"]["Variables"]["PUBLIC_API_URL"]
        assert "${RestAPI}.execute-api" in json.dumps(value)
    for variables in (resources[name]["Properties"]["Environment"]["Variables"] for name in SENDERS):
        assert "TWILIO_BASE_URL" not in variables  # from Globals, i.e. the TwilioBaseUrl parameter


def test_chalice_deploy_is_refused_before_it_touches_aws() -> None:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # nothing listens there: any AWS call would fail differently
    done = subprocess.run([str(BIN / "chalice"), "deploy", "--stage", "dev"], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False, timeout=120)
    assert done.returncode != 0
    assert "chalice package --merge-template infra/template.yaml" in done.stdout + done.stderr
    assert not (ROOT / ".chalice" / "deployed" / "dev.json").exists()


def test_api_gateways_own_answers_have_the_apis_error_shape(resources: dict[str, Any]) -> None:
    shapes = {spec["Properties"]["ResponseType"]: spec["Properties"] for spec in resources.values()
              if spec.get("Type") == "AWS::ApiGateway::GatewayResponse"}
    assert set(shapes) >= {"MISSING_AUTHENTICATION_TOKEN", "UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX", "DEFAULT_5XX"}
    for response in shapes.values():
        template = response["ResponseTemplates"]["application/json"]
        assert '"error":' in template and '"message":' in template


def test_scheduler_wiring(resources: dict[str, Any]) -> None:
    """Chalice has no decorator for EventBridge Scheduler: the group, the role Scheduler assumes (it may invoke
    the scheduled-send function and write the schedule DLQ, nothing else) and what the API needs to create
    schedules come from infra/template.yaml."""
    assert resources["ScheduledSend"]["Type"] == "AWS::Serverless::Function"
    assert resources["ScheduleGroup"]["Properties"]["Name"] == {"Fn::Sub": "outbound-${Stage}"}
    role = resources["SchedulerRole"]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    granted = [(st["Action"], st["Resource"]) for p in role["Policies"] for st in p["PolicyDocument"]["Statement"]]
    function_arn = {"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
                               "outbound-${Stage}-scheduled_send"}
    assert resources["ScheduledSend"]["Properties"]["FunctionName"] == {"Fn::Sub": "outbound-${Stage}-scheduled_send"}
    assert granted == [("lambda:InvokeFunction", function_arn),
                       ("sqs:SendMessage", {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]})]
    assert role["Path"] == {"Fn::Sub": "/outbound-${Stage}/"}  # what the API's iam:PassRole is scoped to
    api = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert api["SCHEDULED_SEND_ARN"] == function_arn  # by name: a GetAtt would close a cycle through RestAPI
    assert api["SCHEDULER_ROLE_ARN"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert api["SCHEDULE_DLQ_ARN"] == {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}
    assert api["SCHEDULE_GROUP"] == "outbound-dev"


def test_the_packaged_resources_have_no_dependency_cycle(resources: dict[str, Any]) -> None:
    """CloudFormation refuses a stack whose resources depend on each other in a circle (the deploy rehearsal
    found one: the API needed the scheduled-send function's ARN, which needed the API's URL); cfn-lint did not."""
    from local.runtime import references

    names = set(resources)
    edges = {name: (references(spec.get("Properties", {})) & names) | set(
        [spec["DependsOn"]] if isinstance(spec.get("DependsOn"), str) else spec.get("DependsOn", []))
        for name, spec in resources.items()}
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        assert state.get(name) != 1, "cycle: " + " -> ".join([*path[path.index(name):], name])
        state[name] = 1
        for target in sorted(edges.get(name, ())):
            visit(target, [*path, name])
        state[name] = 2

    for name in sorted(names):
        visit(name, [])
