"""`make rehearse`: deploy the packaged stack to ministack (IAM enforced) with the README's own commands, then
drive the README walkthrough through the emulated API Gateway. One summary line per step; exit 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
import traceback
import urllib.request
from pathlib import Path
from typing import Any

from local.providers import (
    FakeEndUserMessaging,
    FakeSoapListener,
    FakeTeleSign,
    FakeTwilio,
    FakeWebhookListener,
    FakeX,
)
from local.runtime import free_port
from rehearse import deploy, tools
from rehearse.gateway import Api, Gateway
from rehearse.walkthrough import STEPS, World

ROOT = Path(__file__).resolve().parent.parent
STAGE = "dev"
REGION = "us-east-1"
# Under AUTH=true ministack's root credentials are test/test (its README): the deployer acts as root.
ROOT_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def line(status: str, step: str, detail: str, seconds: float) -> None:
    print(f"rehearsal: [{status:4}] {step:<42} {seconds:6.1f} s  {detail}", flush=True)


class Emulator:
    """ministack in its own process and venv, IAM enforced, bound to loopback."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Emulator:
        python = tools.ministack_bin() / "python"
        env = {
            **os.environ,
            "AUTH": "true",
            "GATEWAY_PORT": str(self.port),
            "BIND_HOST": "127.0.0.1",
            "MINISTACK_REGION": REGION,
            "LOG_LEVEL": "INFO",
            "SERVICES": "",
            **ROOT_CREDENTIALS,
        }
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "VIRTUAL_ENV", "PYTHONPATH"):
            env.pop(name, None)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own venv's python and script
            [str(python), str(ROOT / "rehearse" / "ministack_boot.py")], env=env, stdout=log, stderr=subprocess.STDOUT,
            cwd=str(self.log_path.parent), start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ministack exited at start; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/_ministack/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"ministack did not answer within 60 s; see {self.log_path}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def aws_client(endpoint: str, credentials: dict[str, str] = ROOT_CREDENTIALS) -> Any:
    import boto3

    session = boto3.session.Session(region_name=REGION, **{
        "aws_access_key_id": credentials["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": credentials["AWS_SECRET_ACCESS_KEY"]})
    return lambda service: session.client(service, endpoint_url=endpoint)


def refused_to_the_deployer(aws: Any) -> str:
    """What the deployer policy does not grant is refused (the emulator enforces it, so the deploy above
    proved the policy): another application's queue, and the stage's API key parameter outside /outbound/."""
    from botocore.exceptions import ClientError

    refused = []
    for what, call in (("sqs:CreateQueue on another name", lambda: aws("sqs").create_queue(QueueName="billing-jobs")),
                       ("ssm:PutParameter outside /outbound/", lambda: aws("ssm").put_parameter(
                           Name="/billing/key", Value="x", Type="SecureString"))):
        try:
            call()
        except ClientError as error:
            if error.response["Error"]["Code"] in {"AccessDenied", "AccessDeniedException"}:
                refused.append(what)
                continue
            raise
    if len(refused) != 2:
        raise RuntimeError(f"the emulator let the deployer do more than its policy grants (refused only {refused})")
    return ", ".join(refused) + " refused"


def deployer_credentials(aws: Any) -> dict[str, str]:
    """An IAM user holding only the README's deployer policy (infra/deployer-policy.json), created as root;
    the README's Deploying block runs with its keys, as a cloud team's pipeline would."""
    import json

    iam = aws("iam")
    user = "outbound-deployer"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="outbound-deployer",
                        PolicyDocument=json.dumps(json.loads((ROOT / "infra" / "deployer-policy.json").read_text())))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def put_event(events: Any, event: dict[str, Any]) -> None:
    """What End User Messaging does with a delivery event: PutEvents on the account's default bus."""
    import json

    answer = events.put_events(Entries=[{"Source": event["source"], "DetailType": event["detail-type"],
                                         "Detail": json.dumps(event["detail"])}])
    if answer.get("FailedEntryCount"):
        print(f"rehearsal: the bus refused End User Messaging's event: {answer['Entries']}", file=sys.stderr)


SOURCE_TABLE = "acme-shipments"


