"""Runs the whole service on one machine, the way Lambda would run it in AWS.

moto's server (in-process, 127.0.0.1) stands in for AWS; the plain resources of infra/template.yaml are deployed
to it through CloudFormation; the Chalice app serves its REST API; and pollers feed the app's own event handlers
(discovered from `app.event_sources`) with Lambda-shaped events: DynamoDB stream batches with checkpointing on
`batchItemFailures`, SQS batches with partial-failure deletes, and the schedule tick.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
STAGE = "local"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account
SKIPPED_TYPES = ("AWS::Serverless::", "AWS::ApiGateway::", "AWS::Lambda::", "AWS::Scheduler::")



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def references(node: Any) -> set[str]:
    """Logical ids a template fragment points at (Ref, Fn::GetAtt, and ${Name} inside Fn::Sub)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else str(value).split(".")[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found.update(name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", str(text)))
                if isinstance(value, list):
                    found.update(references(value[1]))
            else:
                found.update(references(value))
    elif isinstance(node, list):
        for item in node:
            found.update(references(item))
    return found


def loopback_host(host: str | None) -> bool:
    """Whether a Host header names this machine's loopback (any port)."""
    name = (host or "").strip().lower()
    if name.startswith("["):
        return name.split("]")[0] + "]" == "[::1]"
    return name.rsplit(":", 1)[0] in {"127.0.0.1", "localhost"}


def lambda_stream_record(record: dict[str, Any], arn: str) -> dict[str, Any]:
    """A record as boto3's GetRecords decodes it, re-encoded as Lambda hands it to a function: JSON, binary
    values as base64 text, the creation time in epoch seconds (Lambda Developer Guide, "Using Lambda with
    DynamoDB", example event)."""
    def encode(value: Any) -> Any:
        if isinstance(value, bytes | bytearray):
            return base64.b64encode(bytes(value)).decode("ascii")
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [encode(v) for v in value]
        return value

    return dict(encode({**record, "eventSourceARN": arn}))


def conditions_named(node: Any) -> set[str]:
    """Condition names a template fragment uses (a resource's `Condition`, the first argument of `Fn::If`)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::If" and isinstance(value, list) and value:
                found.add(str(value[0]))
            if key == "Condition" and isinstance(value, str):
                found.add(value)
            found.update(conditions_named(value))
    elif isinstance(node, list):
        for item in node:
            found.update(conditions_named(item))
    return found


def plain_resources(template_path: Path = ROOT / "infra" / "template.yaml") -> dict[str, Any]:
    """The part of the merge template that stands alone: complete resources that moto can create, without
    those that point at Chalice's resources (the functions' alarms), and only the parameters they use."""
    template = yaml.safe_load(template_path.read_text())
    resources = {
        name: spec
        for name, spec in template["Resources"].items()
        if "Type" in spec and not spec["Type"].startswith(SKIPPED_TYPES)
    }
    while True:  # drop what refers to a resource that is not kept, until nothing more goes
        known = set(resources) | set(template.get("Parameters", {})) | {
            "AWS::Region", "AWS::AccountId", "AWS::URLSuffix", "AWS::Partition", "AWS::NoValue"}
        dropped = [name for name, spec in resources.items() if not references(spec) <= known]
        if not dropped:
            break
        for name in dropped:
            del resources[name]
    used = references(resources)
    named = conditions_named(resources)
    conditions = {name: spec for name, spec in template.get("Conditions", {}).items() if name in named}
    used |= references(conditions)
    parameters = {name: spec for name, spec in template.get("Parameters", {}).items() if name in used}
    # Globals (SAM only) and Outputs (they may reference Chalice's resources) are left out.
    plain: dict[str, Any] = {"AWSTemplateFormatVersion": template["AWSTemplateFormatVersion"],
                             "Parameters": parameters, "Resources": resources}
    if conditions:
        plain["Conditions"] = conditions
    return plain


@lru_cache(maxsize=1)
def chalice_config() -> dict[str, Any]:
    """.chalice/config.json, read once per process (the pollers ask it for a timeout on every batch)."""
    return dict(json.loads((ROOT / ".chalice" / "config.json").read_text()))


@lru_cache(maxsize=1)
def gateway_errors() -> dict[int, bytes]:
    """The bodies infra/template.yaml gives API Gateway's own 401 and 403 (UNAUTHORIZED, ACCESS_DENIED), for the
    local API to answer as the deployed one does."""
    template = yaml.safe_load((ROOT / "infra" / "template.yaml").read_text())
    found = {}
    for spec in template["Resources"].values():
        properties = spec.get("Properties", {})
        if spec.get("Type") == "AWS::ApiGateway::GatewayResponse" and properties.get("ResponseType") in {
            "UNAUTHORIZED", "ACCESS_DENIED"}:
            found[int(properties["StatusCode"])] = properties["ResponseTemplates"]["application/json"].encode()
    return found


def stage_environment() -> dict[str, str]:
    config = chalice_config()
    return {**config.get("environment_variables", {}), **config["stages"][STAGE]["environment_variables"]}


def scheduler_environment() -> dict[str, str]:
    """What infra/template.yaml gives the API function in AWS (GetAtt of the function, role and queue)."""
    return {
        "SCHEDULED_SEND_ARN": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:outbound-{STAGE}-scheduled_send",
        "SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/outbound-{STAGE}/scheduler",
        "SCHEDULE_DLQ_ARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:outbound-{STAGE}-schedule-dlq",
    }


def use_environment(aws_endpoint: str, api_url: str, twilio_url: str, extra: dict[str, str] | None = None) -> None:
    """Point this process (settings, boto3, provider URLs) at the local stage on `aws_endpoint`."""
    from chalicelib.platform import aws, settings
    from chalicelib.platform import secrets as secret_store
    from chalicelib.stores import queues

    os.environ.update(
        {
            **stage_environment(),
            "AWS_ENDPOINT_URL": aws_endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "PUBLIC_API_URL": api_url,
            "TWILIO_BASE_URL": twilio_url,
            **(extra or {}),
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    settings.reset_settings()
    aws.reset()
    queues.reset()
    secret_store.reset()


def subscribe_queues(template: dict[str, Any]) -> None:
    """The template's SNS-to-SQS subscriptions, which moto's CloudFormation does not create (it skips
    AWS::SNS::Subscription): subscribed here as the stack subscribes them, raw delivery included."""
    from chalicelib.platform import aws

    resources = template["Resources"]

    def name(logical: str, attribute: str) -> str:
        return str(resources[logical]["Properties"][attribute]["Fn::Sub"]).replace("${Stage}", STAGE)

    sns, sqs = aws.client("sns"), aws.client("sqs")
    for spec in resources.values():
        if spec["Type"] != "AWS::SNS::Subscription" or spec["Properties"]["Protocol"] != "sqs":
            continue
        properties = spec["Properties"]
        topic = name(properties["TopicArn"]["Ref"], "TopicName")
        queue = name(properties["Endpoint"]["Fn::GetAtt"][0], "QueueName")
        topic_arn = next(t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":" + topic))
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True,
                      Attributes={"RawMessageDelivery": str(properties.get("RawMessageDelivery", False)).lower()})


def deploy_infra(credentials: dict[str, dict[str, Any]], visibility_timeout: int) -> str:
    """Create infra's plain resources on moto (environment already pointing at it) and the stage's SSM
    parameters (`credentials`: environment variable naming the parameter -> its JSON value, plus a fresh
    session-token key); returns the records table's stream ARN."""
    from chalicelib.platform import aws

    cfn = aws.client("cloudformation")
    name = f"outbound-{STAGE}"
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(plain_resources()),
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": STAGE}],
    )
    for _ in range(100):
        status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        if status == "CREATE_COMPLETE":
            break
        if status.endswith("FAILED") or "ROLLBACK" in status:
            raise RuntimeError(f"infra stack {status}")
        time.sleep(0.1)
    subscribe_queues(plain_resources())
    sqs = aws.client("sqs")
    for url in sqs.list_queues(QueueNamePrefix=f"outbound-{STAGE}-").get("QueueUrls", []):
        # Local only: failed messages come back in seconds instead of the template's 18 minutes.
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": str(visibility_timeout)})
    ssm = aws.client("ssm")
    for variable, value in {**credentials, "SESSION_TOKEN_PARAM": {"key": secrets.token_urlsafe(32)}}.items():
        ssm.put_parameter(Name=os.environ[variable], Type="SecureString", Overwrite=True, Value=json.dumps(value))
    table = aws.client("dynamodb").describe_table(TableName=os.environ["RECORDS_TABLE"])["Table"]
    return str(table["LatestStreamArn"])


