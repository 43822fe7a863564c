"""Pure rules behind the deployed stack: where the public URL comes from, who may deploy how, the EMF shape,
and every stage's timeouts fitting each other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.api.public_url import from_request, resolve
from chalicelib.core.deploy_guard import refusal
from chalicelib.platform import metrics

ROOT = Path(__file__).resolve().parents[2]

# The relevant part of an API Gateway REST proxy event (AWS Lambda developer guide, "API Gateway" example).
GATEWAY_HEADERS = {"host": "abcd1234.execute-api.eu-west-1.amazonaws.com", "x-forwarded-proto": "https"}
GATEWAY_CONTEXT = {"domainName": "abcd1234.execute-api.eu-west-1.amazonaws.com", "path": "/api/webhooks/twilio/status",
                   "stage": "api"}


def test_the_public_url_is_where_the_request_arrived() -> None:
    assert from_request(GATEWAY_HEADERS, GATEWAY_CONTEXT, "/webhooks/twilio/status") == (
        "https://abcd1234.execute-api.eu-west-1.amazonaws.com/api")
    custom = {"domainName": "outbound.example.com", "path": "/v1/sends"}
    assert from_request({"host": "outbound.example.com"}, custom, "/sends") == "https://outbound.example.com/v1"
    root = {"domainName": "outbound.example.com", "path": "/sends"}
    assert from_request({}, root, "/sends") == "https://outbound.example.com"
    assert from_request({}, {}, "/sends") is None  # chalice local says nothing: the setting is used


def test_a_configured_public_url_wins() -> None:
    assert resolve("https://outbound.example.com/", GATEWAY_HEADERS, GATEWAY_CONTEXT, "/webhooks/twilio/status") == (
        "https://outbound.example.com")
    assert resolve("", {}, {}, "/sends") == ""


@pytest.mark.parametrize(("argv", "refused"), [
    (["/x/.venv/bin/chalice", "deploy", "--stage", "dev"], True),
    (["chalice", "--project-dir", "deploy", "package", "out/"], False),
    (["chalice", "--debug", "deploy"], True),
    (["/usr/lib/python3/site-packages/chalice/__main__.py", "deploy"], True),
    (["chalice", "package", "--stage", "dev", "build/"], False),
    (["chalice", "local"], False),
    (["python", "-m", "local", "deploy"], False),
    (["pytest"], False),
])
def test_only_chalice_deploy_is_refused(argv: list[str], refused: bool) -> None:
    assert (refusal(argv) is not None) is refused


def test_an_emf_line_declares_its_metrics_and_dimensions() -> None:
    line = metrics.document({"Delivered": 1, "DeliveryLatency": 812.5}, {"Stage": "dev", "Channel": "sms"},
                            1764000000000, message_id="msg_1")
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert line["_aws"]["Timestamp"] == 1764000000000
    assert directive["Namespace"] == "Outbound" and directive["Dimensions"] == [["Channel", "Stage"]]
    assert directive["Metrics"] == [{"Name": "Delivered", "Unit": "Count"},
                                    {"Name": "DeliveryLatency", "Unit": "Milliseconds"}]
    # Every declared dimension and metric is a top-level member of the same document (the EMF specification).
    assert line["Stage"] == "dev" and line["Channel"] == "sms" and line["Delivered"] == 1
    assert line["message_id"] == "msg_1"


def _config() -> dict[str, Any]:
    return json.loads((ROOT / ".chalice" / "config.json").read_text())


@pytest.mark.parametrize("stage", ["dev", "prod", "local"])
def test_function_timeouts_cover_an_attempt_and_an_outage_settle(stage: str) -> None:
    """A sender must finish one whole attempt (HTTP calls, each bounded as a whole) plus the settle retry of an
    AWS outage before Lambda stops it; the queue must hide a message for longer than the function can run."""
    from chalicelib.platform.settings import Settings
    from chalicelib.senders.pipeline import CALLS_PER_ATTEMPT, SETTLE_MARGIN_SECONDS

    config = _config()
    env = {**config["environment_variables"], **config["stages"][stage]["environment_variables"]}
    defaults = Settings()
    http = float(env.get("HTTP_TIMEOUT_SECONDS", defaults.http_timeout_seconds))
    settle = float(env.get("SETTLE_RETRY_SECONDS", defaults.settle_retry_seconds))
    template = yaml.safe_load((ROOT / "infra" / "template.yaml").read_text())
    for channel in ("soap", "sms", "whatsapp", "twitter"):
        timeout = config["lambda_functions"][f"send_{channel}"]["lambda_timeout"]
        needed = http * CALLS_PER_ATTEMPT.get(channel, 1) + SETTLE_MARGIN_SECONDS + settle
        assert timeout >= needed, f"send_{channel}: {timeout} s < {needed} s"
        queue = template["Resources"][f"{channel.capitalize()}Queue"]["Properties"]
        # AWS: the visibility timeout should be at least six times the function timeout for SQS event sources.
        assert queue["VisibilityTimeout"] >= 6 * timeout


def test_the_reference_listener_is_off_outside_local() -> None:
    """It stores what it is sent: only the local walkthrough enables it (and it requires our identity token)."""
    stages = _config()["stages"]
    assert stages["local"]["environment_variables"]["ENABLE_REFERENCE_LISTENER"] == "true"
    for stage in set(stages) - {"local"}:
        assert stages[stage]["environment_variables"].get("ENABLE_REFERENCE_LISTENER", "false") == "false"