def source_table(aws: Any) -> str:
    """A table of the team's own, with a stream, made before the deploy (as it would exist in the account):
    its stream ARN is the stack's SourceTableStreamArn."""
    created = aws("dynamodb").create_table(
        TableName=SOURCE_TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "shipmentId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "shipmentId", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    return str(created["TableDescription"]["LatestStreamArn"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="leave the emulator running at the end (Ctrl-C stops)")
    args = parser.parse_args()
    work = ROOT / ".rehearsal" / "run"
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tools.aws_cli_bin()
    emulator = Emulator(work / "ministack.log")
    twilio = FakeTwilio("AC" + secrets.token_hex(16), secrets.token_hex(16), status_callbacks=True).start()
    telesign = FakeTeleSign("REHEARSAL-CUSTOMER", secrets.token_urlsafe(16)).start()
    x_token, x_account = secrets.token_urlsafe(24), "outbound_rehearsal"
    x = FakeX({x_token: x_account}).start()
    x.users.update({"ana_example": "1600000000000000001", "bo_example": "1600000000000000002"})
    soap = FakeSoapListener().start()
    webhooks = FakeWebhookListener().start()
    bus: list[Any] = []  # the emulator's EventBridge client, once it runs: End User Messaging's events go there
    eum = FakeEndUserMessaging(emit=lambda event: put_event(bus[0], event)).start()
    failed = 0
    try:
        step_start = time.monotonic()
        emulator.start()
        bus.append(aws_client(emulator.url)("events"))
        gateway = Gateway(emulator.url)
        twilio.route = gateway.route
        api_key = secrets.token_hex(24)
        environment = {
            **ROOT_CREDENTIALS,
            "AWS_ENDPOINT_URL": emulator.url,
            "AWS_DEFAULT_REGION": REGION,
            "PATH": f"{tools.aws_cli_bin()}{os.pathsep}{os.environ['PATH']}",
            "STAGE": STAGE,
            "BUCKET": "outbound-rehearsal-artifacts",
            "OUTBOUND_API_KEY": api_key,
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TELESIGN_CUSTOMER_ID": telesign.customer_id,
            "TELESIGN_API_KEY": telesign.api_key,
            "X_ACCOUNT": x_account,
            "X_USER_TOKEN": x_token,
            # The emulator's world: providers on loopback, the SOAP listener on plain HTTP at 127.0.0.1.
            "OUTBOUND_PARAMETERS": " ".join([
                f"TwilioBaseUrl={twilio.url}", f"TelesignBaseUrl={telesign.url}", f"XBaseUrl={x.url}",
                f"EndUserMessagingUrl={eum.url}",
                "AllowInsecureEndpoints=true"]),
        }
        environment.pop("AWS_PROFILE", None)
        environment["OUTBOUND_PARAMETERS"] += f" SourceTableStreamArn={source_table(aws_client(emulator.url))}"
        deployer = deployer_credentials(aws_client(emulator.url))
        outputs = deploy.run({**environment, **deployer}, work / "deploy.log")
        refusals = refused_to_the_deployer(aws_client(emulator.url, deployer))
        line("ok", "deploy (README block, as the deployer policy)", f"API {outputs.get('API')}; {refusals}",
             time.monotonic() - step_start)
        world = World(api=Api(gateway, outputs["API"], api_key), twilio=twilio, telesign=telesign, x=x, soap=soap,
                      aws=aws_client(emulator.url), stage=STAGE, eum=eum, webhooks=webhooks,
                      notes={"x_account": x_account, "environment": environment, "work": work,
                             "source_table": SOURCE_TABLE})
        for name, step in STEPS:
            step_start = time.monotonic()
            try:
                detail = step(world)
                line("ok", name, detail, time.monotonic() - step_start)
            except Exception as exc:  # noqa: BLE001 - every step is reported, the run fails at the end
                failed += 1
                line("FAIL", name, f"{type(exc).__name__}: {exc}", time.monotonic() - step_start)
                traceback.print_exc(file=sys.stderr)
        if args.keep:
            print(f"rehearsal: emulator at {emulator.url}, API {outputs['API']}, key {api_key}; Ctrl-C stops")
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except Exception as exc:  # noqa: BLE001
        failed += 1
        line("FAIL", "deploy (README block, as written)", f"{type(exc).__name__}: {exc}", time.monotonic() - started)
    finally:
        emulator.stop()
        for server in (twilio, telesign, x, soap, eum, webhooks):
            server.stop()
    total = time.monotonic() - started
    verdict = "passed" if not failed else f"FAILED ({failed} step(s))"
    print(f"rehearsal: {verdict} in {total:.0f} s; emulator log {work / 'ministack.log'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
