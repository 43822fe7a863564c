"""AWS's deploy-time rules, checked on the packaged template of every deployable stage.

ministack and cfn-lint accept templates that AWS refuses or runs differently; each test here is one rule AWS
documents (the source is in its docstring) that an emulator lets through. The README lists them beside "What it
cannot prove". A template that breaks one would roll back on its first deploy to a real account, or misbehave
there in a way no local run shows.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cfn import ROOT, Stack, load, package

STAGES = sorted(stage for stage, spec in json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"].items()
                if "iam_policy_file" in spec)
FUNCTION = "AWS::Serverless::Function"
LONGEST_STAGE = "a" * 16  # the Stage parameter's AllowedPattern allows at most 16 characters
LONGEST_REGION = "us-isof-south-1"  # 15 characters, the longest region code


@pytest.fixture(scope="module", params=STAGES)
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return load(package(request.param, str(tmp_path_factory.mktemp(f"pkg-{request.param}"))))


@pytest.fixture
def stack(template: dict[str, Any]) -> Stack:
    return Stack(template)


def functions(stack: Stack) -> dict[str, dict[str, Any]]:
    return {name: stack.properties(name) for name in stack.of_type(FUNCTION)}


def event_sources(stack: Stack, kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [(name, event["Properties"]) for name, props in functions(stack).items()
            for event in props.get("Events", {}).values() if event["Type"] == kind]


def queue_name(arn_placeholder: str) -> str:
    found = re.fullmatch(r"<(\w+)\.Arn>", arn_placeholder)
    assert found, f"an event source names its queue by GetAtt, not {arn_placeholder}"
    return found[1]


def test_sqs_visibility_timeout_covers_each_consuming_function(stack: Stack) -> None:
    """Lambda refuses the mapping when the queue's visibility timeout is below the function's timeout
    (InvalidParameterValueException), and recommends six times the timeout plus the batching window (Lambda
    Developer Guide, "Using Lambda with Amazon SQS": "Configuring a queue to use with Lambda")."""
    for function, source in event_sources(stack, "SQS"):
        queue = stack.properties(queue_name(source["Queue"]))
        visibility = int(queue.get("VisibilityTimeout", 30))
        timeout = int(functions(stack)[function]["Timeout"])
        window = int(source.get("MaximumBatchingWindowInSeconds", 0))
        assert visibility >= 6 * timeout + window, (
            f"{function}: its queue hides a message {visibility} s, the function may run {timeout} s")


def test_sqs_event_source_limits(stack: Stack) -> None:
    """Batch size 1-10,000, and above 10 only with a batching window of at least 1 s; a batching window of
    0-300 s; maximum concurrency 2-1,000 (Lambda API Reference, CreateEventSourceMapping)."""
    for function, source in event_sources(stack, "SQS"):
        batch = int(source.get("BatchSize", 10))
        window = int(source.get("MaximumBatchingWindowInSeconds", 0))
        assert 1 <= batch <= 10_000 and 0 <= window <= 300, function
        assert batch <= 10 or window >= 1, f"{function}: batch {batch} needs a batching window"
        if "ScalingConfig" in source:
            assert 2 <= int(source["ScalingConfig"]["MaximumConcurrency"]) <= 1000, function
        assert set(source.get("FunctionResponseTypes", [])) <= {"ReportBatchItemFailures"}


def test_stream_event_source_limits(stack: Stack) -> None:
    """Batch size 1-10,000; batching window 0-300 s; retries -1 to 10,000; record age -1 or 60-604,800 s;
    parallelization 1-10; an on-failure destination of SQS, SNS or S3 (Lambda API Reference,
    CreateEventSourceMapping; Developer Guide, "Using Lambda with DynamoDB")."""
    sources = event_sources(stack, "DynamoDB")
    assert sources
    for function, source in sources:
        assert 1 <= int(source.get("BatchSize", 100)) <= 10_000, function
        assert 0 <= int(source.get("MaximumBatchingWindowInSeconds", 0)) <= 300, function
        assert -1 <= int(source.get("MaximumRetryAttempts", -1)) <= 10_000, function
        age = int(source.get("MaximumRecordAgeInSeconds", -1))
        assert age == -1 or 60 <= age <= 604_800, function
        assert 1 <= int(source.get("ParallelizationFactor", 1)) <= 10, function
        assert source["StartingPosition"] in {"TRIM_HORIZON", "LATEST"}, function
        destination = source.get("DestinationConfig", {}).get("OnFailure", {})
        assert destination.get("Type", "SQS") in {"SQS", "SNS", "S3"}, function


def test_function_limits(stack: Stack) -> None:
    """Timeout 1-900 s, memory 128-10,240 MB, and all environment variables together at most 4 KB (Lambda
    Developer Guide, "Lambda quotas"): counted with every URL parameter at 200 characters."""
    urls = ("PublicApiUrl", "TwilioBaseUrl", "TelesignBaseUrl", "XBaseUrl", "EndUserMessagingUrl")
    long_urls = Stack(stack.template, dict.fromkeys(urls, "https://" + "x" * 192))
    globals_env = long_urls.value(stack.template["Globals"]["Function"]["Environment"]["Variables"])
    for name in stack.of_type(FUNCTION):
        props = long_urls.properties(name)
        assert 1 <= int(props["Timeout"]) <= 900 and 128 <= int(props["MemorySize"]) <= 10_240, name
        variables = {**globals_env, **props.get("Environment", {}).get("Variables", {})}
        size = sum(len(k) + len(str(v) if not str(v).startswith("<") else "x" * 100) for k, v in variables.items())
        assert size <= 4096, f"{name}: {size} bytes of environment"


def test_asynchronously_invoked_functions_keep_what_fails(stack: Stack) -> None:
    """EventBridge rules, schedules and Scheduler invoke Lambda asynchronously: Lambda retries a failing event
    twice, then drops it unless the function has an on-failure destination (Lambda Developer Guide, "Asynchronous
    invocation"; EventBridge Scheduler User Guide: its DLQ receives only what Scheduler could not deliver).
    MaximumRetryAttempts 0-2, MaximumEventAgeInSeconds 60-21,600 (AWS::Lambda::EventInvokeConfig)."""
    props = functions(stack)
    invoked_async = {name for name, p in props.items()
                     if any(e["Type"] in {"Schedule", "CloudWatchEvent"} for e in p.get("Events", {}).values())}
    target = stack.value(stack.template["Resources"]["SchedulerRole"]["Properties"]["Policies"][0]
                         ["PolicyDocument"]["Statement"][0]["Resource"])
    invoked_async |= {name for name, p in props.items() if str(target).endswith(f":function:{p.get('FunctionName')}")}
    assert {"OnMinute", "OnSmsEvent", "ScheduledSend"} <= invoked_async
    for name in invoked_async:
        config = props[name].get("EventInvokeConfig")
        assert config, f"{name} is invoked asynchronously and has no on-failure destination"
        assert 0 <= int(config["MaximumRetryAttempts"]) <= 2 and 60 <= int(config["MaximumEventAgeInSeconds"]) <= 21_600
        assert config["DestinationConfig"]["OnFailure"]["Type"] in {"SQS", "SNS", "Lambda", "EventBridge", "S3"}
    schedule_dlq = props["ScheduledSend"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]
    assert schedule_dlq == "<ScheduleDeadLetterQueue.Arn>", "the README says failed firings land on the schedule DLQ"


def test_every_function_has_a_concurrency_bound(stack: Stack) -> None:
    """No function may take the account's whole concurrency: a reservation (Lambda keeps 100 unreserved, so the
    defaults together stay under the default quota's 1,000 - 100), the SQS mapping's maximum concurrency (which
    must not exceed a reservation, or Lambda throttles the mapping), or a stream's shards."""
    reserved = 0
    for name, props in functions(stack).items():
        sqs = [e["Properties"] for e in props.get("Events", {}).values() if e["Type"] == "SQS"]
        stream = [e for e in props.get("Events", {}).values() if e["Type"] == "DynamoDB"]
        limit = props.get("ReservedConcurrentExecutions")
        if limit is not None:
            reserved += int(limit)
            for source in sqs:
                assert int(source.get("ScalingConfig", {}).get("MaximumConcurrency", 1000)) <= int(limit), name
        bounded = limit is not None or any("ScalingConfig" in s for s in sqs) or bool(stream)
        assert bounded, f"{name} has no concurrency bound"
    assert reserved <= 900, f"the default reservations ({reserved}) leave Lambda less than 100 unreserved"
    webhooks = stack.resources["Webhooks"]["Properties"]["ReservedConcurrentExecutions"]
    assert webhooks == {"Fn::If": ["ReserveWebhooks", {"Ref": "WebhooksConcurrency"}, {"Ref": "AWS::NoValue"}]}
    unbounded = Stack(stack.template, {"WebhooksConcurrency": "-1", "ApiConcurrency": "-1", "EventConcurrency": "-1"})
    assert all("ReservedConcurrentExecutions" not in p for p in (unbounded.properties(n) for n in
                                                                  unbounded.of_type(FUNCTION)))


def test_names_fit_for_the_longest_stage_and_region(stack: Stack) -> None:
    """Name limits (each service's API reference): S3 bucket 3-63 lowercase letters, digits, hyphens; SQS queue
    1-80; DynamoDB table 3-255; Lambda function 1-64; Scheduler group 1-64; CloudWatch alarm 1-255; SNS topic 1-256;
    log group 1-512; IAM path 1-512; CloudFormation stack 1-128 (`outbound-<stage>`)."""
    longest = Stack(stack.template, {"Stage": LONGEST_STAGE}, {"AWS::Region": LONGEST_REGION})
    assert re.fullmatch(str(stack.template["Parameters"]["Stage"]["AllowedPattern"]), LONGEST_STAGE)
    assert not re.fullmatch(str(stack.template["Parameters"]["Stage"]["AllowedPattern"]), LONGEST_STAGE + "a")
    rules = {
        "AWS::S3::Bucket": ("BucketName", r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]"),
        "AWS::SQS::Queue": ("QueueName", r"[A-Za-z0-9_-]{1,80}"),
        "AWS::DynamoDB::Table": ("TableName", r"[A-Za-z0-9_.-]{3,255}"),
        FUNCTION: ("FunctionName", r"[A-Za-z0-9_-]{1,64}"),
        "AWS::Scheduler::ScheduleGroup": ("Name", r"[0-9A-Za-z_.-]{1,64}"),
        "AWS::CloudWatch::Alarm": ("AlarmName", r".{1,255}"),
        "AWS::SNS::Topic": ("TopicName", r"[A-Za-z0-9_-]{1,256}"),
        "AWS::Logs::LogGroup": ("LogGroupName", r"[.\-_/#A-Za-z0-9]{1,512}"),
        "AWS::IAM::Role": ("Path", r"/([\x21-\x7e]{0,510}/)?"),
    }
    checked = 0
    for kind, (field, pattern) in rules.items():
        for name in longest.of_type(kind):
            value = longest.properties(name).get(field)
            if value is None:
                continue  # CloudFormation generates the name within the limit
            checked += 1
            assert re.fullmatch(pattern, str(value)), f"{name}.{field} = {value!r} ({len(str(value))} characters)"
    assert checked > 40
    assert len(f"outbound-{LONGEST_STAGE}") <= 128
    for stage in STAGES:
        assert re.fullmatch(str(stack.template["Parameters"]["Stage"]["AllowedPattern"]), stage)


def test_public_function_url_has_both_permissions(stack: Stack) -> None:
    """A function URL with AuthType NONE answers 403 unless the function's policy grants lambda:InvokeFunctionUrl
    (FunctionUrlAuthType NONE) and, for URLs created since October 2025, lambda:InvokeFunction with
    InvokedViaFunctionUrl (Lambda Developer Guide, "Control access to function URLs")."""
    for url in stack.of_type("AWS::Lambda::Url"):
        props = stack.properties(url)
        if props["AuthType"] != "NONE":
            continue
        function = props["TargetFunctionArn"].removesuffix(".Arn>").lstrip("<")
        grants = [stack.properties(p) for p in stack.of_type("AWS::Lambda::Permission")]
        grants = [g for g in grants if g["FunctionName"] == f"<{function}>"]
        assert any(g["Action"] == "lambda:InvokeFunctionUrl" and g.get("FunctionUrlAuthType") == "NONE"
                   and g["Principal"] == "*" for g in grants), function
        assert any(g["Action"] == "lambda:InvokeFunction" and g.get("InvokedViaFunctionUrl") is True
                   for g in grants), function


def test_service_roles_trust_their_service_for_this_account_only(stack: Stack) -> None:
    """Scheduler assumes its execution role as scheduler.amazonaws.com; aws:SourceAccount stops another account's
    schedule from using it (EventBridge Scheduler User Guide, "Set up the execution role": confused deputy)."""
    for name in stack.of_type("AWS::IAM::Role"):
        trust = stack.properties(name)["AssumeRolePolicyDocument"]["Statement"]
        services = {st["Principal"].get("Service") for st in trust}
        assert services in ({"lambda.amazonaws.com"}, {"scheduler.amazonaws.com"}), (name, services)
        if services == {"scheduler.amazonaws.com"}:
            assert all(st["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012" for st in trust)


def test_inline_role_policies_fit_iams_quota(stack: Stack) -> None:
    """A role's inline policies together hold at most 10,240 characters, whitespace not counted (IAM User Guide,
    "IAM and AWS STS quotas")."""
    for name in stack.of_type("AWS::IAM::Role"):
        policies = stack.properties(name).get("Policies", [])
        size = len(re.sub(r"\s", "", json.dumps([p["PolicyDocument"] for p in policies])))
        assert size <= 10_240, f"{name}: {size} characters of inline policy"


def test_no_function_may_send_sms_everywhere(stack: Stack) -> None:
    """End User Messaging's SendTextMessage is authorised on the origination identity and the configuration
    set: the SMS sender gets it on the identities the stack parameter names, nobody gets it on `*`."""
    for name in stack.of_type("AWS::IAM::Role"):
        for policy in stack.properties(name).get("Policies", []):
            assert "sms-voice" not in json.dumps(policy), name
    assert stack.of_type("AWS::IAM::Policy") == []  # no identities given: no grant at all
    origin = "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-0123456789abcdef"
    allowed = Stack(stack.template, {"EndUserMessagingOriginationArns": origin,
                                     "EndUserMessagingConfigurationSet": "outbound"})
    (name,) = [n for n in allowed.of_type("AWS::IAM::Policy")
               if "sms-voice:SendTextMessage" in json.dumps(allowed.properties(n))]
    grant = allowed.properties(name)
    assert grant["Roles"] == ["<SendSmsRole>"]
    assert [st["Resource"] for st in grant["PolicyDocument"]["Statement"]] == [
        [origin], "arn:aws:sms-voice:us-east-1:123456789012:configuration-set/outbound"]
    # The consent list keeps End User Messaging's opt-out list in step: that one list, nothing else.
    (opt_out,) = [n for n in allowed.of_type("AWS::IAM::Policy")
                  if "sms-voice:PutOptedOutNumber" in json.dumps(allowed.properties(n))]
    (statement,) = allowed.properties(opt_out)["PolicyDocument"]["Statement"]
    assert statement["Resource"] == "arn:aws:sms-voice:us-east-1:123456789012:opt-out-list/Default"
    assert "sms-voice:SendTextMessage" not in json.dumps(statement)


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(stack: Stack) -> None:
    """CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed key alias/aws/sns: the key
    policy must let cloudwatch.amazonaws.com use it (CloudWatch User Guide, "Setting up an SNS topic for alarm
    notifications" / SNS Developer Guide, "Key management")."""
    topic = stack.properties("AlarmTopic")
    assert topic["KmsMasterKeyId"] == "<AlarmTopicKey>"
    statements = stack.properties("AlarmTopicKey")["KeyPolicy"]["Statement"]
    assert any(st["Principal"].get("Service") == "cloudwatch.amazonaws.com" and
               {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(st["Action"]) for st in statements)
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    own = Stack(stack.template, {"KmsKeyArn": key})
    assert own.properties("AlarmTopic")["KmsMasterKeyId"] == key and "AlarmTopicKey" not in own.of_type(
        "AWS::KMS::Key")
    assert own.properties("MessageStore")["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS",
                                                                   "KMSMasterKeyId": key}


def test_data_tables_are_protected(stack: Stack) -> None:
    """Deletion protection and point-in-time recovery on every table that holds data; at most 20 global
    secondary indexes each (DynamoDB Developer Guide, "Quotas")."""
    for name in stack.of_type("AWS::DynamoDB::Table"):
        props = stack.properties(name)
        assert props["DeletionProtectionEnabled"] is True, name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        assert len(props.get("GlobalSecondaryIndexes", [])) <= 20
        assert stack.resources[name].get("DeletionPolicy") == "Retain", name


def test_queue_limits(stack: Stack) -> None:
    """Visibility timeout 0-43,200 s, retention 60-1,209,600 s, maxReceiveCount 1-1,000; a dead-letter queue
    keeps a message at least as long as its source (a message's age counts from its first enqueue: SQS Developer
    Guide, "Using dead-letter queues")."""
    for name in stack.of_type("AWS::SQS::Queue"):
        props = stack.properties(name)
        assert 0 <= int(props.get("VisibilityTimeout", 30)) <= 43_200, name
        retention = int(props.get("MessageRetentionPeriod", 345_600))
        assert 60 <= retention <= 1_209_600, name
        redrive = props.get("RedrivePolicy")
        if redrive:
            assert 1 <= int(redrive["maxReceiveCount"]) <= 1000
            dlq = stack.properties(queue_name(redrive["deadLetterTargetArn"]))
            assert int(dlq.get("MessageRetentionPeriod", 345_600)) >= retention, name


def test_alarm_periods(stack: Stack) -> None:
    """Period 10, 30 or a multiple of 60 s; Period x EvaluationPeriods at most one day (CloudWatch API Reference,
    PutMetricAlarm); every alarm tells the topic."""
    for name in stack.of_type("AWS::CloudWatch::Alarm"):
        props = stack.properties(name)
        period = int(props["Period"])
        assert period in {10, 30} or period % 60 == 0, name
        assert period * int(props["EvaluationPeriods"]) <= 86_400, name
        assert props["AlarmActions"] == ["<AlarmTopic>"], name


def test_api_alarm_names_this_stages_api(stack: Stack) -> None:
    """API Gateway's metrics carry the API's name (ApiName) and stage: the API is named per stage, else two
    stages' APIs (both "outbound", both stage "api") would share one alarm's numbers."""
    body = stack.properties("RestAPI")["DefinitionBody"]
    alarm = {d["Name"]: d["Value"] for d in stack.properties("ApiServerErrorsAlarm")["Dimensions"]}
    assert alarm == {"ApiName": body["info"]["title"], "Stage": stack.properties("RestAPI")["StageName"]}
    assert body["info"]["title"] == f"outbound-{stack.values['Stage']}"


def test_template_quotas(template: dict[str, Any], tmp_path: Path) -> None:
    """At most 500 resources, 200 parameters and 200 outputs per template (CloudFormation User Guide, "Quotas")."""
    assert len(template["Resources"]) <= 500
    assert len(template.get("Parameters", {})) <= 200 and len(template.get("Outputs", {})) <= 200


def test_alarms_cover_throttles_stream_age_api_errors_and_refused_webhooks(stack: Stack) -> None:
    """Every way work stops or is turned away has an alarm: each function's Throttles, the records stream's
    IteratorAge (rules firing late), the API's 5xx, and callbacks refused for their signature."""
    alarms = [stack.properties(name) for name in stack.of_type("AWS::CloudWatch::Alarm")]

    def watched(namespace: str, metric: str) -> list[dict[str, Any]]:
        return [{d["Name"]: d["Value"] for d in a["Dimensions"]} for a in alarms
                if a["Namespace"] == namespace and a["MetricName"] == metric]

    throttled = {d["FunctionName"] for d in watched("AWS/Lambda", "Throttles")}
    assert throttled == {f"<{name}>" for name in stack.of_type(FUNCTION)}
    assert watched("AWS/Lambda", "IteratorAge") == [{"FunctionName": "<OnRecordChange>"}]
    assert len(watched("AWS/ApiGateway", "5XXError")) == 1
    assert watched("Outbound", "WebhookRefused") == [{"Channel": "webhook", "Stage": stack.values["Stage"]}]


def test_event_rules_may_deliver_to_their_queues(stack: Stack) -> None:
    """EventBridge delivers to an SQS target only when the queue's policy lets events.amazonaws.com send, best
    bound to the rule by aws:SourceArn (EventBridge User Guide, "Using resource-based policies": Amazon SQS
    permissions); without it the events are dropped as failed invocations, and no emulator checks it."""
    policies = [stack.properties(p) for p in stack.of_type("AWS::SQS::QueuePolicy")]
    rules = stack.of_type("AWS::Events::Rule")
    assert rules
    for rule in rules:
        for target in stack.properties(rule)["Targets"]:
            queue = target["Arn"].removesuffix(".Arn>").lstrip("<")
            if stack.resources[queue]["Type"] != "AWS::SQS::Queue":
                continue
            grants = [st for p in policies if f"<{queue}>" in p["Queues"] for st in p["PolicyDocument"]["Statement"]]
            assert any(st["Effect"] == "Allow" and st["Principal"] == {"Service": "events.amazonaws.com"}
                       and st["Action"] == "sqs:SendMessage" and st["Resource"] == f"<{queue}.Arn>"
                       and st["Condition"] == {"ArnEquals": {"aws:SourceArn": f"<{rule}.Arn>"}}
                       for st in grants), (rule, queue, grants)


def test_the_rule_takes_the_teams_sources_and_never_aws_own(template: dict[str, Any]) -> None:
    """Rules on the default bus see every AWS service event; a pattern on `source` keeps them (and their cost)
    out (EventBridge User Guide, "Content filtering": anything-but with prefix)."""
    default = Stack(template).properties("RecordEventsRule")
    assert default["EventBusName"] == "default"
    assert default["EventPattern"] == {"source": [{"anything-but": {"prefix": "aws."}}]}
    named = Stack(template, {"RecordEventSources": "com.acme.orders,com.acme.billing", "EventBusName": "acme"})
    assert named.properties("RecordEventsRule")["EventPattern"] == {"source": ["com.acme.orders", "com.acme.billing"]}
    assert named.properties("RecordEventsRule")["EventBusName"] == "acme"


def test_a_teams_table_stream_is_read_from_its_newest_record_with_that_table_only(template: dict[str, Any]) -> None:
    """Lambda reads a stream with the function's role (DescribeStream, GetRecords, GetShardIterator,
    ListStreams: DynamoDB Developer Guide, "IAM policy to allow an AWS Lambda function to access DynamoDB stream
    records") and checks it when the mapping is created, so the policy must exist first (DependsOn). LATEST:
    TRIM_HORIZON would send a day of the table's history on the first deploy."""
    assert "SourceTableEventSource" not in Stack(template).of_type("AWS::Lambda::EventSourceMapping")
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/shop/stream/2026-12-05T00:00:00.000"
    stack = Stack(template, {"SourceTableStreamArn": arn})
    mapping = stack.properties("SourceTableEventSource")
    assert mapping["EventSourceArn"] == arn and mapping["StartingPosition"] == "LATEST"
    assert mapping["FunctionName"] == "<OnRecordChange>" and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == "<StreamFailureQueue.Arn>"
    assert stack.resources["SourceTableEventSource"]["DependsOn"] == "SourceTableStreamPolicy"
    policy = stack.properties("SourceTableStreamPolicy")
    assert set(policy["Roles"]) == {"<OnRecordChangeRole>", "<OnStreamFailureRole>"}
    statement, = policy["PolicyDocument"]["Statement"]
    assert statement["Resource"] == "arn:aws:dynamodb:us-east-1:123456789012:table/shop/stream/*"
    assert {"dynamodb:GetRecords", "dynamodb:ListStreams"} <= set(statement["Action"])


def test_every_role_a_policy_names_exists_whatever_the_parameters(stack: Stack) -> None:
    """An AWS::IAM::Policy whose Roles name a role the template lacks fails the deploy only when its condition
    holds (the KMS key policy named `APIHandlerRole`, where Chalice's role is `ApiHandlerRole`): every policy is
    checked, conditional or not."""
    resources = stack.template["Resources"]
    for name, spec in resources.items():
        if spec.get("Type") != "AWS::IAM::Policy":
            continue
        for role in spec["Properties"]["Roles"]:
            assert role["Ref"] in resources and resources[role["Ref"]]["Type"] == "AWS::IAM::Role", (name, role)


@pytest.mark.parametrize("capacity", ["on-demand", "provisioned"])
def test_the_message_store_capacity_modes(template: dict[str, Any], capacity: str) -> None:
    """A PROVISIONED table needs ProvisionedThroughput on the table and on every GSI, a PAY_PER_REQUEST one must
    not have it (DynamoDB API Reference, CreateTable); an auto-scaled dimension's ResourceId is `table/<name>` or
    `table/<name>/index/<index>` of an index that exists (Application Auto Scaling API Reference,
    RegisterScalableTarget); warm throughput is for the on-demand table here (provisioned units set their own)."""
    stack = Stack(template, {"MessageStoreCapacity": capacity, "MessageStoreWarmWrites": "12000"})
    table = stack.properties("MessageStore")
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    targets = {(p["ScalableDimension"], p["ResourceId"]) for p in
               (stack.properties(n) for n in stack.of_type("AWS::ApplicationAutoScaling::ScalableTarget"))}
    policies = [stack.properties(n) for n in stack.of_type("AWS::ApplicationAutoScaling::ScalingPolicy")]
    if capacity == "on-demand":
        assert table["BillingMode"] == "PAY_PER_REQUEST" and int(table["WarmThroughput"]["WriteUnitsPerSecond"]) == 12000
        assert "ProvisionedThroughput" not in table
        assert not any("ProvisionedThroughput" in index for index in indexes.values())
        assert not targets and not policies
        assert "WarmThroughput" not in Stack(template).properties("MessageStore"), "no pre-warming by default"
        return
    assert table["BillingMode"] == "PROVISIONED" and "WarmThroughput" not in table
    for spec in [table, *indexes.values()]:
        units = spec["ProvisionedThroughput"]
        assert int(units["ReadCapacityUnits"]) >= 1 and int(units["WriteCapacityUnits"]) >= 1
    expected = {(f"dynamodb:{kind}:{unit}CapacityUnits", resource)
                for kind, resource in [("table", "table/<MessageStore>"),
                                       *[("index", f"table/<MessageStore>/index/{name}") for name in indexes]]
                for unit in ("Read", "Write")}
    assert targets == expected
    assert len(policies) == len(expected)
    assert all(p["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"]
               in {"DynamoDBReadCapacityUtilization", "DynamoDBWriteCapacityUtilization"} for p in policies)