@dataclass
class Options:
    api_port: int = 8000
    moto_port: int = 5055
    twilio_port: int = 8010
    telesign_port: int = 8011
    x_port: int = 8012
    eum_port: int = 8013
    tick_seconds: float = 2.0
    sqs_wait_seconds: int = 1
    local_visibility_timeout: int = 20
    stream_max_retries: int = 10
    twilio_status_callbacks: bool = False
    # moto in a child process (local/moto_process.py): twice the CPU for a burst, but SQS delays on the wall clock
    moto_process: bool = False
    # concurrent invocations per SQS-driven function, as Lambda scales a sender out (AWS: up to the mapping's
    # MaximumConcurrency); one keeps the tests' ordering simple
    pollers_per_queue: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    # `make run`: where the data is kept across restarts (local/persistence.py); None keeps nothing (the tests)
    data_dir: Path | None = None


class ChildMoto:
    """moto's server in a child process (local/moto_process.py), started and stopped like ThreadedMotoServer."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ChildMoto:
        self.process = subprocess.Popen([sys.executable, "-m", "local.moto_process", str(self.port)], cwd=ROOT)  # noqa: S603 - our own module
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/moto-api/data.json", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:  # its server threads still draining: it holds nothing worth keeping
                self.process.kill()
                self.process.wait(10)


class HandlerFailed(Exception):
    """The handler raised: like Lambda, the whole batch becomes visible again after the timeout."""


def sqs_batch(sqs: Any, url: str, arn: str, handler: Any, batch_size: int, wait_seconds: int,
              function_name: str = "") -> int:
    """One receive -> handler -> delete cycle of Lambda's SQS event source mapping; returns messages received.
    Only the messages the handler did not list in `batchItemFailures` are deleted."""
    answer = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=batch_size,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
        WaitTimeSeconds=wait_seconds,
    )
    messages = answer.get("Messages", [])
    if not messages:
        return 0
    event = {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }
    try:
        result = handler(event, LambdaLikeContext(function_name))
    except Exception as exc:  # noqa: BLE001
        raise HandlerFailed(f"handler raised {type(exc).__name__}: {exc}") from exc
    failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
    done = [m for m in messages if m["MessageId"] not in failed]
    for start in range(0, len(done), 10):
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
            ],
        )
    return len(messages)


def function_timeout(function_name: str) -> int:
    """The function's Lambda timeout as .chalice/config.json sets it (the local pollers give handlers the
    same remaining time Lambda would)."""
    config = chalice_config()
    scoped = config.get("lambda_functions", {}).get(function_name, {})
    return int(scoped.get("lambda_timeout", config.get("lambda_timeout", 60)))


class LambdaLikeContext:
    def __init__(self, function_name: str, timeout_s: float | None = None) -> None:
        timeout_s = function_timeout(function_name) if timeout_s is None else timeout_s
        self.function_name = function_name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 512
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalRuntime:
    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options()
        self._stop = threading.Event()
        self._ticking = threading.Lock()  # one tick at a time; `settle` waits for the one under way
        self._threads: list[threading.Thread] = []
        self.moto: Any = None
        self.scheduler: Any = None
        self.api_server: Any = None
        self.twilio: Any = None
        self.telesign: Any = None
        self.x: Any = None
        self.eum: Any = None
        self.soap: Any = None  # the tests' SOAP listener, when they start one
        self.event_rules: list[tuple[dict[str, Any], Any, str]] = []  # EventBridge rules: pattern, handler, name
        self.app_module: Any = None
        self.api_key = secrets.token_urlsafe(24)  # for the management API when API_AUTH is on
        self.activity: dict[str, int] = {"stream_batches": 0, "sqs_batches": 0, "ticks": 0}
        self._paused: dict[str, threading.Event] = {}  # queue name -> set once its poller has stopped receiving
        self.errors: list[str] = []
        self.restored: dict[str, int] | None = None  # what the start put back from `data_dir`, if anything

    # --- start-up ---------------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.options.api_port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.options.moto_port}"

    def start(self) -> LocalRuntime:
        from moto.server import ThreadedMotoServer

        from local import atomic_dynamodb, clocked_sqs, lazy_sqs
        from local.moto_process import quiet_moto
        from local.providers import FakeEndUserMessaging, FakeTeleSign, FakeTwilio, FakeX

        opts = self.options
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        quiet_moto()
        if opts.moto_process:
            self.moto = ChildMoto(opts.moto_port).start()
        else:
            atomic_dynamodb.serialise()
            clocked_sqs.follow_clock()
            lazy_sqs.patch()
            self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=opts.moto_port, verbose=False)
            self.moto.start()
        self.twilio = FakeTwilio(
            "AC" + "0" * 31 + "1",
            "local-auth-token",
            port=opts.twilio_port,
            status_callbacks=opts.twilio_status_callbacks,
        ).start()
        self.telesign = FakeTeleSign("LOCAL-CUSTOMER-0001", "bG9jYWwtYXBpLWtleQ==", port=opts.telesign_port).start()
        # One X account: the configuration's channel "outbound_local" sends with this user access token.
        self.x = FakeX({"local-x-user-token": "outbound_local"}, port=opts.x_port).start()
        self.x.users.update({"ana_example": "1600000000000000001", "bo_example": "1600000000000000002"})
        self.eum = FakeEndUserMessaging(port=opts.eum_port, emit=self.put_event).start()
        extra = {"TELESIGN_BASE_URL": self.telesign.url, "X_BASE_URL": self.x.url, "EUM_BASE_URL": self.eum.url,
                 **scheduler_environment(),
                 **opts.extra_env}
        use_environment(self.aws_endpoint, self.api_url, self.twilio.url, extra)
        self._deploy_infra()
        self._restore()
        self._load_app()
        self._start_api()
        self._start_event_sources()
        self._start_scheduler()
        return self

    def _restore(self) -> None:
        """Scheduler's group (moto's CloudFormation skips AWS::Scheduler::*), then the data kept at the last stop."""
        from chalicelib.platform import aws
        from local import persistence

        aws.client("scheduler").create_schedule_group(Name=os.environ["SCHEDULE_GROUP"])
        if self.options.data_dir is not None:
            self.restored = persistence.restore(self.options.data_dir, aws)

    def snapshot(self) -> dict[str, int] | None:
        """Keep the stage's data in `data_dir` (call with the event sources stopped)."""
        from chalicelib.platform import aws
        from local import persistence

        if self.options.data_dir is None:
            return None
        return persistence.snapshot(self.options.data_dir, STAGE, aws)

    def _start_scheduler(self) -> None:
        """Scheduler's clock (moto never fires schedules)."""
        from chalicelib.platform import aws
        from local.scheduler import LocalScheduler

        group = os.environ["SCHEDULE_GROUP"]
        self.scheduler = LocalScheduler(lambda: aws.client("scheduler"), group, self._invoke_target)
        self._spawn("scheduler", self._schedule_clock)

    def _invoke_target(self, arn: str, event: dict[str, Any]) -> Any:
        """A Scheduler target: the app's function named by the ARN (outbound-local-<name>)."""
        name = arn.rsplit(":", 1)[-1].removeprefix(f"outbound-{STAGE}-")
        return getattr(self.app_module, name)(event, LambdaLikeContext(name))

    def _schedule_clock(self) -> None:
        while not self._stop.is_set():
            self.scheduler.tick()
            self._stop.wait(self.options.tick_seconds)

    def client(self, service: str) -> Any:
        from chalicelib.platform import aws

        return aws.client(service)

    def _deploy_infra(self) -> None:
        os.environ["RECORDS_STREAM_ARN"] = deploy_infra(self.credentials(), self.options.local_visibility_timeout)

    def credentials(self) -> dict[str, dict[str, Any]]:
        from chalicelib.platform import api_keys

        return {
            "API_KEYS_PARAM": {"keys": [api_keys.digest(self.api_key)]},
            "TWILIO_CREDENTIALS_PARAM": {"account_sid": self.twilio.account_sid, "auth_token": self.twilio.auth_token},
            "TELESIGN_CREDENTIALS_PARAM": {"customer_id": self.telesign.customer_id, "api_key": self.telesign.api_key},
            "X_CREDENTIALS_PARAM": {account: token for token, account in self.x.tokens.items()},
        }

    def _load_app(self) -> None:
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        self.app_module = importlib.import_module("app")

    def _start_api(self) -> None:
        from chalice.config import Config
        from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer

        class Handler(ChaliceRequestHandler):
            """Mirrors infra's GatewayResponse: API Gateway's 403 for an unknown route becomes a 404."""

            def _send_http_response(self, code: int, headers: Any, body: Any) -> None:
                raw = body.encode() if isinstance(body, str) else body
                # With an Authorization header, API Gateway words it "Authorization header requires 'Credential'
                # parameter..." (same gateway response type, so infra's 404 applies to both).
                if (
                    code == 403
                    and raw
                    and (b"Missing Authentication Token" in raw or b"Authorization header requires" in raw)
                ):
                    code = 404
                    body = json.dumps(
                        {"error": "not_found", "message": f"no route {self.command} {self.path}"}
                    ).encode()
                    headers = {**(headers or {}), "Content-Type": "application/json"}
                elif code in gateway_errors() and raw and raw.lstrip().startswith(b"{") and b'"error"' not in raw:
                    # infra's UNAUTHORIZED / ACCESS_DENIED gateway responses, as API Gateway would apply them
                    body = gateway_errors()[code]
                    headers = {**(headers or {}), "Content-Type": "application/json"}
                super()._send_http_response(code, headers, body)

            def _generic_handle(self) -> None:
                """Loopback host names only: a page elsewhere that makes a browser resolve its own name to
                127.0.0.1 (DNS rebinding) reaches this port with that name as Host, and is refused."""
                if not loopback_host(self.headers.get("Host")):
                    body = json.dumps({"error": "forbidden", "message": "the local API answers only to "
                                       "127.0.0.1, localhost or [::1] as its Host"}).encode()
                    super()._send_http_response(403, {"Content-Type": "application/json"}, body)
                    return
                super()._generic_handle()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                """One access line per request, as API Gateway's access log would have it (no query string:
                it can carry a phone number)."""
                from urllib.parse import unquote

                from chalicelib.platform.logs import log

                # Decoded, so the log's masking sees a phone number however the path spelled it (%2B...).
                log("api.access", method=self.command, path=unquote(self.path.split("?", 1)[0]),
                    status=int(code) if str(code).isdigit() else str(code))

        config = Config.create(
            chalice_stage=STAGE,
            app_name="outbound",
            lambda_timeout=60,
            lambda_memory_size=512,
            function_name="api_handler",
        )
        app = self.app_module.app
        if not isinstance(app, LocalChalice):
            # What chalice.local.create_local_server does before serving: a thread-local current_request.
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        self.api_server = LocalDevServer(app, config, "127.0.0.1", self.options.api_port, handler_cls=Handler)
        self._spawn("api", self.api_server.server.serve_forever)

    # --- event sources ----------------------------------------------------------------------------
    def _handler(self, handler_string: str) -> Any:
        return getattr(self.app_module, handler_string.split(".")[-1])

    def _start_event_sources(self) -> None:
        from chalice.app import CloudWatchEventConfig, DynamoDBEventConfig, ScheduledEventConfig, SQSEventConfig

        for source in self.app_module.app.event_sources:
            handler = self._handler(source.handler_string)
            if isinstance(source, SQSEventConfig):
                queue = source.queue or str(source.queue_arn).rsplit(":", 1)[-1]
                for index in range(self.options.pollers_per_queue):
                    self._spawn(f"sqs:{queue}:{index}", self._poll_queue, queue, handler, source.batch_size,
                                source.name)
            elif isinstance(source, DynamoDBEventConfig):
                self._spawn(
                    "stream:records", self._poll_stream, os.environ["RECORDS_STREAM_ARN"], handler, source.batch_size
                )
            elif isinstance(source, ScheduledEventConfig):
                self._spawn(f"schedule:{source.name}", self._tick, handler)
            elif isinstance(source, CloudWatchEventConfig):
                self.event_rules.append((source.event_pattern, handler, source.name))

    def watch_table_stream(self, stream_arn: str) -> None:
        """A team's table's stream drives the rules, as the stack's SourceTableStreamArn mapping does: the
        records-stream function, polled like Lambda polls it."""
        from chalice.app import DynamoDBEventConfig

        source = next(s for s in self.app_module.app.event_sources if isinstance(s, DynamoDBEventConfig))
        self._spawn(f"stream:{stream_arn.rsplit('/', 3)[-3]}", self._poll_stream, stream_arn,
                    self._handler(source.handler_string), source.batch_size)

    def put_event(self, event: dict[str, Any]) -> int:
        """An event on the account's default bus (e.g. from the loopback End User Messaging): each of the app's
        rules whose pattern matches it (exact values per top-level field, as the app's patterns are written)
        invokes its function, as EventBridge would; returns how many did."""
        matched = 0
        for pattern, handler, name in self.event_rules:
            if all(event.get(field) in values for field, values in pattern.items()):
                matched += 1
                try:
                    handler(event, LambdaLikeContext(name))
                except Exception as exc:  # noqa: BLE001 - EventBridge would retry; here the test sees it
                    self.errors.append(f"event:{name}: {type(exc).__name__}: {exc}")
        return matched

    def text_eum_number(self, origination: str, destination: str, body: str) -> str:
        """A person texts one of our End User Messaging numbers: the service publishes the documented two-way
        payload (local/aws_examples/two_way_sms.json) to the stack's topic, which delivers it raw to the
        inbound-SMS queue on moto, as SNS does; returns the inbound message id."""
        from local.providers import two_way_sms

        payload = two_way_sms(origination, destination, body)
        sns = self.client("sns")
        topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"]
                     if t["TopicArn"].endswith(f":outbound-{STAGE}-inbound-sms"))
        sns.publish(TopicArn=topic, Message=json.dumps(payload))
        return str(payload["inboundMessageId"])

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=self._guard, args=(name, target, *args), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _guard(self, name: str, target: Any, *args: Any) -> None:
        while not self._stop.is_set():
            try:
                target(*args)
                return
            except Exception as exc:  # noqa: BLE001 - a poller outlives a bad moment (e.g. moto restarting)
                if self._stop.is_set():
                    return
                self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                time.sleep(0.5)

    def _poll_queue(self, queue_name: str, handler: Any, batch_size: int, function_name: str = "") -> None:
        sqs = self.client("sqs")
        url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        while not self._stop.is_set():
            parked = self._paused.get(queue_name)
            if parked is not None:
                parked.set()
                self._stop.wait(0.1)
                continue
            try:
                if sqs_batch(sqs, url, arn, handler, batch_size, self.options.sqs_wait_seconds, function_name):
                    self.activity["sqs_batches"] += 1
            except HandlerFailed as exc:
                self.errors.append(f"sqs:{queue_name}: {exc}")

    def pause(self, queue_name: str, timeout: float = 30.0) -> None:
        """Stop this process's poller on a queue (after its current batch), so another consumer gets the
        messages: the fault tests use it to hand a batch to a sender process they then kill."""
        parked = self._paused.setdefault(queue_name, threading.Event())
        if not parked.wait(timeout):
            raise TimeoutError(f"the poller of {queue_name} did not stop within {timeout}s")

    def resume(self, queue_name: str) -> None:
        self._paused.pop(queue_name, None)

    def restart_moto(self, down_seconds: float) -> None:
        """AWS stops answering for `down_seconds`: moto's server is shut down and a new one started on the same
        port. Its backends live in this process, so the data survives, as it would an AWS outage; every call
        made meanwhile fails with a refused connection."""
        from moto.server import ThreadedMotoServer

        self.moto.stop()
        time.sleep(down_seconds)
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.options.moto_port, verbose=False)
        self.moto.start()

    def _poll_stream(self, stream_arn: str, handler: Any, batch_size: int) -> None:
        """Lambda's stream poller: per shard, read in order and checkpoint after each handled batch. An AWS
        error (moto restarting) is waited out and reading resumes after the checkpoint, never from the start."""
        streams = self.client("dynamodbstreams")
        shard_ids = [s["ShardId"] for s in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]]
        checkpoints: dict[str, str | None] = dict.fromkeys(shard_ids)
        pending: dict[str, list[dict[str, Any]]] = {sid: [] for sid in shard_ids}
        iterators: dict[str, str | None] = {}

        def iterator(sid: str) -> str:
            at = checkpoints[sid]
            # Records put back from a snapshot were handled before the last stop: start after them.
            first = "LATEST" if self.restored and self.restored["items"] else "TRIM_HORIZON"
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": at} if at else {
                "ShardIteratorType": first}
            return str(streams.get_shard_iterator(StreamArn=stream_arn, ShardId=sid, **position)["ShardIterator"])

        while not self._stop.is_set():
            try:
                for sid in shard_ids:
                    if sid not in iterators:
                        iterators[sid] = iterator(sid)
                busy = False
                for sid in shard_ids:
                    if len(pending[sid]) < batch_size and iterators[sid]:
                        answer = streams.get_records(ShardIterator=iterators[sid], Limit=batch_size - len(pending[sid]))
                        iterators[sid] = answer.get("NextShardIterator")
                        pending[sid].extend(answer.get("Records", []))
                    if pending[sid]:
                        busy = True
                        batch = pending[sid][:batch_size]
                        self._deliver_stream_batch(stream_arn, handler, batch, sid)
                        checkpoints[sid] = batch[-1]["dynamodb"]["SequenceNumber"]
                        pending[sid] = pending[sid][batch_size:]
            except Exception as exc:  # noqa: BLE001 - AWS unreachable: wait, then read again from the checkpoint
                self.errors.append(f"stream: {type(exc).__name__}: {exc}")
                # What was read but not handled is dropped here and read again, in order.
                iterators = {}
                pending = {sid: [] for sid in shard_ids}
                self._stop.wait(0.5)
                continue
            if not busy:
                self._stop.wait(0.2)

    def _deliver_stream_batch(self, arn: str, handler: Any, records: list[dict[str, Any]], shard_id: str = "") -> None:
        """Lambda's checkpointing: on failure, retry from the lowest failed sequence number; after the
        retry limit, send the batch's description to the on-failure queue and move on."""
        batch = records
        for attempt in range(self.options.stream_max_retries + 1):
            event = {"Records": [lambda_stream_record(r, arn) for r in batch]}
            try:
                result = handler(event, LambdaLikeContext("on_record_change"))
                failures = [f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])]
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"stream: handler raised {type(exc).__name__}: {exc}")
                failures = [batch[0]["dynamodb"]["SequenceNumber"]]
            self.activity["stream_batches"] += 1
            if not failures:
                return
            first = min(failures, key=int)
            batch = [r for r in batch if int(r["dynamodb"]["SequenceNumber"]) >= int(first)]
            if self._stop.wait(min(0.2 * 2**attempt, 5.0)):
                return
        sqs = self.client("sqs")
        url = sqs.get_queue_url(QueueName=f"outbound-{STAGE}-stream-failures")["QueueUrl"]
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(
                {
                    "DDBStreamBatchInfo": {
                        "shardId": shard_id,
                        "streamArn": arn,
                        "batchSize": len(batch),
                        "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                        "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                    }
                }
            ),
        )

    def _tick(self, handler: Any) -> None:
        while not self._stop.is_set():
            self.tick(handler)
            self._stop.wait(self.options.tick_seconds)

    def tick(self, handler: Any = None) -> Any:
        """One schedule event, as EventBridge sends it (also called by tests to fire schedules now)."""
        handler = handler or self.app_module.on_minute
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": now,
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:123456789012:rule/outbound-local-on_minute"],
            "detail": {},
        }
        with self._ticking:
            self.activity["ticks"] += 1
            return handler(event, LambdaLikeContext("on_minute"))

    def settle(self) -> None:
        """Wait for a tick under way to end: one that read a shifted clock must not judge records made after the
        clock was set back (it would take a message created a moment ago for one lost a day ago)."""
        with self._ticking:
            pass

    # --- shutdown -------------------------------------------------------------------------------
    def stop(self, keep: bool = False) -> dict[str, int] | None:
        """Stop everything; with `keep`, first write the data to `data_dir` (once nothing else changes it)."""
        self._stop.set()
        if self.api_server is not None:
            self.api_server.server.shutdown()
            self.api_server.server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        kept = self.snapshot() if keep else None
        for provider in (self.twilio, self.telesign, self.x, self.eum):
            if provider is not None:
                provider.stop()
        if self.moto is not None:
            self.moto.stop()
        return kept
